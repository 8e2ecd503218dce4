"""EPSINAS (Gracheva 2023, "Neural Architecture Search: Two Constant Shared Weights
Initialisations", arXiv:2302.04406; Artificial Intelligence Review 2025).

Every weight (convolution, linear, BatchNorm scale) is set to one shared constant, biases to 0,
and the batch is passed forward (train mode, no gradients, no labels), once for each of two
constants. Each output vector is min-max normalised over the whole batch; exact zeros are left
out; the score is ``mean |y_1 - y_2| / mean(y_1, y_2)``: the dispersion between the two
initialisations relative to their average magnitude. Works on a copy of the network, in double
precision.

The paper picks the widest pair ``10^a < 10^b`` in ``[1e-7, 1]`` for which under 10% of sampled
networks give constant (underflowed) outputs, and scores only the networks that do not
underflow. In float32 on NB201 that rule gives (1e-3, 1), and the networks it excludes are the
hard cases: scored in float64 with (1e-7, 1) instead, nothing underflows and every network
gets a score, and the ranking is better (``benchmarks/epsinas_constants.py``: on 60 NB201
archs, Spearman with CIFAR-10 accuracy 0.59 against 0.28 for float32 (1e-3, 1)), so that is the
default. ``dtype`` sets the precision of the two forward passes.
"""

from __future__ import annotations

import torch
from torch import nn

from nasforge.estimate.proxies import register_proxy
from nasforge.estimate.proxies.base import Proxy, ProxyBatch, ProxyError, copy_of

#: The two shared weight values: the paper's widest window, usable in float64.
WEIGHTS = (1e-7, 1.0)


def constant_outputs(model: nn.Module, x: torch.Tensor, value: float,
                     dtype: torch.dtype = torch.float64) -> torch.Tensor:
    """Flattened outputs (in ``dtype``) of a copy of ``model`` whose weights all equal ``value``."""
    net = copy_of(model).to(dtype)
    with torch.no_grad():
        for m in net.modules():
            weight = getattr(m, "weight", None)
            if isinstance(weight, torch.Tensor):
                weight.fill_(value)
            bias = getattr(m, "bias", None)
            if isinstance(bias, torch.Tensor):
                bias.zero_()
        return net(x.to(dtype)).reshape(-1).double()


def _normalise(y: torch.Tensor) -> torch.Tensor:
    y = torch.where(torch.isfinite(y), y, torch.nan)
    low, high = torch.nanquantile(y, 0.0), torch.nanquantile(y, 1.0)
    if not high > low:
        raise ProxyError("the outputs are constant over the batch (cannot normalise)")
    return (y - low) / (high - low)


@register_proxy("epsinas")
class Epsinas(Proxy):
    """Output dispersion between two constant shared-weight initialisations."""

    name = "epsinas"
    data = "batch"
    paper = "Gracheva 2023"

    def __init__(self, weights: tuple[float, float] = WEIGHTS, dtype: torch.dtype = torch.float64) -> None:
        self.weights = weights
        self.dtype = dtype

    def score(self, model: nn.Module, batch: ProxyBatch) -> float:
        y1, y2 = (_normalise(constant_outputs(model, batch.x, w, self.dtype)) for w in self.weights)
        both = torch.stack([y1, y2])
        both = torch.where(both == 0, torch.nan, both)
        value = torch.nanmean((both[0] - both[1]).abs()) / torch.nanmean(both)
        if not torch.isfinite(value):
            raise ProxyError("no usable outputs after normalisation")
        return float(value)
