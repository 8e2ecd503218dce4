"""Latency of the transformer spaces (issue 18, HAT): measured in PyTorch and ONNX Runtime,
token ids for ``gpt`` (sequence length and batch as settings), ONNX at opset 17, the latency
predictor and the cost sources by name on ``vit`` and ``gpt``."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
import torch

from nasforge.hardware import LatencySettings, get_cost_model, measure_latency
from nasforge.hardware.latency import export_onnx, onnx_session
from nasforge.hardware.metrics import TaskShape
from nasforge.hardware.predictor import LatencyPredictor
from nasforge.space import get_space

FAST = LatencySettings(warmup=1, repeats=3)
TEXT = TaskShape((32,), 50)  # a 32-token context over 50 tokens
IMAGE = TaskShape((3, 32, 32), 10)


@pytest.mark.parametrize("opset", [None, 17])
def test_vit_exports_to_onnx_with_attention_and_runs_the_same(opset):
    space = get_space("vit")
    model = space.build(space.parse("e32p8|h2r2,h1r3"), IMAGE).eval()
    proto = onnx.load_from_string(export_onnx(model, IMAGE.input_shape, opset=opset))
    if opset is not None:
        assert {o.version for o in proto.opset_import if o.domain in ("", "ai.onnx")} == {opset}
    assert "Softmax" in {n.op_type for n in proto.graph.node}  # the attention is in the graph
    session = onnx_session(proto.SerializeToString())
    x = np.random.default_rng(0).standard_normal((1, *IMAGE.input_shape)).astype(np.float32)
    out = session.run(None, {session.get_inputs()[0].name: x})[0]
    with torch.no_grad():
        assert np.allclose(out, model(torch.from_numpy(x)).numpy(), atol=1e-4)
    with pytest.raises(ValueError, match="opset"):
        export_onnx(model, IMAGE.input_shape, opset=7)


@pytest.mark.parametrize("backend", ["torch", "onnx"])
def test_vit_latency_is_measured_in_both_backends(backend):
    space = get_space("vit")
    model = space.build(space.parse("e32p8|h1r2"), IMAGE)
    stats = measure_latency(model, IMAGE.input_shape, LatencySettings(backend=backend, warmup=1, repeats=3))
    assert stats.median_ms > 0 and len(stats.samples_ms) == 3


@pytest.mark.parametrize("backend", ["torch", "onnx"])
def test_gpt_is_timed_on_token_ids_of_the_set_length_and_batch(backend):
    space = get_space("gpt")
    model = space.build(space.parse("e32|h2r2"), TEXT)
    seen: list[tuple[torch.dtype, tuple[int, ...]]] = []
    model.register_forward_pre_hook(lambda m, args: seen.append((args[0].dtype, tuple(args[0].shape))))
    settings = LatencySettings(backend=backend, warmup=1, repeats=3, batch_size=2, seq_len=16)
    assert measure_latency(model, TEXT.input_shape, settings).median_ms > 0
    assert seen and set(seen) == {(torch.int64, (2, 16))}  # ONNX: the traced call


def test_seq_len_is_refused_where_it_cannot_apply():
    with pytest.raises(ValueError, match="seq_len"):
        LatencySettings(seq_len=0)
    vit = get_space("vit")
    with pytest.raises(ValueError, match="token models"):
        measure_latency(vit.build(vit.parse("e32p8|h1r2"), IMAGE), IMAGE.input_shape, LatencySettings(seq_len=8))
    gpt = get_space("gpt")
    with pytest.raises(ValueError, match="length <= 32"):
        measure_latency(gpt.build(gpt.parse("e32|h1r1"), TEXT), TEXT.input_shape, LatencySettings(seq_len=64))


def test_predictor_without_blocks_learns_a_cost_linear_in_flops_and_layers():
    """On gpt (no block table) the predictor's base a + b*FLOPs + c*layers recovers a latency
    that is such a function exactly; the trees add little."""
    space = get_space("gpt")
    archs = space.sample_distinct(30, 0)
    predictor = LatencyPredictor(n_estimators=50).setup(space, TEXT.input_shape, TEXT.num_classes)
    costs = [predictor.static_costs(a) for a in archs]
    truth = np.array([0.05 + 2e-7 * flops + 0.003 * layers for flops, _, layers in costs])
    assert np.ptp(truth) / truth.min() > 0.5  # the archs differ
    predictor.fit(archs[:20], truth[:20])
    predicted = np.array([predictor.predict(a) for a in archs[20:]])
    assert np.max(np.abs(predicted / truth[20:] - 1)) < 0.05
    assert len(predictor.features(archs[0])) == space.encoding_size + 3


def test_cost_sources_by_name_work_on_both_spaces():
    for name, shape in (("vit", IMAGE), ("gpt", TEXT)):
        space = get_space(name)
        archs = space.sample_distinct(4, 1)
        measured = get_cost_model("measured", settings=FAST).setup(space, shape.input_shape, shape.num_classes)
        values = [measured.predict(a) for a in archs]
        fitted = get_cost_model("gbdt", settings=FAST, n_estimators=10).setup(space, shape.input_shape,
                                                                              shape.num_classes)
        fitted.fit(archs, values)
        assert all(v > 0 for v in values) and fitted.predict(archs[0]) > 0
        assert get_cost_model("flops").setup(space, shape.input_shape, shape.num_classes).predict(archs[0]) > 0
    table = get_cost_model("lut", settings=FAST).setup(get_space("vit"), IMAGE.input_shape, IMAGE.num_classes)
    assert table.predict(get_space("vit").parse("e32p8|h1r2")) > 0
    with pytest.raises(TypeError, match="BlockSpace"):
        get_cost_model("lut").setup(get_space("gpt"), TEXT.input_shape, TEXT.num_classes)


def test_a_vit_search_bounds_and_minimises_predicted_latency(tmp_path):
    """Latency from the fitted predictor as an objective and a constraint of a vit run."""
    from nasforge import search

    result = search("digits", "vit", "random", objectives=["val_accuracy:max", "latency_ms:min"],
                    constraints=["latency_ms<=1000"], trials=2, run_dir=tmp_path / "run", progress=False,
                    evaluator_settings={"epochs": 1}, final_retrain=False,
                    latency={"source": "predictor", "samples": 4, "warmup": 1, "repeats": 3})
    done = [t for t in result.trials if t.status == "complete"]
    assert len(done) == 2 and all(t.metrics["latency_ms"] > 0 for t in done)
    assert (tmp_path / "run" / "latency").is_dir()  # the predictor's measurements are cached in the run


def test_seq_len_of_a_run_is_refused_for_an_image_space():
    from pydantic import ValidationError

    from nasforge.run.config import SearchConfig

    with pytest.raises(ValidationError, match="seq_len is for spaces of token models"):
        SearchConfig(space="vit", task="digits", objectives=["val_accuracy:max", "latency_ms:min"],
                     latency={"seq_len": 8})


def test_latency_study_runs_on_a_space_without_blocks():
    from nasforge.hardware.study import latency_study

    gpt = get_space("gpt")
    result = latency_study(gpt, 6, LatencySettings(warmup=1, repeats=2), rounds=1, train_fraction=0.5,
                           input_shape=TEXT.input_shape, num_classes=TEXT.num_classes, statistic="min")
    assert [row["estimator"] for row in result.accuracy] == ["repeat", "gbdt"]  # no block table
    assert all(row["latency_ms"] > 0 and row["flops"] > 0 for row in result.measurements)
    with pytest.raises(ValueError, match="statistic"):
        latency_study(gpt, 6, statistic="mean", input_shape=TEXT.input_shape, num_classes=TEXT.num_classes)
