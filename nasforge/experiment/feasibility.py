"""Constraints that no architecture can meet, found before a search spends anything on them.

Two checks. :func:`check_constraint_ranges` needs no space: two constraints on one metric that
leave no value between them (``params>=5000`` with ``params<=100``), or a bound outside a
metric's own range (``val_accuracy>1``, ``params<0``). :func:`check_constraints_satisfiable`
looks at the space: it computes the static cost metrics (params, FLOPs, memory, size; never a
timed latency) of a seeded sample of architectures and, if none meets the constraints, walks
downhill from the best one through one-decision neighbours (a greedy local search on the total
violation) to the smallest architecture it can reach. If that search settles without meeting
the constraints, no architecture of the space can, in practice: cost metrics grow with width,
depth and kernel size, so the descent finds the space's smallest networks.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Sequence
from typing import Any

import numpy as np

from nasforge.core.objectives import Constraint, total_violation
from nasforge.hardware.metrics import METRICS, STATIC_METRICS

log = logging.getLogger(__name__)

#: the range each known metric can take
METRIC_RANGES: dict[str, tuple[float, float]] = {
    "val_accuracy": (0.0, 1.0),
    "val_loss": (0.0, math.inf),
    "train_loss": (0.0, math.inf),
    "train_seconds": (0.0, math.inf),
    **{m: (0.0, math.inf) for m in METRICS},
}


class InfeasibleConstraintsError(ValueError):
    """No architecture can satisfy the constraints; the message names them."""


def check_constraint_ranges(constraints: Sequence[Constraint]) -> None:
    """Refuse bounds outside a metric's range and constraints on one metric that contradict."""
    lows: dict[str, tuple[float, bool, Constraint]] = {}
    highs: dict[str, tuple[float, bool, Constraint]] = {}
    for c in constraints:
        low, high = METRIC_RANGES.get(c.metric, (-math.inf, math.inf))
        if (c.op == "<=" and c.bound < low) or (c.op == "<" and c.bound <= low) \
                or (c.op == ">=" and c.bound > high) or (c.op == ">" and c.bound >= high):
            raise InfeasibleConstraintsError(f"{c} can never hold: {c.metric} lies in [{low:g}, {high:g}]")
        if c.op in (">=", ">"):
            strict = c.op == ">"
            old = lows.get(c.metric)
            if old is None or c.bound > old[0] or (c.bound == old[0] and strict):
                lows[c.metric] = (c.bound, strict, c)
        else:
            strict = c.op == "<"
            old = highs.get(c.metric)
            if old is None or c.bound < old[0] or (c.bound == old[0] and strict):
                highs[c.metric] = (c.bound, strict, c)
    for metric, (low, low_strict, c_low) in lows.items():
        if metric in highs:
            high, high_strict, c_high = highs[metric]
            if low > high or (low == high and (low_strict or high_strict)):
                raise InfeasibleConstraintsError(f"{c_low} and {c_high} contradict each other")


def check_constraints_satisfiable(space: Any, task: Any, constraints: Sequence[Constraint], seed: int = 0,
                                  samples: int = 16, max_checks: int = 600, max_seconds: float = 30.0) -> None:
    """Raise :class:`InfeasibleConstraintsError` if no architecture of ``space`` meets the static constraints.

    Only constraints on :data:`STATIC_METRICS` are checked (others need training or timing);
    spaces that cannot build networks are skipped. The search stops at ``max_checks``
    architectures or ``max_seconds``; stopped early it only logs a warning.
    """
    static = [c for c in constraints if c.metric in STATIC_METRICS]
    if not static or not getattr(space, "can_build", False):
        return
    from nasforge.hardware.metrics import hardware_metrics

    which = sorted({c.metric for c in static}, key=STATIC_METRICS.index)
    seen: dict[str, dict[str, float]] = {}
    began = time.perf_counter()

    def measure(arch: Any) -> dict[str, float]:
        if arch.key not in seen:
            seen[arch.key] = hardware_metrics(space.build(arch, task), tuple(task.input_shape), which)
        return seen[arch.key]

    def out_of_budget() -> bool:
        return len(seen) >= max_checks or time.perf_counter() - began > max_seconds

    rng = np.random.default_rng(seed)
    best, best_v = None, math.inf
    for _ in range(samples):
        arch = space.sample(rng)
        v = total_violation(static, measure(arch))
        if v < best_v:
            best, best_v = arch, v
        if v == 0.0:
            return
    settled = False
    while not out_of_budget():
        step = None
        for other in space.neighbours(best):
            v = total_violation(static, measure(other))
            if v == 0.0:
                return
            if v < best_v:
                step, best_v = other, v
            if out_of_budget():
                break
        if step is None:
            settled = True
            break
        best = step
    found = ", ".join(_extreme(c, seen.values()) for c in static)
    if not settled:
        log.warning("no architecture of space %r met %s among %d checked (%s); searching anyway",
                    space.name, ", ".join(map(str, static)), len(seen), found)
        return
    raise InfeasibleConstraintsError(
        f"constraints: no architecture of space {space.name!r} can satisfy {' and '.join(map(str, static))} "
        f"({found}; {len(seen)} architectures checked by a local search toward the bounds)")


def _extreme(c: Constraint, values: Any) -> str:
    """``"smallest params found: 262"`` (or the largest, for a lower bound)."""
    numbers = [m[c.metric] for m in values if c.metric in m]
    small = c.op in ("<=", "<")
    return f"{'smallest' if small else 'largest'} {c.metric} found: {(min if small else max)(numbers):g}"
