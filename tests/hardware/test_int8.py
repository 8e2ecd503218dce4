"""QDQ export of quantized networks, ONNX Runtime accuracy, INT8 latency."""

from __future__ import annotations

import collections

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch
from estimate.test_qat import roughness

from nasforge.estimate.qat import fit_maybe_quantized
from nasforge.estimate.recipe import Recipe
from nasforge.hardware.int8 import KEEP_FLOAT, export_qdq, int8_onnx, onnx_predict, onnx_scope
from nasforge.hardware.latency import LatencySettings, measure_latency
from nasforge.run.quant_export import ACCURACY_TOLERANCE_POINTS, export_quantized
from nasforge.space import get_space
from nasforge.space.quant import QuantSpace

#: 4-bit activations and weights in the middle group, 8-bit around it
KEY = "conv1d+quant:c8k3s1-c8k3s2|res|batch|relu@w8a8k0.75/w4a4k0.5/w8a8k1.0"


@pytest.fixture(scope="module")
def trained():
    task = roughness(1200, seed=1)
    space = QuantSpace("conv1d")
    torch.manual_seed(0)
    model = space.build(space.parse(KEY), task)
    fit_maybe_quantized(model, torch.from_numpy(task.x_train), torch.from_numpy(task.y_train),
                        Recipe(epochs=4, batch_size=64), qat_epochs=1)
    return task, model.eval()


def test_export_round_trip_accuracy_within_tolerance(trained, tmp_path):
    task, model = trained
    report = export_quantized(model, task.input_shape, tmp_path / "model.onnx", task.x_test, task.y_test)
    assert len(task.y_test) >= 200 and report["pytorch_test_accuracy"] > 0.8
    assert abs(report["onnx_minus_pytorch_points"]) <= ACCURACY_TOLERANCE_POINTS == 0.5
    assert report["onnx_agreement"] >= 0.99
    graph = onnx.load(str(tmp_path / "model.onnx")).graph
    ops = [n.op_type for n in graph.node]
    # one pair per distinct layer input (a block's conv and its shortcut share theirs)
    assert ops.count("QuantizeLinear") >= 3 and ops.count("DequantizeLinear") >= 3
    # the file is what was scored: run it again from disk
    again = onnx_predict((tmp_path / "model.onnx").read_bytes(), task.x_test)
    assert float((again.argmax(1) == task.y_test).mean()) == report["onnx_test_accuracy"]
    assert report["model_bytes"] > 0 and [r["weight_bits"] for r in report["policy"]][-1] == 8


def test_onnx_runtime_keeps_the_4_bit_grid(trained):
    task, model = trained
    x = task.x_test[:64]
    with torch.no_grad():
        want = model(torch.from_numpy(x)).numpy()
    got = onnx_predict(export_qdq(model, task.input_shape), x)
    assert np.abs(got - want).max() < 0.05 * np.abs(want).max()  # rounding boundaries only, no 8-bit widening


def test_export_needs_calibrated_ranges():
    space = QuantSpace("conv1d")
    model = space.build(space.parse(KEY), roughness(20))
    with pytest.raises(ValueError, match="calibrate"):
        export_qdq(model, (1, 24))
    with pytest.raises(ValueError, match="QuantizedNetwork"):
        export_qdq(torch.nn.Linear(3, 2), (3,))


def deployed_ops(onnx_bytes: bytes, tmp_path) -> collections.Counter:
    """Op types of the graph ONNX Runtime runs (after its optimizers, as the latency backend sets them)."""
    opts = ort.SessionOptions()
    opts.log_severity_level = 3
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED
    opts.optimized_model_filepath = str(tmp_path / "optimized.onnx")
    ort.InferenceSession(onnx_bytes, opts, providers=["CPUExecutionProvider"], disabled_optimizers=list(KEEP_FLOAT))
    return collections.Counter(n.op_type for n in onnx.load(str(tmp_path / "optimized.onnx")).graph.node)


def test_int8_deployment_keeps_32_bit_layers_float(tmp_path):
    space = QuantSpace("conv1d")
    # group 0 (first conv and its shortcut): 32-bit weights; group 1: 4-bit; the classifier: 32-bit activations
    mixed = space.build(space.parse(KEY.replace("w8a8k0.75/", "w32a8k0.75/").replace("/w8a8k1.0", "/w8a32k1.0")),
                        roughness(20))
    ops = deployed_ops(int8_onnx(mixed, (1, 24)), tmp_path)
    assert (ops["Conv"], ops["QLinearConv"], ops["Gemm"], ops["QGemm"]) == (2, 2, 1, 0)
    int8 = space.build(space.parse(KEY), roughness(20))
    ops = deployed_ops(int8_onnx(int8, (1, 24)), tmp_path)
    assert (ops["Conv"], ops["QLinearConv"], ops["QGemm"]) == (0, 4, 1)
    assert onnx_scope("net.features.0.conv") == "/net/features/features.0/conv"


def test_int8_latency_of_quantized_and_float_networks():
    quick = LatencySettings(backend="onnx_int8", warmup=1, repeats=3)
    space = QuantSpace("conv1d")
    task = roughness(20)
    q = space.build(space.parse(KEY), task)
    assert measure_latency(q, (1, 24), quick).median_ms > 0
    assert measure_latency(q, (1, 24), LatencySettings(backend="onnx", warmup=1, repeats=3)).median_ms > 0
    plain = get_space("conv1d")
    f = plain.build(plain.parse(KEY.split("@")[0].replace("+quant", "")), task)
    ops = {n.op_type for n in onnx.load_from_string(int8_onnx(f, (1, 24))).graph.node}
    assert {"QuantizeLinear", "DequantizeLinear"} <= ops  # ONNX Runtime's own static INT8 quantizer
    assert measure_latency(f, (1, 24), quick).median_ms > 0


def test_int8_deployment_finds_float_layers_inside_module_dicts(tmp_path):
    """NB201 cells keep their edges in a ``ModuleDict``, which the exporter's scopes skip."""
    from nasforge.hardware.metrics import TaskShape

    space = QuantSpace("nb201", base_settings={"channels": 4, "cells": 1})
    key = ("nb201+quant:|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_1x1~1|+|skip_connect~0|nor_conv_3x3~1|none~2|"
           "@w32a8k1.0/w8a8k1.0/w8a8k1.0")
    model = space.build(space.parse(key), TaskShape((3, 8, 8), 10))
    ops = deployed_ops(int8_onnx(model, (3, 8, 8)), tmp_path)
    assert ops["Conv"] >= 1 and ops["QLinearConv"] >= 1
    names = {id(m): n for n, m in model.named_modules()}
    edge = next(n for n in names.values() if ".edges." in n and n.endswith(".1"))
    assert "/edges/" not in onnx_scope(edge, model) and "/edges/" in onnx_scope(edge)
