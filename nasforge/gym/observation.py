"""The observation of a NAS environment: one flat ``Box`` of float32, which every
Stable-Baselines3 policy (``MlpPolicy``) consumes as it is.

Layout, in order (:meth:`ObservationLayout.names` spells every entry out):

1. the architecture, one-hot per decision in the space's order (``Space.encode``): the last
   evaluated one (``mode="full"``), or the decisions taken so far in the current one
   (``mode="per_decision"``, all-zero blocks for decisions not yet taken);
2. ``mode="per_decision"`` only: a one-hot of the decision the next action sets;
3. per observed metric (the evaluator's metrics and the cost metrics the reward needs), the
   last evaluation's value through ``symlog(x) = sign(x) * log(1 + |x|)`` (accuracies in percent,
   parameter counts and latencies in ms all land within about ±20), 0 when missing;
4. ``ok`` (1 when the last evaluation completed), ``symlog`` of the last reward, and the
   fraction of the episode's query budget spent.

Entries 1, 2 and ``ok`` and the budget fraction lie in [0, 1]; the symlog entries lie within
±:data:`SYMLOG_BOUND` (the symlog of the largest finite float64), so the Box is bounded.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from gymnasium import spaces

from nasforge.space.space import Space

#: |symlog(x)| for every finite float64 x is below this
SYMLOG_BOUND = 710.0


def symlog(value: float) -> float:
    """``sign(x) * log(1 + |x|)``: large values compressed, sign and order kept."""
    return float(np.sign(value) * np.log1p(abs(value)))


@dataclass(frozen=True)
class ObservationLayout:
    """Where each part of the observation vector lies, for one space, metric list and mode."""

    space: Space
    metrics: tuple[str, ...]
    per_decision: bool

    @property
    def size(self) -> int:
        return self.space.encoding_size + (len(self.space.choices) if self.per_decision else 0) + len(self.metrics) + 3

    def box(self) -> spaces.Box:
        low = np.zeros(self.size, dtype=np.float32)
        high = np.ones(self.size, dtype=np.float32)
        start = self.size - 3 - len(self.metrics)
        low[start:start + len(self.metrics)], high[start:start + len(self.metrics)] = -SYMLOG_BOUND, SYMLOG_BOUND
        low[-2], high[-2] = -SYMLOG_BOUND, SYMLOG_BOUND  # the reward
        return spaces.Box(low, high, dtype=np.float32)

    def names(self) -> list[str]:
        """One readable name per entry (``edge_1_0=none``, ``next:edge_1_0``, ``symlog:accuracy``, ...)."""
        out = [f"{c.name}={o}" for c in self.space.choices for o in c.options]
        if self.per_decision:
            out += [f"next:{c.name}" for c in self.space.choices]
        return out + [f"symlog:{m}" for m in self.metrics] + ["ok", "symlog:reward", "budget_spent"]

    def vector(self, decisions: Mapping[str, object], position: int | None, metrics: Mapping[str, float] | None,
               ok: bool, reward: float, spent: float) -> np.ndarray:
        """The observation: ``decisions`` (name -> option, any subset), the next decision's index
        (``per_decision``), the last metrics, whether the last evaluation completed, its reward
        and the spent fraction of the budget."""
        parts: list[Sequence[float] | np.ndarray] = []
        arch = np.zeros(self.space.encoding_size, dtype=np.float32)
        offset = 0
        for c in self.space.choices:
            if c.name in decisions:
                arch[offset + c.index(decisions[c.name])] = 1.0
            offset += len(c)
        parts.append(arch)
        if self.per_decision:
            where = np.zeros(len(self.space.choices), dtype=np.float32)
            if position is not None:
                where[position] = 1.0
            parts.append(where)
        values = metrics or {}
        parts.append([symlog(float(values[m])) if m in values and np.isfinite(values[m]) else 0.0 for m in self.metrics])
        parts.append([1.0 if ok else 0.0, symlog(float(reward)), float(spent)])
        return np.concatenate([np.asarray(p, dtype=np.float32) for p in parts])
