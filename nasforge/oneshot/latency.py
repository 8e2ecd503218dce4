"""Differentiable expected latency for ProxylessNAS (Cai et al. 2019), from the latency table.

The expected latency of the relaxed NB201 supernet is ``fixed + sum_e sum_k p[e, k] * L[k]``:
``p`` are the operation probabilities of each edge and ``L[k]`` the latency one edge with
operation ``k`` adds to the whole network, summed over all cells. Both come from the per-block
:class:`~nasforge.hardware.table.LatencyTable` (FBNet's lookup table, Wu et al. 2019): cells of
one operation on all six edges are profiled, and ``L[k] = (cells(k) - cells(none)) / 6`` (an
additive per-edge model, clipped at zero); ``fixed`` is the all-``none`` network.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

from nasforge.space.nb201 import EDGE_NAMES, OPS, NB201Space


@dataclass(frozen=True)
class EdgeLatency:
    """``fixed`` ms plus ``per_op[k]`` ms for every edge with operation ``k``."""

    fixed: float
    per_op: tuple[float, ...]

    def expected(self, probs: Tensor) -> Tensor:
        """Expected latency (ms) under edge probabilities ``probs`` (edges x ops)."""
        return self.fixed + (probs * torch.tensor(self.per_op, dtype=probs.dtype, device=probs.device)).sum()

    def of(self, ops: list[str]) -> float:
        """Latency (ms) of the arch with ``ops`` on the six edges, under this additive model."""
        return self.fixed + sum(self.per_op[OPS.index(op)] for op in ops)


def nb201_edge_latency(space: NB201Space, task: Any, settings: Any = None,
                       path: str | None = None) -> EdgeLatency:
    """Profile the per-operation edge latencies of ``space``'s network (see module docstring)."""
    from nasforge.hardware.latency import LatencySettings
    from nasforge.hardware.table import LatencyTable

    settings = settings or LatencySettings(warmup=3, repeats=15, clock="cpu")
    table = LatencyTable(settings, path).setup(space, tuple(task.input_shape), int(task.num_classes))
    cells: dict[str, float] = {}
    totals: dict[str, float] = {}
    for op in OPS:
        arch = space.arch(dict.fromkeys(EDGE_NAMES, op))
        costs = table.block_costs(arch)
        specs = table.blocks(arch)
        cells[op] = sum(c["latency_ms"] for c, s in zip(costs, specs, strict=True)
                        if s.signature.startswith("nb201.cell"))
        totals[op] = sum(c["latency_ms"] for c in costs)
    per_op = tuple(max(0.0, (cells[op] - cells["none"]) / len(EDGE_NAMES)) for op in OPS)
    return EdgeLatency(totals["none"], per_op)
