"""Faults: retries of failed trials, timeouts, a driver stopped mid-retry, locked and unwritable runs."""

from __future__ import annotations

import errno
import os
import subprocess
import sys
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from faulty import FaultyEvaluator
from toys import toy_space
from typer.testing import CliRunner

from nasforge.cli import app
from nasforge.core.objectives import Objective
from nasforge.core.records import COMPLETE, FAILED, RUNNING
from nasforge.experiment import run_dir as rd
from nasforge.experiment.budget import Budget
from nasforge.experiment.executors import ProcessExecutor, SerialExecutor
from nasforge.experiment.experiment import Experiment
from nasforge.experiment.storage import Storage
from nasforge.run.config import load_config
from nasforge.run.runner import build_experiment
from nasforge.strategy.base import get_strategy
from nasforge.task import task_from_arrays

runner = CliRunner()


def make(tmp_path, evaluator, trials=10, retries=0, name="t.db", executor=None, tells=None):
    strategy = get_strategy("evolution", population_size=4, sample_size=2)
    if tells is not None:
        told = strategy.tell
        strategy.tell = lambda arch, metrics: (tells.update([arch.key]), told(arch, metrics))
    return Experiment(toy_space(), strategy, evaluator, Storage(tmp_path / name), [Objective("score")],
                      Budget(trials=trials), seed=2, executor=executor or SerialExecutor(), retries=retries)


def folder(tmp_path, name="calls"):
    path = tmp_path / name
    path.mkdir()
    return path


def test_an_exception_is_retried_as_the_same_trial(tmp_path):
    exp = make(tmp_path, FaultyEvaluator(folder(tmp_path), "raise", calls=(2,)), retries=1)
    trials = exp.run()
    assert len(trials) == 10 and all(t.status == COMPLETE for t in trials)
    assert len({t.arch.key for t in trials}) == 10
    [attempt] = exp.storage.attempts()
    assert attempt["reason"] == "exception" and "deliberate failure at evaluation 2" in attempt["error"]
    assert attempt["attempt"] == 1 and attempt["status"] == FAILED
    assert next(t for t in trials if t.number == attempt["number"]).attempt == 2


def test_failing_every_attempt_ends_failed_and_is_told_once(tmp_path):
    tells: Counter[str] = Counter()
    exp = make(tmp_path, FaultyEvaluator(folder(tmp_path), "nan", calls=(2, 3, 4, 7)), retries=2, tells=tells)
    trials = exp.run()
    failed = [t for t in trials if t.status == FAILED]
    assert len(trials) == 10 and len(failed) == 1
    assert failed[0].attempt == 3 and failed[0].info["reason"] == "nan" and "non-finite" in failed[0].error
    assert [a["reason"] for a in exp.storage.attempts(failed[0].number)] == ["nan", "nan"]
    retried_ok = [t for t in trials if t.attempt == 2]
    assert len(retried_ok) == 1 and retried_ok[0].status == COMPLETE
    assert set(tells.values()) == {1} and len(tells) == 10, "the strategy sees one tell per trial"


def test_serial_timeout_stops_a_trial_and_the_search_goes_on(tmp_path):
    exp = make(tmp_path, FaultyEvaluator(folder(tmp_path), "hang", calls=(3,)), trials=5,
               executor=SerialExecutor(trial_timeout=0.5))
    trials = exp.run()
    failed = [t for t in trials if t.status == FAILED]
    assert len(trials) == 5 and len(failed) == 1
    assert failed[0].info["reason"] == "timeout" and 0.5 <= failed[0].cost_seconds < 10


def test_replay_with_retries_equals_live_run(tmp_path):
    faults = {"fault": "raise", "calls": (3, 4, 9, 14)}
    live = make(tmp_path, FaultyEvaluator(folder(tmp_path, "a"), **faults), trials=16, retries=1, name="live.db").run()
    split = FaultyEvaluator(folder(tmp_path, "b"), **faults)
    make(tmp_path, split, trials=6, retries=1, name="split.db").run()
    resumed = make(tmp_path, split, trials=16, retries=1, name="split.db").run()
    assert [(t.arch.key, t.status, t.attempt) for t in resumed] == [(t.arch.key, t.status, t.attempt) for t in live]


