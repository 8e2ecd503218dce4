"""End to end through the command line: search, show, report, resume, bad input."""

from __future__ import annotations

import csv
import io
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time

import numpy as np
import onnxruntime as ort
import pytest
import torch
import yaml
from typer.testing import CliRunner

from nasforge.cli import app
from nasforge.space import get_space

runner = CliRunner()
FAST = ["--epochs", "1", "--final-epochs", "2", "--batch-size", "256"]


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    path = tmp_path_factory.mktemp("runs") / "run"
    result = runner.invoke(app, ["search", "--trials", "5", *FAST, "--seed", "3", "--run-dir", str(path),
                                 "--constraint", "params<=60000", "--strategy", "evolution", "-S", "population_size=3", "-S", "sample_size=2"])
    assert result.exit_code == 0, result.output
    assert "Pareto front" in result.output and str(path) in result.output
    return path


def test_run_directory_has_everything(run):
    for name in ["trials.db", "config.yaml", "pareto.csv", "report.html", "best/arch.json", "best/model.pt",
                 "best/summary.json", "best/model.onnx"]:
        assert (run / name).is_file(), name
    config = yaml.safe_load((run / "config.yaml").read_text())
    assert config["strategy_settings"] == {"population_size": 3, "sample_size": 2}
    assert config["constraints"] == ["params<=60000"]
    rows = sqlite3.connect(run / "trials.db").execute("SELECT status, metrics FROM trials").fetchall()
    assert len(rows) == 5
    summary = json.loads((run / "best/summary.json").read_text())
    assert 0.0 <= summary["test_accuracy"] <= 1.0 and summary["params"] > 0
    html = (run / "report.html").read_text()
    assert '<script type="application/json" id="nf-data">' in html and summary["arch"] in html  # plotly figures


def test_exported_model_matches_in_onnx_runtime(run):
    summary = json.loads((run / "best/summary.json").read_text())
    space = get_space("conv1d")
    arch = space.parse(summary["arch"])

    class T:
        input_shape, num_classes = (1, 40), 10

    model = space.build(arch, T())
    model.load_state_dict(torch.load(run / "best/model.pt"))
    model.eval()
    x = np.random.default_rng(0).standard_normal((8, 1, 40)).astype(np.float32)
    got = ort.InferenceSession(str(run / "best/model.onnx")).run(None, {"input": x})[0]
    np.testing.assert_allclose(got, model(torch.from_numpy(x)).detach().numpy(), atol=1e-4)


def test_show_csv_lists_every_trial(run):
    result = runner.invoke(app, ["show", str(run), "--csv"])
    assert result.exit_code == 0
    rows = list(csv.DictReader(io.StringIO(result.output)))
    assert len(rows) == 5
    assert {"trial", "arch", "status", "val_accuracy", "params"} <= set(rows[0])


def test_report_rebuilds(run):
    (run / "report.html").unlink()
    assert runner.invoke(app, ["report", str(run)]).exit_code == 0
    assert (run / "report.html").is_file()


def test_existing_run_dir_is_refused(run):
    result = runner.invoke(app, ["search", "--trials", "1", "--run-dir", str(run)])
    assert result.exit_code == 2 and "nasforge resume" in result.output


@pytest.mark.parametrize("args, message", [
    (["--strategy", "nope"], "unknown strategy 'nope'; strategies: "),
    (["--space", "nope"], "unknown space 'nope'; valid: "),
    (["--task", "nope"], "unknown task 'nope'; valid: "),
    (["--trials", "0"], "budget.trials"),
    (["--objective", "accuracy:max"], "unknown metric 'accuracy'"),
    (["--objective", "params:max", "--objective", "params:min"], "contradictory"),
    (["--constraint", "params<<3"], "expected 'metric<=number'"),
    (["--strategy", "evolution", "-S", "population=3"], "no setting(s) ['population']"),
    (["--workers", "2"], "needs executor 'processes'"),
])
def test_bad_input_names_the_field(tmp_path, args, message):
    result = runner.invoke(app, ["search", "--run-dir", str(tmp_path / "r"), *args])
    assert result.exit_code == 2, result.output
    assert message in result.output
    assert not (tmp_path / "r").exists(), "no half-written run directory"


