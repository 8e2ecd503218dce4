"""``final_front`` (``--final-front``): every Pareto-front member retrained and tested, once."""

from __future__ import annotations

import csv

import numpy as np
import pytest
import torch

import nasforge
from nasforge import Space, task_from_arrays
from nasforge.cli import app
from nasforge.run.config import ConfigError, load_config


def _build(arch, task):
    return torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(12, arch["width"]), torch.nn.ReLU(),
                               torch.nn.Linear(arch["width"], task.num_classes))


def _toy():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((300, 12)).astype(np.float32)
    y = (x[:, :3].sum(1) > 0).astype(np.int64)
    return Space({"width": [1, 2, 8, 32]}, build=_build, name="mlp"), task_from_arrays(x, y, name="toy")


def _rows(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def test_every_front_member_is_retrained_tested_and_kept(tmp_path):
    space, task = _toy()
    run = tmp_path / "r"
    result = nasforge.search(task, space, "given", trials=4, run_dir=run, final_front=True, progress=False,
                             evaluator={"epochs": 15, "final_epochs": 15, "batch_size": 32},
                             objectives=["val_accuracy:max", "params:min"])
    rows = _rows(run / "best" / "front.csv")
    front = sorted(result.pareto_front, key=lambda t: t.metrics["params"])
    assert [r["arch"] for r in rows] == [t.arch.key for t in front] and len(rows) >= 2
    for i, (row, trial) in enumerate(zip(rows, front, strict=True)):
        assert int(row["trial"]) == trial.number and float(row["search_params"]) == trial.metrics["params"]
        assert int(float(row["params"])) == trial.metrics["params"]  # the retrained network is the same size
        assert 0.0 <= float(row["test_accuracy"]) <= 1.0
        assert (run / "best" / "front" / str(i) / "model.onnx").is_file()
    assert float(rows[-1]["test_accuracy"]) > 0.8  # the widest member learns the toy rule
    stamps = {p: p.stat().st_mtime_ns for p in (run / "best" / "front").rglob("model.pt")}
    again = nasforge.resume(run, space=space, task=task)
    assert again.already_complete
    assert {p: p.stat().st_mtime_ns for p in (run / "best" / "front").rglob("model.pt")} == stamps


def test_a_finished_run_gets_its_front_on_resume(tmp_path):
    """A run finished without the front retrains only the front when resumed with it."""
    space, task = _toy()
    run = tmp_path / "r"
    nasforge.search(task, space, "given", trials=3, run_dir=run, progress=False,
                    evaluator={"epochs": 2, "final_epochs": 2, "batch_size": 32},
                    objectives=["val_accuracy:max", "params:min"])
    assert not (run / "best" / "front.csv").exists()
    best = (run / "best" / "model.pt").stat().st_mtime_ns
    (run / "config.yaml").write_text((run / "config.yaml").read_text().replace("final_front: false",
                                                                                 "final_front: true"))
    nasforge.resume(run, space=space, task=task, allow_change=["final_front"])
    assert (run / "best" / "front.csv").is_file()
    assert (run / "best" / "model.pt").stat().st_mtime_ns == best  # the selected model is not retrained


def test_front_of_a_tabular_run_is_the_tables_truth(tmp_path):
    nasforge.search(space="nb201", evaluator="tabular", strategy="random", trials=6, run_dir=tmp_path / "t",
                    objectives=["accuracy:max", "params:min"], final_front=True, progress=False)
    rows = _rows(tmp_path / "t" / "best" / "front.csv")
    assert len(rows) >= 2 and all(0 < float(r["accuracy"]) <= 100 for r in rows)  # the table's truth
    assert [float(r["search_params"]) for r in rows] == sorted(float(r["search_params"]) for r in rows)


def test_front_needs_the_final_retraining():
    with pytest.raises(ConfigError, match="final_front"):
        load_config(None, final_front=True, final_retrain=False)


def test_cli_flag(tmp_path):
    from typer.testing import CliRunner

    out = tmp_path / "c"
    res = CliRunner().invoke(app, ["search", "--space", "nb201", "--evaluator", "tabular", "--trials", "5",
                                   "--objective", "accuracy:max", "--objective", "params:min",
                                   "--final-front", "-o", str(out)])
    assert res.exit_code == 0, res.output
    assert (out / "best" / "front.csv").is_file()
