"""Training quantized networks: float training, L1 pruning, calibration, QAT fine-tune."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from nasforge.estimate.qat import fit_maybe_quantized
from nasforge.estimate.recipe import Recipe
from nasforge.estimate.train import TrainingEvaluator
from nasforge.space import get_space
from nasforge.space.quant import QuantSpace
from nasforge.task import task_from_arrays

PLAIN = "conv1d:c8k3s1-c8k3s2|res|batch|relu"
KEY = "conv1d+quant:c8k3s1-c8k3s2|res|batch|relu@w8a8k0.5/w4a4k0.5/w8a8k1.0"


def roughness(n: int, seed: int = 0):
    """Smooth random walks (class 0) against white noise (class 1): learnable in a few epochs."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, 1, 24)).astype(np.float32)
    x[: n // 2] = np.cumsum(x[: n // 2], axis=2) / 3
    y = np.r_[np.zeros(n // 2), np.ones(n - n // 2)].astype(np.int64)
    return task_from_arrays(x, y, name="roughness", seed=seed)


@pytest.fixture(scope="module")
def task():
    return roughness(240)


def space() -> QuantSpace:
    return QuantSpace("conv1d")


def test_schedule_prunes_trained_filters_and_calibrates(task):
    arch = space().parse(KEY)
    torch.manual_seed(0)
    model = space().build(arch, task)
    x, y = torch.from_numpy(task.x_train), torch.from_numpy(task.y_train)
    seen = {}

    def on_float(net):
        seen["modes"] = net.modes()
        seen["weights"] = [q.layer.weight.detach().clone() for q in net.quant_layers()]

    fit_maybe_quantized(model, x, y, Recipe(epochs=3, batch_size=32), qat_epochs=1, on_float=on_float)
    assert seen["modes"] == (False, False)  # the float phase trains unquantized and unpruned
    assert model.modes() == (True, True)
    for q, trained in zip(model.quant_layers(), seen["weights"], strict=True):
        assert int(q.mask.sum()) == q.kept and (q.act_bits == 32 or bool(q.act.observed))
        if q.kept < q.out_channels:  # the mask keeps the largest L1 norms of the *trained* float filters
            norms = trained.abs().flatten(1).sum(1)
            assert norms[q.mask == 1].min() >= norms[q.mask == 0].max()


def test_evaluator_reports_quantized_and_float_accuracy(task):
    arch = space().parse(KEY)
    result = TrainingEvaluator(space(), task, Recipe(epochs=8, batch_size=32), qat_epochs=1).evaluate(arch)
    assert result.ok, result.error
    m = result.metrics
    assert "float_val_accuracy" in TrainingEvaluator(space(), task).metric_names()
    assert m["float_val_accuracy"] > 0.7 and m["val_accuracy"] > 0.7  # a learnable rule survives 4-bit layers
    again = TrainingEvaluator(space(), task, Recipe(epochs=8, batch_size=32), qat_epochs=1).evaluate(arch)
    assert again.metrics["val_accuracy"] == m["val_accuracy"]  # deterministic


def test_post_training_quantization_and_float_spaces(task):
    arch = space().parse(KEY)
    ptq = TrainingEvaluator(space(), task, Recipe(epochs=2, batch_size=32), qat_epochs=0).evaluate(arch)
    assert ptq.ok and 0 <= ptq.metrics["val_accuracy"] <= 1
    plain = get_space("conv1d")
    assert "float_val_accuracy" not in TrainingEvaluator(plain, task).metric_names()
    result = TrainingEvaluator(plain, task, Recipe(epochs=1, batch_size=32)).evaluate(plain.parse(PLAIN))
    assert result.ok and "float_val_accuracy" not in result.metrics
    with pytest.raises(ValueError, match="qat_epochs"):
        fit_maybe_quantized(space().build(arch, task), torch.from_numpy(task.x_train), torch.from_numpy(task.y_train),
                            Recipe(epochs=1), qat_epochs=-1)
