"""Integer (QDQ) ONNX models that ONNX Runtime runs: the exported quantized network, and the
INT8 deployment whose latency is measured.

- :func:`export_qdq` writes a network of ``nasforge.space.quant``
  (:class:`~nasforge.space.quantnet.QuantizedNetwork`) with its own fake quantization as
  QuantizeLinear/DequantizeLinear pairs: per-channel weights and per-tensor activations at its
  calibrated ranges, 32-bit layers in float, a ``b < 8``-bit grid held exactly in the 8-bit
  container (a clamp before each activation pair keeps the ``b``-bit range). ONNX Runtime
  computes exactly what the fake-quantized PyTorch network computes (up to rounding), but this
  graph quantizes only the inputs of conv and linear layers, so ONNX Runtime runs most of it
  as float kernels on dequantized values: it is the model whose *accuracy* is reported.
- :func:`int8_onnx` is what ONNX Runtime deploys and the latency backend ``onnx_int8`` times
  (:mod:`nasforge.hardware.latency`): the float network (pruning masks folded into the weights,
  :meth:`~nasforge.space.quantnet.QuantizedNetwork.fold_masks`) quantized by ONNX
  Runtime's static quantizer (``onnxruntime.quantization.quantize_static``: QDQ format,
  per-channel int8 weights, uint8 activations, MinMax calibration), so its CPU provider fuses
  integer kernels (``QLinearConv``, ``QGemm``, ``QLinearAdd``...). In a quantized network the
  conv and linear layers with a 32-bit weight or activation decision stay float (excluded from
  quantization, and run with ONNX Runtime's optimizer :data:`KEEP_FLOAT` disabled); every
  other layer runs INT8, a 4-bit one too (the CPU provider has no kernels
  below 8 bits). Any other network is quantized uniformly to INT8.
"""

from __future__ import annotations

import contextlib
import copy
import io
import logging
import os
import tempfile
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from torch import nn

OPSET = 17
#: ONNX Runtime graph optimizers to disable when running :func:`int8_onnx`'s models: this one
#: quantizes the float weights of a layer between quantized activations, which would run the
#: layers kept in float with integer kernels after all
KEEP_FLOAT = ("WeightBiasQuantization",)
#: ONNX ops of conv and linear layers
COMPUTE_OPS = ("Conv", "Gemm", "MatMul")
CALIBRATION_SAMPLES = 32


def export_qdq(model: nn.Module, input_shape: tuple[int, ...]) -> bytes:
    """``model`` (holding a calibrated :class:`QuantizedNetwork`) as QDQ ONNX bytes with a dynamic
    batch axis (input ``input``, output ``logits``); eval mode, fake quantization and masks on."""
    import torch

    from nasforge.space.quantnet import find_quantized

    qnet = find_quantized(model)
    if qnet is None:
        raise ValueError(f"{type(model).__name__} holds no QuantizedNetwork (build it from a 'quant' space)")
    missing = [i for i, q in enumerate(qnet.quant_layers()) if q.act_bits < 32 and not bool(q.act.observed)]
    if missing:
        raise ValueError(f"activation ranges of layer(s) {missing} were never observed: calibrate the network "
                         "(QuantizedNetwork.calibrate) or train it first")
    was_training, modes = model.training, qnet.modes()
    qnet.set_mode(quantize=True, prune=True)
    model.eval()
    for layer in qnet.quant_layers():
        layer.freeze()
    buffer = io.BytesIO()
    try:
        with _quiet():
            torch.onnx.export(model, (torch.zeros((1, *input_shape)),), buffer, input_names=["input"],
                              output_names=["logits"], dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}},
                              opset_version=OPSET, dynamo=False)
    finally:
        for layer in qnet.quant_layers():
            layer.freeze(False)
        qnet.set_mode(*modes)
        model.train(was_training)
    return buffer.getvalue()


def int8_onnx(model: nn.Module, input_shape: tuple[int, ...], calibration: np.ndarray | None = None) -> bytes:
    """INT8 QDQ ONNX bytes of ``model`` as ONNX Runtime deploys it (see the module docstring).
    ``calibration``: inputs for the activation ranges (default: standard-normal samples; the
    latency does not depend on them)."""
    from nasforge.space.quantnet import find_quantized

    if calibration is None:
        calibration = np.random.default_rng(0).standard_normal((CALIBRATION_SAMPLES, *input_shape)).astype(np.float32)
    model = copy.deepcopy(model).cpu().eval()
    qnet = find_quantized(model)
    float_scopes: list[str] = []
    if qnet is not None:
        qnet.set_mode(quantize=False, prune=True).fold_masks()
        names = {id(m): name for name, m in model.named_modules()}
        float_scopes = [onnx_scope(names[id(q)], model) for q in qnet.quant_layers() if max(q.weight_bits, q.act_bits) > 8]
    return _ort_static_int8(model, input_shape, calibration, float_scopes)


