"""Batch-norm handling for inherited weights (Guo et al. 2020 SPOS; Yu et al. 2020 "How to
Train Your Super-Net").

A subnet that inherits its weights from a supernet also inherits running BN statistics that
were averaged over *other* paths, so they rarely fit it. Three evaluation modes:

- ``recalibrate`` (SPOS, OFA): reset the running statistics and re-estimate them (cumulative
  average) on a few training batches, then evaluate in eval mode;
- ``train``: use the statistics of each evaluation batch (train-mode BN at evaluation);
- ``running``: use the inherited running statistics as they are (the naive baseline).

Only running statistics (buffers) change; weights never do.
"""

from __future__ import annotations

from collections.abc import Iterable

import torch
from torch import Tensor, nn

BN_MODES = ("recalibrate", "train", "running")


def batch_norms(model: nn.Module) -> list[nn.modules.batchnorm._BatchNorm]:
    """Every BatchNorm layer of ``model``."""
    return [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]


@torch.no_grad()
def recalibrate_bn(model: nn.Module, batches: Iterable[Tensor]) -> int:
    """Re-estimate running BN statistics of ``model`` on ``batches`` (inputs only).

    Statistics are reset and then averaged over all batches with equal weight (``momentum =
    None``); the model is left in eval mode. Returns the number of samples seen.
    """
    norms = batch_norms(model)
    saved = [bn.momentum for bn in norms]
    for bn in norms:
        bn.reset_running_stats()
        bn.momentum = None
    model.train()
    seen = 0
    try:
        for xb in batches:
            model(xb)
            seen += len(xb)
    finally:
        for bn, momentum in zip(norms, saved, strict=True):
            bn.momentum = momentum
        model.eval()
    if seen == 0:
        raise ValueError("recalibrate_bn needs at least one batch")
    return seen


def use_batch_statistics(model: nn.Module) -> None:
    """Make every BN layer normalise with the current batch's statistics, also in eval mode."""
    for bn in batch_norms(model):
        bn.track_running_stats = False
        bn.running_mean = None
        bn.running_var = None


def prepare_bn(model: nn.Module, mode: str, batches: Iterable[Tensor] = ()) -> nn.Module:
    """Apply BN evaluation ``mode`` (see the module docstring) to ``model`` in place."""
    if mode not in BN_MODES:
        raise ValueError(f"bn_mode must be one of {BN_MODES}, got {mode!r}")
    if mode == "recalibrate" and batch_norms(model):  # a model without BN (a transformer) has none to redo
        recalibrate_bn(model, batches)
    elif mode == "train":
        use_batch_statistics(model)
    model.eval()
    return model
