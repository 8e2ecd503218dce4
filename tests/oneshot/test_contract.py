"""The contract every one-shot method passes, on every space its supernet requirements allow
(parametrized over ``METHODS`` x ``supported_spaces()``): it produces a run directory, it is
seeded, and a run stopped after an epoch (or mid-search) and resumed equals an uninterrupted one.
The SIGKILL version of the resume check is in ``tests/test_kill_resume.py``."""

from __future__ import annotations

import json
import sqlite3

import pytest
from oneshot_toys import tiny_spaces, tiny_task, tiny_task_for

import nasforge
from nasforge.oneshot.base import METHODS
from nasforge.run.runner import resume_search

SETTINGS = {"epochs": 3, "batch_size": 12, "search_trials": 3, "calib_batches": 1, "pt_tune_steps": 1,
            "latency_weight": 0.1, "eval_images": 8, "warmup_fraction": 0.1}
CASES = [(m, s) for m in METHODS.list() for s in METHODS.get(m).supported_spaces()]
#: (method, check) -> why it cannot pass
EXPECTED_FAILURES: dict[tuple[str, str], str] = {}


def xfail(method, check):
    if (method, check) in EXPECTED_FAILURES:
        pytest.xfail(EXPECTED_FAILURES[(method, check)])


@pytest.fixture(autouse=True)
def _shared_latency_table(tmp_path_factory, monkeypatch):
    """ProxylessNAS measures its latency term when a run starts; runs compared here share one
    table file, as runs meant to be compared should (``latency_table``)."""
    monkeypatch.setitem(SETTINGS, "latency_table", str(tmp_path_factory.getbasetemp() / "edge-latency.json"))


class Stop(Exception):
    """Stands in for a kill at an epoch boundary or between trials."""


def run(method, space, path, seed=0, stop_at_epoch=None, stop_at_trial=None):
    def on_epoch(record, total):
        if record.epoch == stop_at_epoch:
            raise Stop

    def on_trial(experiment, trial):
        if trial.number == stop_at_trial:
            raise Stop

    from nasforge.run.config import load_config
    from nasforge.run.runner import start_search

    space_obj, task = tiny_spaces()[space], tiny_task_for(space)
    cfg = load_config(context={"space": space_obj, "task": task}, task=task.name, space=space_obj.name,
                      strategy=method, strategy_settings=SETTINGS, seed=seed, final_retrain=False)
    return start_search(cfg, path, space=space_obj, task=task, callbacks=[on_trial], on_epoch=on_epoch)


def contents(path):
    """Epochs (derived arch, loss, probabilities) and trials (arch, status, metrics) of a run."""
    with sqlite3.connect(path / "trials.db") as db:
        epochs = [json.loads(r)["derived"] + repr(json.loads(r)["train_loss"]) + json.dumps(json.loads(r)["arch_weights"])
                  for (r,) in db.execute("SELECT record FROM epochs ORDER BY epoch")]
        trials = db.execute("SELECT number, arch_key, status, metrics FROM trials ORDER BY number").fetchall()
    return epochs, trials


def test_every_method_declares_a_space():
    assert all(METHODS.get(m).supported_spaces() for m in METHODS.list())
    assert {s for _, s in CASES} == {"nb201", "macro", "mbconv", "vit", "gpt"}


@pytest.mark.parametrize("method,space", CASES)
def test_produces_a_run_directory(method, space, tmp_path):
    result = run(method, space, tmp_path / "r")
    path = tmp_path / "r"
    for name in ("config.yaml", "trials.db", "checkpoint.pt", "supernet.pt", "pareto.csv", "report.html"):
        assert (path / name).is_file(), name
    epochs, trials = contents(path)
    assert len(epochs) == SETTINGS["epochs"]
    expected = SETTINGS["search_trials"] if METHODS.get(method).searches else 1
    assert len([t for t in trials if t[2] != "cached"]) == expected
    assert result.best is not None
    assert "trajectory" in (path / "report.html").read_text().lower()


@pytest.mark.parametrize("method,space", CASES)
def test_same_seed_same_run_and_another_seed_differs(method, space, tmp_path):
    xfail(method, "seeded")
    run(method, space, tmp_path / "a", seed=3)
    run(method, space, tmp_path / "b", seed=3)
    run(method, space, tmp_path / "c", seed=4)
    assert contents(tmp_path / "a") == contents(tmp_path / "b")
    assert contents(tmp_path / "a")[0] != contents(tmp_path / "c")[0]


@pytest.mark.parametrize("method,space", CASES)
def test_resumed_after_an_epoch_equals_uninterrupted(method, space, tmp_path):
    run(method, space, tmp_path / "live")
    with pytest.raises(Stop):
        run(method, space, tmp_path / "cut", stop_at_epoch=2)
    assert len(contents(tmp_path / "cut")[0]) == 2
    resume_search(tmp_path / "cut", space=tiny_spaces()[space], task=tiny_task_for(space))
    assert contents(tmp_path / "cut") == contents(tmp_path / "live")


@pytest.mark.parametrize("method,space", [(m, s) for m, s in CASES if METHODS.get(m).searches][:2])
def test_resumed_mid_search_equals_uninterrupted(method, space, tmp_path):
    run(method, space, tmp_path / "live")
    with pytest.raises(Stop):
        run(method, space, tmp_path / "cut", stop_at_trial=2)
    resume_search(tmp_path / "cut", space=tiny_spaces()[space], task=tiny_task_for(space))
    assert contents(tmp_path / "cut") == contents(tmp_path / "live")


def test_settings_are_validated_like_a_strategys(tmp_path):
    with pytest.raises(ValueError, match="arch_lrr: unknown one-shot setting"):
        nasforge.search(tiny_task(), tiny_spaces()["nb201"], "darts", strategy_settings={"arch_lrr": 1},
                        run_dir=tmp_path / "r")
    with pytest.raises(ValueError, match="epochs: Input should be a valid integer"):
        nasforge.search(tiny_task(), tiny_spaces()["nb201"], "darts", strategy_settings={"epochs": "ten"},
                        run_dir=tmp_path / "r")
    with pytest.raises(ValueError, match="cannot search space 'macro'.*nb201"):
        nasforge.search(tiny_task(), tiny_spaces()["macro"], "darts", run_dir=tmp_path / "r")
    with pytest.raises(ValueError, match="evaluator 'proxy' does not apply"):
        nasforge.search(tiny_task(), tiny_spaces()["nb201"], "darts", evaluator="proxy", run_dir=tmp_path / "r")
    assert not (tmp_path / "r").exists()