def onnx_scope(qualified_name: str, root: nn.Module | None = None) -> str:
    """The scope that PyTorch's TorchScript ONNX exporter gives the nodes of the module called
    ``qualified_name`` (``net.features.0.conv`` -> ``/net/features/features.0/conv``): one part
    per module that is called, a numbered child's part prefixed by its container's
    (``features.0``). Given ``root`` (the exported model), containers that are never called
    (``ModuleList``, ``ModuleDict``) get no part of their own: ``cell.edges.1_0`` ->
    ``/cell/1_0``."""
    from torch import nn as torch_nn

    parts = qualified_name.split(".")
    scope, start = [], 0
    for i, part in enumerate(parts):
        if not part.isdigit():
            start = i
        if root is not None and isinstance(root.get_submodule(".".join(parts[:i + 1])),
                                           (torch_nn.ModuleList, torch_nn.ModuleDict)):
            continue
        scope.append(".".join(parts[start:i + 1]))
    return "/" + "/".join(scope)


def _ort_static_int8(model: nn.Module, input_shape: tuple[int, ...], calibration: np.ndarray,
                     float_scopes: list[str]) -> bytes:
    """ONNX Runtime's static INT8 quantization of ``model``; the conv/linear node directly in
    each of ``float_scopes`` (:func:`onnx_scope`) stays float (at most one per scope; a scope
    without one is a layer the exporter dropped as unused)."""
    import onnx
    import torch
    from onnxruntime.quantization import (
        CalibrationDataReader,
        QuantFormat,
        QuantType,
        quantize_static,
    )

    class Reader(CalibrationDataReader):
        def __init__(self) -> None:
            self.batches = iter([{"input": calibration[i:i + 8]} for i in range(0, len(calibration), 8)])

        def get_next(self) -> dict[str, np.ndarray] | None:
            return next(self.batches, None)

    with tempfile.TemporaryDirectory(prefix="nasforge-int8-") as folder:
        float_path, int8_path = Path(folder) / "float.onnx", Path(folder) / "int8.onnx"
        with _quiet():
            torch.onnx.export(model, (torch.zeros((1, *input_shape)),), str(float_path),
                              input_names=["input"], output_names=["logits"],
                              dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}},
                              opset_version=OPSET, dynamo=False)
        graph_model = _unshare_initializers(onnx.load(str(float_path)))
        onnx.save(graph_model, str(float_path))
        nodes = [n.name for n in graph_model.graph.node if n.op_type in COMPUTE_OPS]
        exclude: list[str] = []
        for scope in float_scopes:
            found = [n for n in nodes if n.startswith(scope + "/") and "/" not in n[len(scope) + 1:]]
            if len(found) > 1:
                raise RuntimeError(f"the float layer {scope!r} has {len(found)} conv/linear nodes in the exported graph "
                                   f"(expected 1) among {nodes}")
            exclude += found
        if float_scopes and not exclude:
            # a layer may be missing on its own: the exporter drops layers whose output is unused
            # (a cell's node that only feeds a 'none' edge); none found means the scopes are wrong
            raise RuntimeError(f"none of the float layers {float_scopes} is in the exported graph among {nodes}")
        with _quiet():
            quantize_static(str(float_path), str(int8_path), Reader(), quant_format=QuantFormat.QDQ,
                            per_channel=True, weight_type=QuantType.QInt8, activation_type=QuantType.QUInt8,
                            nodes_to_exclude=exclude)
        return int8_path.read_bytes()


def _unshare_initializers(model: Any) -> Any:
    """``model`` with each ``Identity`` of an initializer replaced by a copy of it. The exporter
    shares equal constants between layers (e.g. the zero biases of an untrained network's
    folded BatchNorms); ONNX Runtime's quantizer cannot quantize one bias for two convolutions
    with different scales, so such layers would stay float."""
    from onnx import numpy_helper

    initializers = {t.name: t for t in model.graph.initializer}
    keep = []
    for node in model.graph.node:
        if node.op_type == "Identity" and node.input[0] in initializers:
            copy_ = numpy_helper.from_array(numpy_helper.to_array(initializers[node.input[0]]), node.output[0])
            model.graph.initializer.append(copy_)
        else:
            keep.append(node)
    del model.graph.node[:]
    model.graph.node.extend(keep)
    return model


def onnx_predict(onnx_bytes: bytes, x: np.ndarray, batch_size: int = 256, threads: int = 1) -> np.ndarray:
    """Logits of the ONNX model on ``x`` through ONNX Runtime (CPU), in batches."""
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = 1
    session = ort.InferenceSession(onnx_bytes, opts, providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name  # type: ignore[attr-defined]
    parts = [session.run(None, {name: np.ascontiguousarray(x[i:i + batch_size], dtype=np.float32)})[0]  # type: ignore[attr-defined]
             for i in range(0, len(x), batch_size)]
    return np.concatenate(parts)


@contextlib.contextmanager
def _quiet():
    """Silence the exporters' and quantizer's warnings and prints."""
    names = ("torch.onnx", "root")
    levels = [logging.getLogger(n).level for n in names]
    for n in names:
        logging.getLogger(n).setLevel(logging.ERROR)
    try:
        with (open(os.devnull, "w") as sink, contextlib.redirect_stdout(sink), warnings.catch_warnings()):
            warnings.simplefilter("ignore")
            yield
    finally:
        for n, level in zip(names, levels, strict=True):
            logging.getLogger(n).setLevel(level)
