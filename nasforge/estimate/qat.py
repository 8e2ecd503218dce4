"""Training a quantized, pruned network: float training, pruning, calibration, then a
quantization-aware fine-tune whose length is the fidelity of the quantized result.

The schedule (the train-prune-fine-tune of Han et al. 2015 with the quantization-aware
fine-tune of Jacob et al. 2018, as APQ, Wang et al. 2020, fine-tunes its quantized candidates):

1. the network trains in float, unpruned, for the recipe's epochs (masks and fake quantization off);
2. each layer's output channels are pruned by the L1 norm of the trained filters;
3. the activation ranges are calibrated on a seeded sample of the training inputs;
4. with fake quantization and masks on, the network fine-tunes for ``qat_epochs`` epochs at
   ``QAT_LR_SCALE`` times the recipe's learning rate (``0``: post-training quantization only),
   the activation ranges following the batches.

A network without a :class:`~nasforge.space.quantnet.QuantizedNetwork` trains as usual.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor, nn

from nasforge.estimate.recipe import Recipe
from nasforge.estimate.trainer import fit
from nasforge.space.quantnet import find_quantized

QAT_LR_SCALE = 0.1
CALIBRATION_SAMPLES = 512


def fit_maybe_quantized(model: nn.Module, x: Tensor, y: Tensor, recipe: Recipe, qat_epochs: int,
                        on_epoch: Callable[[int, nn.Module], bool] | None = None,
                        on_float: Callable[[nn.Module], None] | None = None) -> float:
    """Train ``model`` in place (the schedule of the module docstring if it is quantized, else
    :func:`~nasforge.estimate.trainer.fit`); returns the last epoch's mean training loss.
    ``on_epoch`` follows the float epochs; ``on_float(model)`` runs once the float training ends
    (e.g. to score the float network), before pruning."""
    qnet = find_quantized(model)
    if qnet is None:
        return fit(model, x, y, recipe, on_epoch)
    if qat_epochs < 0:
        raise ValueError(f"qat_epochs must be >= 0, got {qat_epochs}")
    qnet.set_mode(quantize=False, prune=False)
    loss = fit(model, x, y, recipe, on_epoch)
    if on_float is not None:
        on_float(model)
    qnet.prune_by_l1()
    qnet.set_mode(quantize=True, prune=True)
    pick = torch.randperm(len(x), generator=torch.Generator().manual_seed(recipe.seed + 2))[:CALIBRATION_SAMPLES]
    qnet.calibrate(x[pick.to(x.device)])
    if qat_epochs > 0:
        loss = fit(model, x, y, qat_recipe(recipe, qat_epochs))
    return loss


def qat_recipe(recipe: Recipe, qat_epochs: int) -> Recipe:
    """The fine-tune's recipe: ``qat_epochs`` epochs at a tenth of the learning rate, no weight EMA."""
    return recipe.replace(epochs=qat_epochs, lr=recipe.lr * QAT_LR_SCALE, ema=0.0, seed=recipe.seed + 1)
