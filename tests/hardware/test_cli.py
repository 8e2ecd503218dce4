"""``nasforge cost`` and ``nasforge latency``."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from nasforge.cli import app

runner = CliRunner()


def test_cost_prints_json():
    result = runner.invoke(app, ["cost", "--space", "macro", "--arch", "macro:02012100", "--json"])
    assert result.exit_code == 0, result.output
    record = json.loads(result.output)
    assert record["arch"] == "macro:02012100" and record["input_shape"] == [3, 32, 32]
    assert record["params"] == 890_666 and record["macs"] == 47_327_744  # the benchmark's values
    assert record["flops"] == 2 * record["macs"] and record["memory_mb"] > 0 and record["size_mb"] > 0
    assert "latency_ms" not in record


def test_cost_with_latency_and_classes():
    key = "|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|skip_connect~2|"
    result = runner.invoke(app, ["cost", "--space", "nb201", "--arch", key, "--classes", "100", "--latency", "--json"])
    assert result.exit_code == 0, result.output
    record = json.loads(result.output)
    assert record["num_classes"] == 100 and record["latency_ms"] > 0 and record["latency_iqr_ms"] >= 0


def test_cost_errors_are_one_line():
    result = runner.invoke(app, ["cost", "--space", "nope", "--arch", "x", "--json"])
    assert result.exit_code == 2 and "unknown space 'nope'" in result.output
    result = runner.invoke(app, ["cost", "--space", "macro", "--arch", "0123", "--json"])
    assert result.exit_code == 2 and "not an architecture key" in result.output
    # latency settings are checked even when latency is not measured
    result = runner.invoke(app, ["cost", "--space", "macro", "--arch", "02012100", "--backend", "tvm"])
    assert result.exit_code == 2 and "latency backend 'tvm' unknown" in result.output
    result = runner.invoke(app, ["cost", "--space", "macro", "--arch", "02012100", "--device", "npu"])
    assert result.exit_code == 2 and "--device: device must be 'cpu', 'cuda' or 'cuda:N'" in result.output


def test_latency_refuses_a_space_without_blocks_before_measuring(tmp_path):
    result = runner.invoke(app, ["latency", "--space", "conv1d", "-o", str(tmp_path / "out")])
    assert result.exit_code == 2 and "valid: macro, mbconv, nb201" in result.output
    assert not (tmp_path / "out").exists()


def test_latency_command_writes_csvs(tmp_path):
    result = runner.invoke(app, ["latency", "--space", "macro", "--samples", "6", "-o", str(tmp_path),
                                 "--repeats", "2", "--warmup", "1", "--rounds", "1", "--train-fraction", "0.5"])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "measurements.csv").is_file() and (tmp_path / "accuracy.csv").is_file()
    assert "gbdt" in result.output
