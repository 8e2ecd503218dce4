"""The processes executor: parallel trials, a killed worker, a timeout, and its contract."""

from __future__ import annotations

import os
import subprocess
import sys
import threading

import pytest
from faulty import (
    FaultyEvaluator,
    Unloadable,
    evaluations,
    kill_victim_when_ready,
    overlapping,
    search,
)

from nasforge.core.records import COMPLETE, FAILED
from nasforge.experiment.executors import (
    EXECUTORS,
    ExecutorError,
    ProcessExecutor,
    executor_from_settings,
    get_executor,
)


def test_two_workers_run_trials_side_by_side(tmp_path):
    executor = ProcessExecutor(workers=2, threads_per_worker=1)
    trials, _ = search(tmp_path, FaultyEvaluator(tmp_path, seconds=0.3), executor)
    assert len(trials) == 8 and all(t.status == COMPLETE for t in trials)
    assert len({t.metrics["pid"] for t in trials}) == 2
    assert overlapping(trials), "two workers should overlap in time"
    assert all(not os.path.exists(f"/proc/{pid}") or _zombie(pid) for pid in {int(t.metrics["pid"]) for t in trials})


def _zombie(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().split()[2] == "Z"
    except FileNotFoundError:
        return True


def test_worker_killed_mid_trial_is_recorded_and_retried(tmp_path):
    """SIGKILL the worker running the 3rd evaluation: the trial is stored failed, retried, and the search ends."""
    killer = threading.Thread(target=kill_victim_when_ready, args=(tmp_path,), daemon=True)
    killer.start()
    evaluator = FaultyEvaluator(tmp_path, "await_kill", calls=(3,), seconds=0.05)
    trials, storage = search(tmp_path, evaluator, ProcessExecutor(workers=2, threads_per_worker=1), retries=1)
    killer.join(1)
    assert len(trials) == 8 and len({t.arch.key for t in trials}) == 8
    assert all(t.status == COMPLETE for t in trials)
    victim_pid = int((tmp_path / "victim.pid").read_text())
    [attempt] = storage.attempts()
    assert attempt["reason"] == "worker died" and f"worker process {victim_pid} was killed by SIGKILL" in attempt["error"]
    retried = next(t for t in trials if t.number == attempt["number"])
    assert retried.attempt == 2 and retried.metrics["pid"] != victim_pid


def test_worker_that_dies_without_retries_fails_its_trial_only(tmp_path):
    evaluator = FaultyEvaluator(tmp_path, "die", calls=(2,), seconds=0.05)
    trials, storage = search(tmp_path, evaluator, ProcessExecutor(workers=2, threads_per_worker=1), trials=6)
    failed = [t for t in trials if t.status == FAILED]
    assert len(trials) == 6 and len(failed) == 1
    assert failed[0].info["reason"] == "worker died" and "SIGKILL" in failed[0].error
    assert storage.attempts() == []


def test_each_trial_records_the_process_that_ran_it(tmp_path):
    """``info["worker"]``: host and pid of the worker (the one that died, for a trial lost with it)."""
    import socket

    evaluator = FaultyEvaluator(tmp_path, "die", calls=(2,), seconds=0.05)
    trials, _ = search(tmp_path, evaluator, ProcessExecutor(workers=2, threads_per_worker=1), trials=5)
    host = socket.gethostname()
    for t in trials:
        worker = t.info["worker"]
        assert worker["executor"] == "processes" and worker["host"] == host and worker["pid"] != os.getpid()
        if t.status == COMPLETE:
            assert worker["pid"] == t.metrics["pid"]
    [died] = [t for t in trials if t.status == FAILED]
    assert f"worker process {died.info['worker']['pid']} was killed" in died.error
    serial, _ = search(tmp_path, FaultyEvaluator(tmp_path), get_executor("serial"), trials=2, name="s.db")
    assert [t.info["worker"] for t in serial] == [{"executor": "serial", "host": host, "pid": os.getpid()}] * 2
    from nasforge.experiment.executors.base import where_ran

    assert where_ran(t.info for t in serial) == [f"{host}: 2 trials, 1 worker process"]  # nasforge show's line


def test_trial_past_its_timeout_is_stopped_and_failed(tmp_path):
    evaluator = FaultyEvaluator(tmp_path, "hang", calls=(2,), hang_seconds=120)
    executor = ProcessExecutor(workers=2, threads_per_worker=1, trial_timeout=1.0)
    trials, _ = search(tmp_path, evaluator, executor, trials=6)
    failed = [t for t in trials if t.status == FAILED]
    assert len(trials) == 6 and len(failed) == 1
    assert failed[0].info["reason"] == "timeout" and failed[0].error.startswith("timeout:")
    assert 1.0 <= failed[0].cost_seconds < 30
    assert evaluations(tmp_path) == 6


def test_a_worker_that_cannot_start_is_a_clear_error(tmp_path):
    executor = ProcessExecutor(workers=1, threads_per_worker=1)
    with pytest.raises(ExecutorError, match="worker process failed to start"):
        executor.start(Unloadable())


def test_importing_nasforge_does_not_import_ray():
    code = ("import sys, nasforge, nasforge.cli, nasforge.run.runner, nasforge.experiment.executors; "
            "print('ray' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_registry_and_settings():
    assert EXECUTORS.list() == ["processes", "ray", "serial"]
    assert isinstance(executor_from_settings("processes", workers=3, trial_timeout=5.0, retries_ignored=None),
                      ProcessExecutor)
    with pytest.raises(ValueError, match="does not take"):
        executor_from_settings("processes", workers=2, gpus_per_trial=0.5)
    with pytest.raises(ValueError, match="one trial at a time"):
        get_executor("serial", workers=2)
    for bad in (0, -1.0, float("nan")):
        with pytest.raises(ValueError, match="trial_timeout"):
            get_executor("processes", trial_timeout=bad)
    with pytest.raises(ValueError, match="workers"):
        get_executor("processes", workers=0)