@pytest.mark.parametrize("text, message", [
    ("task: [unclosed", "not valid YAML"),
    ("tsak: mnist1d", "tsak: unknown field"),
    ("budget: {trials: many}", "budget.trials"),
    ("evaluator: {epochs: -1}", "evaluator.settings.epochs"),
])
def test_bad_config_files(tmp_path, text, message):
    config = tmp_path / "c.yaml"
    config.write_text(text)
    result = runner.invoke(app, ["search", "--config", str(config), "--run-dir", str(tmp_path / "r")])
    assert result.exit_code == 2 and message in result.output, result.output
    assert not (tmp_path / "r").exists()


def test_config_file_and_overrides(tmp_path):
    config = tmp_path / "c.yaml"
    config.write_text("strategy: random\nbudget: {trials: 2}\nevaluator: {epochs: 1, final_epochs: 1}\n"
                      "final_retrain: false\n")
    result = runner.invoke(app, ["search", "--config", str(config), "--trials", "3", "--run-dir", str(tmp_path / "r")])
    assert result.exit_code == 0, result.output
    saved = yaml.safe_load((tmp_path / "r/config.yaml").read_text())
    assert saved["strategy"] == "random" and saved["budget"]["trials"] == 3
    assert not (tmp_path / "r/best").exists()


def _counted(db):
    con = sqlite3.connect(db)
    try:
        return con.execute("SELECT number, arch_key, status, metrics FROM trials WHERE status != 'running' "
                           "ORDER BY number").fetchall()
    finally:
        con.close()


def test_sigkill_then_resume_loses_and_repeats_nothing(tmp_path):
    run = tmp_path / "killed"
    budget = 10
    cmd = [sys.executable, "-m", "nasforge", "search", "--trials", str(budget), "--epochs", "2",
           "--final-epochs", "1", "--run-dir", str(run), "--strategy", "evolution", "-S", "population_size=4", "-S", "sample_size=2"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            env={**os.environ, "PYTHONUNBUFFERED": "1"})
    deadline = time.time() + 120
    before = []
    while time.time() < deadline:
        time.sleep(0.2)
        if (run / "trials.db").exists():
            try:
                before = _counted(run / "trials.db")
            except sqlite3.OperationalError:
                continue
            if len(before) >= 3:
                break
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    before = _counted(run / "trials.db")
    assert 3 <= len(before) < budget, "the search should have been killed mid-run"
    result = runner.invoke(app, ["resume", str(run)])
    assert result.exit_code == 0, result.output
    after = _counted(run / "trials.db")
    assert after[: len(before)] == before, "finished trials are kept as they were"
    assert len(after) == budget
    keys = [row[1] for row in after]
    assert len(set(keys)) == budget, "no architecture evaluated twice"
    assert (run / "best/summary.json").is_file()


def test_early_stopping_from_the_command_line_keeps_the_files_settings(tmp_path):
    config = tmp_path / "c.yaml"
    config.write_text("strategy: random\nevaluator: {epochs: 4, early_stopping: {probability: 0.2}}\n"
                      "final_retrain: false\n")
    result = runner.invoke(app, ["search", "--config", str(config), "--trials", "3", "--early-stopping",
                                 "--run-dir", str(tmp_path / "r")])
    assert result.exit_code == 0, result.output
    saved = yaml.safe_load((tmp_path / "r/config.yaml").read_text())
    assert saved["evaluator"]["settings"]["early_stopping"] == {"probability": 0.2, "min_fraction": 0.3,
                                                               "min_epochs": 3}
    assert saved["evaluator"]["settings"]["epochs"] == 4
    rows = _counted(tmp_path / "r/trials.db")
    assert len(rows) == 3 and all("fidelity" in json.loads(r[3]) for r in rows)  # the stopper was wired in
