"""BigNAS training heuristics for weight-sharing supernets (Yu et al. 2020, "BigNAS: Scaling Up
Neural Architecture Search with Big Single-Stage Models"), settings of the path-sampling
methods (:mod:`nasforge.oneshot.spos`); all off by default.

- ``zero_init_last_bn``: the last BatchNorm's scale (gamma) of every residual block starts at
  zero, so each block starts as the identity and deep and shallow children start alike
  (:func:`zero_init_last_bn`; needs ``bn_affine``).
- ``decay_scope="largest"``: weight decay regularises only the largest child, and never BN
  parameters or biases: after the largest path's backward pass, ``weight_decay * w`` is added to
  the gradient of every weight matrix/kernel it used (:func:`add_decay`); the optimiser itself
  has no decay. Needs the sandwich rule (the largest child trains every step).
- ``complexity_sampling``: random children are drawn so that their FLOPs spread evenly over the
  space's range instead of crowding its middle, as uniform sampling does
  (:class:`ComplexitySampler`; a FLOPs target drawn uniformly between the smallest and the
  largest of a pool of random archs, then the pool's arch nearest to it, as in the FLOPs-targeted
  sampling of Wang et al. 2021, AttentiveNAS).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np
import torch
from torch import nn

from nasforge.oneshot.elastic import ElasticMBConv
from nasforge.space.arch import Arch

#: random archs whose FLOPs the complexity sampler picks from
POOL = 1000


def residual_blocks(supernet: nn.Module) -> list[ElasticMBConv]:
    """The elastic MBConv layers of ``supernet`` that add their input (stride 1, same channels)."""
    return [m for m in supernet.modules() if isinstance(m, ElasticMBConv) and m.stride == 1
            and m.project.weight.shape[0] == m.expand.weight.shape[1]]


@torch.no_grad()
def zero_init_last_bn(supernet: nn.Module) -> int:
    """Zero the last BN's gamma of every residual block of ``supernet``; returns how many."""
    blocks = residual_blocks(supernet)
    if not blocks:
        name = getattr(getattr(supernet, "space", None), "name", type(supernet).__name__)
        raise ValueError(f"zero_init_last_bn: the {name!r} supernet has no residual blocks (it applies to the "
                         "macro and mbconv supernets)")
    for block in blocks:
        if block.bn3.weight is None:
            raise ValueError("zero_init_last_bn needs learnable BN scales: set bn_affine true")
        block.bn3.weight.zero_()
    return len(blocks)


def decayed_parameters(supernet: nn.Module) -> list[nn.Parameter]:
    """Weights that take decay under ``decay_scope="largest"``: convolution kernels and linear
    matrices (two or more dimensions), never BN parameters, biases or architecture parameters."""
    arch = {id(p) for p in getattr(supernet, "arch_parameters", list)()}
    return [p for p in supernet.parameters() if p.dim() > 1 and id(p) not in arch]


@torch.no_grad()
def add_decay(params: Iterable[nn.Parameter], weight_decay: float) -> None:
    """Add ``weight_decay * w`` to the gradient of every parameter in ``params`` that has one."""
    for p in params:
        if p.grad is not None:
            p.grad.add_(p, alpha=weight_decay)


def block_flops(space: Any, shape: Any) -> Any:
    """``flops(arch)``: the sum of its blocks' FLOPs (MACs), each block counted once and cached."""
    from nasforge.hardware.metrics import count_flops
    from nasforge.oneshot.ranking import arch_flops

    cache: dict[str, float] = {}

    def flops(arch: Arch) -> float:
        if not hasattr(space, "blocks"):
            return arch_flops(arch, space, shape)
        total = 0.0
        for spec in space.blocks(arch, shape):
            if spec.signature not in cache:
                cache[spec.signature] = float(count_flops(spec.build(), spec.input_shape)) / 2
            total += cache[spec.signature]
        return total

    return flops


class ComplexitySampler:
    """Draws archs of ``space`` with FLOPs spread evenly (see the module docstring); the pool comes
    from ``seed``, each draw from the generator passed to :meth:`sample`."""

    def __init__(self, space: Any, shape: Any, seed: int, pool: int = POOL) -> None:
        rng = np.random.default_rng([seed, 7])
        archs = {a.key: a for a in (space.sample(rng) for _ in range(pool))}
        flops = block_flops(space, shape)
        ranked = sorted((flops(a), a.key) for a in archs.values())
        self.flops = np.array([f for f, _ in ranked])
        self.archs = [archs[k] for _, k in ranked]

    def sample(self, rng: np.random.Generator) -> Arch:
        target = rng.uniform(self.flops[0], self.flops[-1])
        i = int(np.searchsorted(self.flops, target))
        near = [j for j in (i - 1, i) if 0 <= j < len(self.flops)]
        best = min(abs(self.flops[j] - target) for j in near)
        ties = np.flatnonzero(np.abs(self.flops - target) <= best + 1e-9)
        return self.archs[int(ties[rng.integers(len(ties))])]
