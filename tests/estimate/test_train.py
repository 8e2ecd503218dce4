"""The training evaluator: determinism, failures as data, constraints checked before training."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from nasforge.core.objectives import Constraint
from nasforge.estimate.recipe import Recipe
from nasforge.estimate.train import TrainingEvaluator
from nasforge.space import Space, get_space
from nasforge.task import task_from_arrays


@pytest.fixture(scope="module")
def task():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((240, 1, 24)).astype(np.float32)
    x[:120] = np.cumsum(x[:120], axis=2) / 3  # smooth random walks (class 0) vs white noise (class 1)
    y = np.r_[np.zeros(120), np.ones(120)].astype(np.int64)
    return task_from_arrays(x, y, name="roughness", seed=0)


ARCH = "conv1d:c8k3s1-c8k3s2|res|batch|relu"


def test_training_is_deterministic_and_learns(task):
    space = get_space("conv1d")
    arch = space.parse(ARCH)
    runs = [TrainingEvaluator(space, task, Recipe(epochs=12, batch_size=32)).evaluate(arch) for _ in range(2)]
    assert runs[0].ok and runs[0].metrics == {**runs[1].metrics, "train_seconds": runs[0].metrics["train_seconds"]}
    assert runs[0].metrics["val_accuracy"] > 0.7  # a learnable rule: is the signal rough
    assert runs[0].metrics["params"] == sum(p.numel() for p in space.build(arch, task).parameters())


def test_nan_loss_is_a_failed_trial(task):
    space = get_space("conv1d")
    result = TrainingEvaluator(space, task, Recipe(epochs=2, lr=1e12, optimizer="sgd")).evaluate(space.parse(ARCH))
    assert result.status == "failed" and "NonFiniteMetricError" in result.error


def test_build_error_is_a_failed_trial(task):
    def build(arch, task):
        raise RuntimeError(f"cannot build width {arch['w']}")

    space = Space({"w": [1, 2]}, build=build, name="broken")
    result = TrainingEvaluator(space, task, Recipe(epochs=1)).evaluate(space.parse("broken:w=2"))
    assert result.status == "failed" and "cannot build width 2" in result.error


def test_cheap_constraints_skip_training(task):
    space = get_space("conv1d")
    evaluator = TrainingEvaluator(space, task, Recipe(epochs=50), constraints=[Constraint("params", "<=", 10)])
    result = evaluator.evaluate(space.parse(ARCH))
    assert result.status == "infeasible" and "params<=10" in result.error
    assert "val_accuracy" not in result.metrics and result.metrics["params"] > 10


def test_cost_metrics_around_the_training_evaluator(task):
    from nasforge.core.objectives import Constraint
    from nasforge.estimate.costed import CostedEvaluator
    from nasforge.hardware.latency import LatencySettings

    space = get_space("conv1d")
    inner = TrainingEvaluator(space, task, Recipe(epochs=1))
    evaluator = CostedEvaluator(inner, space, task, ["size_mb"], LatencySettings(warmup=1, repeats=3))
    metrics = evaluator.evaluate(space.parse(ARCH)).metrics
    assert metrics["latency_ms"] > 0 and metrics["size_mb"] > 0 and "val_accuracy" in metrics
    with pytest.raises(ValueError, match="unknown static cost metric"):
        CostedEvaluator(inner, space, task, ["speed"])
    tight = CostedEvaluator(inner, space, task, ["size_mb"], constraints=[Constraint("size_mb", "<=", 1e-6)])
    result = tight.evaluate(space.parse(ARCH))
    assert result.status == "infeasible" and "val_accuracy" not in result.metrics


def test_evaluator_pickles_without_tensors(task):
    import pickle

    space = get_space("conv1d")
    evaluator = TrainingEvaluator(space, task, Recipe(epochs=1))
    evaluator.evaluate(space.parse(ARCH))
    clone = pickle.loads(pickle.dumps(evaluator))
    assert clone._data is None and torch.equal(torch.from_numpy(clone.task.x_train), torch.from_numpy(task.x_train))
