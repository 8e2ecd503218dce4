"""Learning-curve extrapolation and early stopping inside the training evaluator."""

from __future__ import annotations

import numpy as np
import pytest

from nasforge.estimate.curves import CurveStopper, extrapolate
from nasforge.estimate.recipe import Recipe
from nasforge.estimate.train import TrainingEvaluator
from nasforge.space import get_space
from nasforge.space.joint import JointSpace
from nasforge.task import task_from_arrays

T = np.arange(1, 7)
GOOD = 0.9 - 0.5 * T**-0.8
BAD = 0.4 - 0.3 * T**-1.0


def test_extrapolation_recovers_a_power_law():
    mean, std = extrapolate(GOOD, 20)
    assert abs(mean - (0.9 - 0.5 * 20**-0.8)) < 0.02 and 0 < std < 0.1


def test_stopper_stops_only_hopeless_curves():
    stop = CurveStopper(probability=0.05, min_fraction=0.25)
    assert stop.should_stop(BAD, 20, incumbent=0.85)
    assert not stop.should_stop(GOOD, 20, incumbent=0.85)
    assert not stop.should_stop(BAD, 20, incumbent=None)
    assert not stop.should_stop(BAD[:3], 20, incumbent=0.85)  # before min_fraction of the epochs
    with pytest.raises(ValueError):
        CurveStopper(probability=1.5)


def test_evaluator_stops_a_bad_trial_early():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((240, 1, 24)).astype(np.float32)
    y = (x[:, 0, :12].mean(1) > x[:, 0, 12:].mean(1)).astype(np.int64)
    task = task_from_arrays(x, y, name="halves", seed=0)
    space = JointSpace("conv1d", recipe={"lr": [0.03, 1e-6]})
    base = get_space("conv1d").parse("conv1d:c8k3s1-c8k3s2|res|batch|relu")
    ev = TrainingEvaluator(space, task, Recipe(epochs=10, batch_size=32),
                           early_stopping=CurveStopper(probability=0.2, min_fraction=0.3))
    good = ev.evaluate(space.join(base, lr=0.03))
    assert good.ok and good.metrics["fidelity"] == 1.0 and len(good.info["curve"]) == 10
    bad = ev.evaluate(space.join(base, lr=1e-6))
    assert bad.ok and bad.info["stopped_early"] and bad.metrics["fidelity"] < 1.0
