"""Measured latency (eager and ONNX Runtime), the block table, the predictor, the study."""

from __future__ import annotations

import csv

import numpy as np
import pytest
import torch

from nasforge.hardware import (
    LatencyPredictor,
    LatencySettings,
    LatencyTable,
    TaskShape,
    count_params,
    export_onnx,
    latency_study,
    measure_latency,
    write_study,
)
from nasforge.hardware.latency import onnx_session
from nasforge.space import get_space

QUICK = LatencySettings(warmup=1, repeats=5)
CIFAR10 = TaskShape((3, 32, 32), 10)


def test_eager_latency_is_positive_and_sane():
    model = torch.nn.Sequential(torch.nn.Conv2d(3, 16, 3, padding=1), torch.nn.ReLU(), torch.nn.Flatten(),
                                torch.nn.Linear(16 * 32 * 32, 10))
    threads = torch.get_num_threads()
    for clock in ("wall", "cpu"):
        stats = measure_latency(model, (3, 32, 32), LatencySettings(warmup=2, repeats=7, clock=clock))
        assert len(stats.samples_ms) == 7 and all(s > 0 for s in stats.samples_ms)
        assert 0 < stats.median_ms < 1000 and stats.iqr_ms >= 0
    assert torch.get_num_threads() == threads  # pinned only while measuring


def test_settings_are_validated():
    for bad in [dict(backend="tvm"), dict(device="tpu"), dict(repeats=0), dict(warmup=-1),
                dict(clock="cpu", threads=2), dict(clock="sundial")]:
        with pytest.raises(ValueError):
            LatencySettings(**bad)


def test_onnx_export_matches_torch_and_runs_in_onnx_runtime():
    space = get_space("macro")
    model = space.build(space.parse("12021021"), CIFAR10).eval()
    with torch.no_grad():
        for p in model.parameters():  # non-trivial BN statistics and weights
            p.add_(0.01 * torch.randn_like(p))
    session = onnx_session(export_onnx(model, (3, 32, 32), batch_size=2))
    x = torch.randn(2, 3, 32, 32)
    (ort_out,) = session.run(None, {session.get_inputs()[0].name: x.numpy()})
    with torch.no_grad():
        expected = model(x).numpy()
    np.testing.assert_allclose(ort_out, expected, atol=1e-4, rtol=1e-4)
    tiny = torch.nn.Sequential(torch.nn.Conv2d(3, 8, 3), torch.nn.ReLU())
    stats = measure_latency(tiny, (3, 16, 16), LatencySettings(backend="onnx", warmup=1, repeats=3))
    assert 0 < stats.median_ms < 1000 and len(stats.samples_ms) == 3


def test_table_sums_blocks_and_round_trips(tmp_path):
    space = get_space("macro")
    archs = [space.parse(k) for k in ("00000000", "22222222", "10201020")]
    path = tmp_path / "lut.json"
    table = LatencyTable(QUICK, path=str(path)).setup(space)
    assert table.profile(archs) > 0 and path.is_file()
    for arch in archs:
        assert table.predict(arch) > 0
        costs = table.block_costs(arch)
        assert sum(c["params"] for c in costs) == count_params(space.build(arch, CIFAR10))
    again = LatencyTable(QUICK, path=str(path)).setup(space)
    assert again.profile(archs) == 0 and again.predict(archs[1]) == table.predict(archs[1])
    with pytest.raises(ValueError, match="was made with"):
        LatencyTable(LatencySettings(repeats=6), path=str(path)).setup(space)
    with pytest.raises(TypeError, match="block decomposition"):
        LatencyTable().setup(get_space("conv1d"))


def test_predictor_fits_a_tiny_sample():
    space = get_space("mbconv")
    rng = np.random.default_rng(0)
    archs = [space.sample(rng) for _ in range(5)]
    table = LatencyTable(QUICK).setup(space)
    measured = [table.predict(a) * (1.2 + 0.1 * i) for i, a in enumerate(archs)]
    model = LatencyPredictor(table=table, n_estimators=20).setup(space).fit(archs, measured)
    predicted = [model.predict(a) for a in archs]
    assert all(np.isfinite(predicted)) and min(predicted) > 0
    assert len(model.features(archs[0])) == space.encoding_size + 4
    with pytest.raises(ValueError, match="positive"):
        model.fit(archs, [-1.0] * len(archs))


def test_latency_study_writes_both_files(tmp_path):
    result = latency_study(get_space("macro"), samples=8, settings=LatencySettings(warmup=1, repeats=2),
                           rounds=1, train_fraction=0.5, seed=3)
    measurements, accuracy = write_study(result, tmp_path)
    rows = list(csv.DictReader(measurements.open()))
    assert len(rows) == 8 and {r["split"] for r in rows} == {"train", "test"}
    assert all(float(r["latency_ms"]) > 0 and float(r["gbdt_ms"]) > 0 for r in rows)
    scores = {r["estimator"]: r for r in csv.DictReader(accuracy.open())}
    assert set(scores) == {"repeat", "lut", "lut_linear", "gbdt"}
    assert all(0 <= float(r["within_10pct"]) <= 1 for r in scores.values())
