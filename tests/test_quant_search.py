"""A joint architecture + quantization + pruning search end to end through the command line."""

from __future__ import annotations

import json
import sqlite3

import onnx
import pytest
import yaml
from typer.testing import CliRunner

from nasforge.cli import app
from nasforge.hardware.bitops import quant_costs
from nasforge.run.quant_export import ACCURACY_TOLERANCE_POINTS
from nasforge.space import get_space

runner = CliRunner()
SPACE = ["--space", "quant", "-P", "base=conv1d", "-P", "base_settings={channels: [4, 8], max_depth: 2}"]
FAST = ["--epochs", "1", "--final-epochs", "2", "--batch-size", "256", "-E", "qat_epochs=1", "-E", "final_qat_epochs=1"]


def trials(run_dir):
    rows = sqlite3.connect(run_dir / "trials.db").execute("SELECT arch, status, metrics FROM trials").fetchall()
    return [(json.loads(arch)["key"], status, json.loads(metrics)) for arch, status, metrics in rows]


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    path = tmp_path_factory.mktemp("quant") / "run"
    result = runner.invoke(app, ["search", *SPACE, *FAST, "--strategy", "random", "--trials", "4", "--seed", "1",
                                 "--objective", "val_accuracy:max", "--objective", "model_bytes:min",
                                 "--run-dir", str(path)])
    assert result.exit_code == 0, result.output
    return path


def test_trials_carry_the_quantized_costs(run):
    space = get_space("quant", base="conv1d", base_settings={"channels": [4, 8], "max_depth": 2})
    rows = trials(run)
    assert len(rows) == 4 and all(status == "complete" for _, status, _ in rows)
    for key, _, metrics in rows:
        net = space.build(space.parse(key), type("T", (), {"input_shape": (1, 40), "num_classes": 10})())
        assert metrics["model_bytes"] == quant_costs(net, (1, 40))["model_bytes"]
        assert 0 <= metrics["val_accuracy"] <= 1 and 0 <= metrics["float_val_accuracy"] <= 1
    assert len({m["model_bytes"] for _, _, m in rows}) > 1
    assert "model_bytes" in (run / "pareto.csv").read_text().splitlines()[0]


def test_selected_model_runs_in_onnx_runtime_as_int8_qdq(run):
    summary = json.loads((run / "best/summary.json").read_text())
    q = summary["quantized"]
    assert abs(q["onnx_minus_pytorch_points"]) <= ACCURACY_TOLERANCE_POINTS
    assert q["pytorch_test_accuracy"] == summary["test_accuracy"] and q["qat_epochs"] == 1
    assert q["model_bytes"] == summary["search_metrics"]["model_bytes"]  # masks fixed by the decisions, not the weights
    arch = get_space("quant", base="conv1d", base_settings={"channels": [4, 8], "max_depth": 2}).parse(summary["arch"])
    low_bit = [r for r in q["policy"] if r["weight_bits"] < 32 or r["act_bits"] < 32]
    assert [r["group"] for r in q["policy"]] == sorted(r["group"] for r in q["policy"]) and arch
    ops = {n.op_type for n in onnx.load(str(run / "best/model.onnx")).graph.node}
    assert not low_bit or {"QuantizeLinear", "DequantizeLinear"} <= ops


def test_a_size_budget_is_checked_before_training(tmp_path):
    result = runner.invoke(app, ["search", *SPACE, *FAST, "--strategy", "random", "--trials", "4", "--seed", "2",
                                 "--constraint", "model_bytes<=400", "--no-final-retrain",
                                 "--run-dir", str(tmp_path / "r")])
    assert result.exit_code == 0, result.output
    rows = trials(tmp_path / "r")
    assert {status for _, status, _ in rows} == {"complete", "infeasible"}
    for _, status, metrics in rows:
        assert (status == "infeasible") == (metrics["model_bytes"] > 400)
        assert (status == "infeasible") == ("val_accuracy" not in metrics)  # never trained


def test_int8_latency_objective_from_yaml(tmp_path):
    config = tmp_path / "quant.yaml"
    config.write_text(yaml.safe_dump({
        "space": "quant", "space_settings": {"base": "conv1d", "base_settings": {"channels": [4], "max_depth": 1},
                                             "weight_bits": [8], "act_bits": [8, 32]},
        "evaluator": {"name": "train", "settings": {"epochs": 1, "batch_size": 256, "qat_epochs": 0}},
        "objectives": ["val_accuracy:max", "latency_ms:min"],
        "latency": {"backend": "onnx_int8", "warmup": 1, "repeats": 3},
        "strategy": "random", "budget": {"trials": 2}, "final_retrain": False}))
    result = runner.invoke(app, ["search", "--config", str(config), "--run-dir", str(tmp_path / "r")])
    assert result.exit_code == 0, result.output
    assert all(m["latency_ms"] > 0 for _, _, m in trials(tmp_path / "r"))


@pytest.mark.parametrize(("args", "message"), [
    (["-P", "weight_bits=[8, 16]"], "weight_bits: 16 is not a supported bit-width"),
    (["-P", "keep=[0.0]"], "keep: 0.0 is not a share of channels"),
    (["-E", "qat_epochs=-1"], "qat_epochs"),
])
def test_bad_quantization_settings_are_refused_before_running(tmp_path, args, message):
    result = runner.invoke(app, ["search", *SPACE, *args, "--trials", "2", "--run-dir", str(tmp_path / "r")])
    assert result.exit_code == 2 and message in result.output, result.output
    assert not (tmp_path / "r").exists()
