"""One scalar per result for the strategies that optimise a single score.

Local search, the BANANAS-style strategy and REINFORCE climb one number: the first objective,
turned so that higher is better. A failed result, one missing that metric, or one that breaks
a constraint has no score (``None``); such architectures count as asked but never lead the
search. Strategies that handle several objectives (evolution, NSGA-II, tpe) rank results with
:meth:`nasforge.strategy.base.Strategy.best_first` instead.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

from nasforge.core.objectives import Constraint, Objective, total_violation


def score(
    metrics: Mapping[str, float] | None,
    objectives: Sequence[Objective],
    constraints: Sequence[Constraint] = (),
) -> float | None:
    """``-loss`` of the first objective (higher is better), or ``None`` if unusable."""
    if metrics is None or not objectives:
        return None
    value = metrics.get(objectives[0].metric)
    if value is None or not math.isfinite(float(value)):
        return None
    if constraints and total_violation(constraints, metrics) > 0:
        return None
    return -objectives[0].loss(float(value))
