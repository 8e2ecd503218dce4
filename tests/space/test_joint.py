"""Joint architecture-recipe spaces: keys, validation, and a training evaluator that honours them."""

from __future__ import annotations

import numpy as np
import pytest

from nasforge.estimate.recipe import Recipe
from nasforge.estimate.train import TrainingEvaluator
from nasforge.space import get_space
from nasforge.space.joint import RECIPE_CHOICES, JointSpace
from nasforge.task import task_from_arrays


@pytest.fixture(scope="module")
def task():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((200, 1, 24)).astype(np.float32)
    y = (x[:, 0, :12].mean(1) > x[:, 0, 12:].mean(1)).astype(np.int64)
    return task_from_arrays(x, y, name="halves", seed=0)


def test_keys_round_trip_and_carry_the_recipe():
    space = JointSpace("nb201", fidelity={"epochs": [1, 3, 9]})
    assert space.fidelity == "epochs" and set(space.recipe_names) == set(RECIPE_CHOICES) - {"epochs"}
    rng = np.random.default_rng(0)
    for _ in range(20):
        arch = space.sample(rng)
        assert space.parse(arch.key) == arch and space.from_json(arch.to_json()) == arch
        assert space.arch(arch.to_dict()) == arch
        assert arch.key.startswith("nb201+joint:|") and "#lr=" in arch.key
        assert space.base_arch(arch).key == arch.key.split("#")[0].replace("nb201+joint", "nb201")
    child = space.mutate(arch, rng)
    assert sum(child[k] != arch[k] for k in arch) == 1
    assert space.encode(arch).sum() == len(space.choices)


def test_bad_settings_are_refused():
    with pytest.raises(ValueError, match="unknown recipe decision"):
        JointSpace("conv1d", recipe=["momentum"])
    with pytest.raises(ValueError, match="both"):
        JointSpace("conv1d", recipe=["lr", "epochs"], fidelity={"epochs": [1, 2]})
    with pytest.raises(ValueError, match="increasing"):
        JointSpace("conv1d", recipe=(), fidelity={"epochs": [3, 1]})
    with pytest.raises(ValueError, match="last option must be 1.0"):
        JointSpace("conv1d", recipe=(), fidelity={"data_fraction": [0.25, 0.5]})
    with pytest.raises(ValueError, match="not an architecture key"):
        JointSpace("conv1d").parse("conv1d+joint:c8k3s1|plain|batch|relu#lr=5")


def test_inactive_base_decisions_stay_canonical():
    space = JointSpace("conv1d", recipe=["lr"])
    a = space.arch({**space.sample(np.random.default_rng(1)).to_dict(), "depth": 1, "channels_3": 64})
    assert a["channels_3"] == space.choice("channels_3").options[0]


def test_evaluator_honours_recipe_decisions(task):
    space = JointSpace("conv1d", recipe={"lr": [0.01, 1e12], "mixup": [0.2], "dropout": [0.2], "ema": [0.99]},
                       fidelity={"data_fraction": [0.5, 1.0]})
    base = get_space("conv1d").parse("conv1d:c8k3s1-c8k3s2|res|batch|relu")
    ev = TrainingEvaluator(space, task, Recipe(epochs=6, batch_size=32, optimizer="sgd"))
    arch = space.join(base, lr=0.01, mixup=0.2, dropout=0.2, ema=0.99, data_fraction=0.5)
    recipe = ev.effective_recipe(task, arch=arch)
    assert (recipe.lr, recipe.mixup, recipe.dropout, recipe.ema, recipe.data_fraction) == (0.01, 0.2, 0.2, 0.99, 0.5)
    first, again = ev.evaluate(arch), ev.evaluate(arch)
    assert first.ok and first.metrics["fidelity"] == 0.5
    assert first.metrics["val_accuracy"] == again.metrics["val_accuracy"]  # deterministic with every option on
    exploding = ev.evaluate(space.join(base, lr=1e12, mixup=0.2, dropout=0.2, ema=0.99, data_fraction=1.0))
    assert exploding.status == "failed" and "NonFiniteMetricError" in exploding.error  # the arch's lr was used
    assert "fidelity" in ev.metric_names()


def test_dropout_leaves_the_state_dict_alone(task):
    import torch

    from nasforge.estimate.trainer import as_tensors, fit

    space = get_space("conv1d")
    torch.manual_seed(0)
    model = space.build(space.parse("conv1d:c8k3s1|plain|none|relu"), task)
    keys = list(model.state_dict())
    fit(model, *as_tensors(task.x_train, task.y_train), Recipe(epochs=1, dropout=0.3, ema=0.9))
    assert list(model.state_dict()) == keys
    assert not model.head._forward_pre_hooks
