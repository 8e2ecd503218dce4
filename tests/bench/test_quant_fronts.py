"""benchmarks/quant_fronts.py: both arms end with quantized final models, counted, timed and
compared by hypervolume on one shared scale."""

from __future__ import annotations

import json
import math

import pytest

TINY = ["epochs=1", "final_epochs=1", "qat_epochs=0", "final_qat_epochs=1", "data_fraction=0.05", "batch_size=256"]


@pytest.fixture(scope="module")
def fronts(benchmark_script):
    return benchmark_script("quant_fronts")


def test_hypervolumes_share_one_scale(fronts, tmp_path):
    def write(name, arm, models):
        (tmp_path / name).write_text(json.dumps({"arm": arm, "seed": 0, "models": models}))
        return tmp_path / name

    joint = [{"test_accuracy": 0.8, "model_bytes": 500, "latency_ms": 1.0, "onnx_test_accuracy": 0.8}]
    uniform = [{"test_accuracy": 0.9, "model_bytes": 1000, "latency_ms": 2.0, "onnx_test_accuracy": 0.895}]
    rows = fronts.hypervolumes([write("a.json", "joint", joint), write("b.json", "float+int8", uniform)])
    # bytes on a log scale up to the largest model's: log(500) / log(1000) and 1.0 of the reference 1.1
    assert math.isclose(rows[0]["hv_bytes"], 0.8 * (1.1 - math.log10(500) / 3))
    assert math.isclose(rows[1]["hv_bytes"], 0.9 * 0.1)
    assert math.isclose(rows[0]["hv_latency"], 0.8 * 0.6) and math.isclose(rows[1]["onnx_gap_points"], 0.5)


def test_run_and_report_end_to_end(fronts, tmp_path, capsys):
    args = ["--task", "mnist1d", "--root", str(tmp_path)]
    fronts.main(["run", *args, "--seeds", "0", "--trials", "2", *[x for s in TINY for x in ("--set", s)],
                 "--space-setting", "channels=[4, 8]", "--space-setting", "max_depth=2"])
    results = sorted((tmp_path / "mnist1d" / "results").glob("*.json"))
    assert [f.name for f in results] == ["float-int8-seed0.json", "joint-seed0.json"]
    for f in results:
        data = json.loads(f.read_text())
        assert data["models"] and all(m["model_bytes"] > 0 and m["latency_ms"] > 0 for m in data["models"])
        if data["arm"] == "float+int8":  # every group at 8 bits, nothing pruned
            assert all(m["arch"].endswith("@w8a8k1.0/w8a8k1.0/w8a8k1.0") for m in data["models"])
    fronts.main(["run", *args, "--seeds", "0", "--trials", "2"])  # finished: nothing runs again
    fronts.main(["report", *args])
    out = capsys.readouterr().out
    assert "| joint | 1 |" in out and "| float+int8 | 1 |" in out and "of 1 seeds" in out
