"""Every one-shot method runs on CPU in tiny settings; the supernet evaluator plugs into the
ask/tell loop; saved supernets load back; the CLI writes its files."""

from __future__ import annotations

import csv

import pytest
import torch
from oneshot_toys import tiny_spaces, tiny_task

from nasforge.estimate.base import EVALUATORS
from nasforge.oneshot.base import OneShotSettings, get_method
from nasforge.oneshot.evaluator import SupernetEvaluator
from nasforge.oneshot.io import load_supernet, save_supernet
from nasforge.oneshot.memory import peak_step_bytes
from nasforge.oneshot.ranking import Ranked, correlations
from nasforge.oneshot.supernet import build_supernet
from nasforge.run.oneshot import train_method

TINY = OneShotSettings(epochs=2, batch_size=12, search_trials=3, calib_batches=1, pt_tune_steps=1,
                       latency_weight=0.1, eval_images=8)


def test_unknown_space_and_settings_are_clear_errors():
    with pytest.raises(ValueError, match=r"supports spaces .* not 'macro' \(it needs a supernet with "
                                         r"\['mixed-op', 'softmax'\]; the supernet of 'macro' lacks \['mixed-op'\]\)"):
        get_method("darts").begin(tiny_spaces()["macro"], tiny_task())
    from nasforge.space import get_space

    for method in ("spos", "ofa", "proxyless"):  # the overrides defer to the registry first
        with pytest.raises(ValueError, match=r"not 'conv1d' \(no supernet is registered for it\)"):
            get_method(method).check_space(get_space("conv1d"))
    with pytest.raises(ValueError, match=r"not 'vit' \(it needs a supernet with \['binary', 'mixed-op', "
                                         r"'sample'\], or an entangled one .* 'vit' has neither"):
        get_method("proxyless").check_space(get_space("vit"))
    with pytest.raises(ValueError, match="epochz: unknown one-shot setting"):
        OneShotSettings.from_mapping({"epochz": 3})
    with pytest.raises(ValueError, match="bn_mode"):
        OneShotSettings.from_mapping({"bn_mode": "frozen"})


def test_training_by_epochs_equals_training_at_once():
    settings = {**TINY.model_dump(), "epochs": 2}
    whole = train_method("darts", tiny_spaces()["nb201"], tiny_task(), settings)
    method = get_method("darts", **settings)
    state = method.begin(tiny_spaces()["nb201"], tiny_task())
    method.epoch(state)
    saved = state.state_dict()
    fresh = method.begin(tiny_spaces()["nb201"], tiny_task())
    fresh.load_state_dict(saved)
    method.epoch(fresh)
    assert method.end(fresh).arch == whole.arch
    assert [r.train_loss for r in fresh.trajectory] == [r.train_loss for r in whole.trajectory]


def test_supernet_evaluator_is_registered_and_saved_supernets_load(tmp_path):
    assert EVALUATORS.get("supernet") is SupernetEvaluator
    task, space = tiny_task(), tiny_spaces()["macro"]
    supernet = build_supernet(space, task)
    path = save_supernet(supernet, tmp_path / "s.pt")
    arch = space.parse("21021021")
    direct = SupernetEvaluator(supernet, task, calib_batches=1, batch_size=8).evaluate(arch)
    loaded = SupernetEvaluator(str(path), task, calib_batches=1, batch_size=8).evaluate(arch)
    assert direct.ok and loaded.ok
    assert direct.metrics == loaded.metrics
    assert isinstance(load_supernet(path), type(supernet))


def test_correlations_have_flops_baseline_and_combination():
    space = tiny_spaces()["macro"]
    ranked = [Ranked(space.parse(f"{i:08d}".replace("3", "2")), acc, true, flops)
              for i, (acc, true, flops) in enumerate([(0.1, 80, 1), (0.3, 85, 3), (0.2, 90, 2), (0.4, 91, 4)])]
    rows = {(r["predictor"], r["target"]): r for r in correlations(ranked)}
    assert rows[("flops", "true_accuracy")]["kendall"] == pytest.approx(2 / 3)
    assert set(rows) == {("supernet", "true_accuracy"), ("flops", "true_accuracy"),
                         ("supernet+flops", "true_accuracy"), ("supernet", "flops")}


def test_peak_step_memory_grows_with_the_batch():
    net = torch.nn.Sequential(torch.nn.Conv2d(3, 8, 3, padding=1), torch.nn.ReLU())

    def step(n):
        return lambda: net(torch.randn(n, 3, 16, 16)).sum().backward()

    small, large = peak_step_bytes(step(2)), peak_step_bytes(step(8))
    assert 0 < small < large


def test_cli_oneshot_and_supernet(tmp_path):
    from typer.testing import CliRunner

    from nasforge.cli import app

    runner = CliRunner()
    common = ["--task", "cifar10", "--seed", "0", "--threads", "1", "-S", "data_fraction=0.01"]
    out = tmp_path / "gdas"
    res = runner.invoke(app, ["oneshot", "--space", "nb201", "-P", "channels=4", "-P", "cells=1",
                              "--method", "gdas", "--epochs", "1", "--no-final-retrain", "--out", str(out), *common])
    assert res.exit_code == 0, res.output
    assert (out / "trials.db").is_file() and (out / "checkpoint.pt").is_file() and (out / "report.html").is_file()
    out = tmp_path / "spos"
    res = runner.invoke(app, ["supernet", "--space", "macro", "-P", "stem=4", "-P", "head=8", "--method", "spos",
                              "--epochs", "1", "--rank-archs", "4", "-S", "eval_images=16", "-S", "search_trials=2",
                              "-S", "calib_batches=1", "--out", str(out), *common])
    assert res.exit_code == 0, res.output
    with open(out / "ranking.csv") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == 4 and set(rows[0]) == {"arch", "supernet_accuracy", "true_accuracy", "flops", "supernet_loss"}
    with open(out / "correlations.csv") as fh:
        header = next(csv.reader(fh))
    assert {"precision_top10pct", "precision_top5", "kendall_top10pct"} <= set(header)
    assert "top-10% precision" in res.output and "top-10% kendall" in res.output
    report = (out / "report.html").read_text()
    assert "Supernet ranking" in report and "top-5 precision" in report
