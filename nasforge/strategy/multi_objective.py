"""Hypervolume-improvement acquisition for surrogate strategies whose further objectives are free
costs (see :mod:`nasforge.strategy.bananas`, issue 21).

The first objective is what a surrogate predicts (on the surrogate's own target scale: higher is
better); every other objective is a cost the run prices without training (the ``cost`` service:
params, FLOPs, a latency table or predictor). Costs of told architectures are the measured ones.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from nasforge.core.objectives import Objective
from nasforge.core.pareto import dominance_gap, hypervolume_improvement, non_dominated
from nasforge.space.arch import Arch

REFERENCE = 1.1  # the reference point on every axis scaled to [0, 1] over the results and candidates


class MultiObjective:
    """Prices archs on the cost objectives and scores candidates by hypervolume improvement."""

    def __init__(self, objectives: Sequence[Objective], prices: Sequence[Callable[[Arch], float]]) -> None:
        self.objectives = tuple(objectives)
        self.prices = tuple(prices)
        self._losses: dict[str, np.ndarray] = {}

    @classmethod
    def for_strategy(cls, strategy: Any) -> MultiObjective | None:
        """The pricing of ``strategy``'s objectives after the first, or None where it has one
        objective or the run cannot price the others without training (then an error if the
        strategy's ``multi_objective`` is ``True`` rather than ``auto``)."""
        objectives = strategy.objectives
        if len(objectives) < 2:
            return None
        who = f"strategy {type(strategy).__name__} (multi_objective=True)"
        try:
            cost = strategy.services.need("cost", who)
            prices = [cost(o.metric) for o in objectives[1:]]
        except ValueError as exc:
            if strategy.multi_objective is True:
                raise ValueError(f"{who}: objectives after the first must be costs priced without training: {exc}") \
                    from None
            return None
        return cls(objectives, prices)

    def observe(self, arch: Arch, metrics: Any) -> None:
        """Keep the measured costs of a told arch (priced where a metric is missing)."""
        if metrics is None:
            return
        row = []
        for o, price in zip(self.objectives[1:], self.prices, strict=True):
            value = metrics.get(o.metric)
            row.append(o.loss(float(value if value is not None else price(arch))))
        self._losses[arch.key] = np.array(row, dtype=float)

    def cost_losses(self, archs: Sequence[Arch]) -> np.ndarray:
        """``(n, k)`` losses of the cost objectives (priced once per arch)."""
        for arch in archs:
            if arch.key not in self._losses:
                self._losses[arch.key] = np.array(
                    [o.loss(float(price(arch))) for o, price in zip(self.objectives[1:], self.prices, strict=True)])
        return np.stack([self._losses[a.key] for a in archs]).reshape(len(archs), len(self.prices))

    def parents(self, data: Sequence[tuple[Arch, float]], k: int) -> list[Arch]:
        """The Pareto front of the told (arch, score) pairs; at most ``k``, spread along it."""
        archs = [a for a, _ in data]
        losses = np.column_stack([-np.array([v for _, v in data]), self.cost_losses(archs)])
        front = sorted(non_dominated(losses).tolist(), key=lambda i: (losses[i, 0], archs[i].key))
        if len(front) > k:
            front = [front[int(round(j))] for j in np.linspace(0, len(front) - 1, k)]
        return [archs[i] for i in front]

    def acquisition(self, data: Sequence[tuple[Arch, float]], targets: np.ndarray, candidates: Sequence[Arch],
                    optimistic: np.ndarray) -> np.ndarray:
        """Per candidate, the hypervolume its ``optimistic`` value and exact costs add to the front
        of the told archs (``targets``: their values on the same scale); a dominated candidate
        scores minus its additive-epsilon distance from escaping domination."""
        told = np.column_stack([-np.asarray(targets, dtype=float), self.cost_losses([a for a, _ in data])])
        cand = np.column_stack([-np.asarray(optimistic, dtype=float), self.cost_losses(list(candidates))])
        both = np.vstack([told, cand])
        for j in range(1, both.shape[1]):
            col = both[:, j]
            if (col > 0).all() and col.max() > 10 * col.min():
                both[:, j] = np.log10(col)
        low, span = both.min(axis=0), np.ptp(both, axis=0)
        both = (both - low) / np.where(span > 0, span, 1.0)
        told, cand = both[: len(told)], both[len(told):]
        front = told[non_dominated(told)]
        gain = hypervolume_improvement(front, cand, [REFERENCE] * both.shape[1])
        return np.where(gain > 0, gain, -dominance_gap(front, cand))
