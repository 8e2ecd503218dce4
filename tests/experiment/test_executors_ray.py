"""The Ray executor on a real local Ray instance (one per module: starting Ray takes seconds)."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest
from faulty import FaultyEvaluator, Unloadable, kill_victim_when_ready, overlapping, search

from nasforge.core.records import COMPLETE, FAILED
from nasforge.experiment.executors import get_executor

ray = pytest.importorskip("ray", reason="the ray extra is not installed (pip install 'nasforge[ray]')")


@pytest.fixture(scope="module", autouse=True)
def local_ray():
    """Two CPUs, like the project's machine; the executors reuse it and leave it running.

    The workers import the tests' helper modules (``faulty``, ``toys``) from ``tests/``.
    """
    tests = str(Path(__file__).parents[1])
    path = os.pathsep.join(p for p in (tests, os.environ.get("PYTHONPATH")) if p)
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, logging_level="ERROR",
             runtime_env={"env_vars": {"PYTHONPATH": path}})
    yield
    ray.shutdown()


def test_two_actors_run_trials_side_by_side(tmp_path):
    executor = get_executor("ray", workers=2, threads_per_worker=1)
    trials, _ = search(tmp_path, FaultyEvaluator(tmp_path, seconds=0.3), executor)
    assert len(trials) == 8 and all(t.status == COMPLETE for t in trials)
    assert len({t.metrics["pid"] for t in trials}) == 2 and overlapping(trials)
    assert ray.is_initialized(), "a Ray instance started by the user is left running"
    node = ray.get_runtime_context().get_node_id()
    assert all(t.info["worker"]["pid"] == t.metrics["pid"] and t.info["worker"]["node_id"] == node for t in trials)


def test_worker_killed_mid_trial_is_recorded_and_retried(tmp_path):
    """SIGKILL the actor process running the 3rd evaluation: stored failed, retried, budget met."""
    killer = threading.Thread(target=kill_victim_when_ready, args=(tmp_path,), daemon=True)
    killer.start()
    evaluator = FaultyEvaluator(tmp_path, "await_kill", calls=(3,), seconds=0.05)
    trials, storage = search(tmp_path, evaluator, get_executor("ray", workers=2, threads_per_worker=1), retries=1)
    killer.join(1)
    assert len(trials) == 8 and len({t.arch.key for t in trials}) == 8
    assert all(t.status == COMPLETE for t in trials)
    victim_pid = int((tmp_path / "victim.pid").read_text())
    [attempt] = storage.attempts()
    assert attempt["reason"] == "worker died" and str(victim_pid) in attempt["error"]
    retried = next(t for t in trials if t.number == attempt["number"])
    assert retried.attempt == 2 and retried.metrics["pid"] != victim_pid


def test_trial_past_its_timeout_is_stopped_and_failed(tmp_path):
    evaluator = FaultyEvaluator(tmp_path, "hang", calls=(2,), hang_seconds=120)
    executor = get_executor("ray", workers=2, threads_per_worker=1, trial_timeout=1.5)
    trials, _ = search(tmp_path, evaluator, executor, trials=6)
    failed = [t for t in trials if t.status == FAILED]
    assert len(trials) == 6 and len(failed) == 1
    assert failed[0].info["reason"] == "timeout" and 1.5 <= failed[0].cost_seconds < 30
    assert failed[0].info["worker"]["executor"] == "ray" and failed[0].info["worker"]["pid"] > 0


def test_resources_the_cluster_lacks_are_refused(tmp_path):
    from nasforge.experiment.executors import ExecutorError

    executor = get_executor("ray", workers=1, gpus_per_trial=1.0)
    with pytest.raises(ExecutorError, match="gpus_per_trial=1 but the Ray cluster has 0 GPU"):
        executor.start(FaultyEvaluator(tmp_path))


def test_a_worker_that_cannot_start_is_a_clear_error():
    from nasforge.experiment.executors import ExecutorError

    with pytest.raises(ExecutorError, match="Ray worker failed to start"):
        get_executor("ray", workers=1, threads_per_worker=1).start(Unloadable())


def test_training_evaluator_runs_in_ray_actors(tmp_path):
    """Real training through Ray: the evaluator and its Task pickle into the object store and back."""
    import numpy as np

    from nasforge.core.objectives import Objective
    from nasforge.estimate.recipe import Recipe
    from nasforge.estimate.train import TrainingEvaluator
    from nasforge.experiment.budget import Budget
    from nasforge.experiment.experiment import Experiment
    from nasforge.experiment.storage import Storage
    from nasforge.space import get_space
    from nasforge.strategy.base import get_strategy
    from nasforge.task import task_from_arrays

    rng = np.random.default_rng(0)
    task = task_from_arrays(rng.standard_normal((300, 1, 40)).astype(np.float32), rng.integers(0, 3, 300))
    space = get_space("conv1d", channels=(4, 8), max_depth=2)
    evaluator = TrainingEvaluator(space, task, Recipe(epochs=1, batch_size=64))
    exp = Experiment(space, get_strategy("random"), evaluator, Storage(tmp_path / "t.db"),
                     [Objective("val_accuracy")], Budget(trials=2),
                     executor=get_executor("ray", workers=2, threads_per_worker=1))
    trials = exp.run()
    assert [t.status for t in trials] == [COMPLETE] * 2
    assert all(0 <= t.metrics["val_accuracy"] <= 1 and t.metrics["params"] > 0 for t in trials)