def test_driver_stopped_mid_retry_resumes_without_duplicates(tmp_path):
    """Evaluation 3 fails; its retry (evaluation 4) is cut short by the driver stopping."""
    calls = folder(tmp_path)
    with pytest.raises(KeyboardInterrupt):
        make(tmp_path, FaultyEvaluator(calls, "raise", calls=(3,), interrupt=(4,)), retries=1).run()
    storage = Storage(tmp_path / "t.db")
    [cut] = [t for t in storage.trials() if t.status == RUNNING]
    assert cut.attempt == 2 and len(storage.attempts(cut.number)) == 1
    storage.close()

    resumed = make(tmp_path, FaultyEvaluator(calls), retries=1).run()
    assert len(resumed) == 10 and len({t.arch.key for t in resumed}) == 10
    assert all(t.status == COMPLETE for t in resumed)
    again = next(t for t in resumed if t.number == cut.number)
    assert again.attempt == 3, "the cut attempt counts; it is not a failure of the trial"
    live = make(tmp_path, FaultyEvaluator(folder(tmp_path, "live"), "raise", calls=(3,)), retries=1,
                name="live.db").run()
    assert [t.arch.key for t in resumed] == [t.arch.key for t in live]


def test_config_wires_executor_timeout_and_retries():
    cfg = load_config(executor="processes", workers=2, threads_per_worker=1, trial_timeout=30, retries=2)
    exp = build_experiment(cfg, Storage(":memory:"))
    assert isinstance(exp.executor, ProcessExecutor) and exp.executor.workers == 2
    assert exp.executor.trial_timeout == 30 and exp.executor.threads_per_worker == 1 and exp.retries == 2


# ---------------------------------------------------------------- the run directory


def _run_dir(tmp_path: Path) -> Path:
    path = tmp_path / "run"
    path.mkdir()
    Storage(path / rd.DB).close()
    (path / rd.CONFIG).write_text(load_config(budget={"trials": 1}).to_yaml())
    return path


def test_a_second_process_on_a_run_directory_is_refused(tmp_path):
    path = _run_dir(tmp_path)
    code = ("import sys, time; from pathlib import Path; from nasforge.experiment.run_dir import RunLock; "
            "RunLock(Path(sys.argv[1])).__enter__(); print('locked', flush=True); time.sleep(60)")
    holder = subprocess.Popen([sys.executable, "-c", code, str(path)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        result = runner.invoke(app, ["resume", str(path)])
    finally:
        holder.kill()
        holder.wait()
    assert result.exit_code == 2 and f"in use by process {holder.pid}" in result.output, result.output
    assert Storage(path / rd.DB).count() == 0


@pytest.mark.parametrize("code, cause", [
    (errno.EROFS, "is on a read-only file system"),
    (errno.ENOSPC, "is on a full disk"),
    (errno.EACCES, "is not writable (permission denied)"),
])
def test_an_unwritable_disk_is_refused_before_any_work(tmp_path, monkeypatch, code, cause):
    def failing_probe(folder):
        raise OSError(code, os.strerror(code))

    monkeypatch.setattr(rd, "write_probe", failing_probe)
    result = runner.invoke(app, ["search", "--trials", "1", "--run-dir", str(tmp_path / "new" / "run")])
    assert result.exit_code == 2 and "cannot create the run directory" in result.output and cause in result.output
    assert not (tmp_path / "new").exists()
    path = _run_dir(tmp_path)
    result = runner.invoke(app, ["resume", str(path)])
    assert result.exit_code == 2 and f"cannot continue the run in {path}" in result.output


def test_a_nearly_full_disk_is_refused(tmp_path, monkeypatch):
    monkeypatch.setattr(rd.shutil, "disk_usage", lambda _: type("U", (), {"free": 2**20})())
    with pytest.raises(rd.RunDirError, match=r"is full \(1.0 MiB free"):
        rd.check_new(tmp_path / "run")


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes through a read-only mode; see the monkeypatched tests")
def test_a_read_only_directory_is_refused(tmp_path):
    locked = tmp_path / "ro"
    locked.mkdir()
    locked.chmod(0o555)
    try:
        with pytest.raises(rd.RunDirError, match="is not writable"):
            rd.check_new(locked / "run")
    finally:
        locked.chmod(0o755)


def test_executor_that_cannot_start_leaves_no_run_directory(tmp_path, monkeypatch):
    from nasforge.experiment.executors import ExecutorError, SerialExecutor

    def broken(self, evaluator):
        raise ExecutorError("workers could not start")

    monkeypatch.setattr(SerialExecutor, "start", broken)
    cfg = load_config(budget={"trials": 1}, evaluator={"epochs": 1}, final_retrain=False)
    from nasforge.run.runner import start_search

    rng = np.random.default_rng(0)
    task = task_from_arrays(rng.standard_normal((100, 1, 40)).astype(np.float32), rng.integers(0, 3, 100))
    with pytest.raises(ExecutorError):
        start_search(cfg, tmp_path / "run", task=task)
    assert not (tmp_path / "run").exists()
