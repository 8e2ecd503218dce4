"""Which trials form the Pareto front, and which one a run selects as its best.

Only full-fidelity trials compete: a trial whose metrics report ``fidelity < 1`` (a rung of
successive halving, or a run stopped early by its learning curve) is left out.
"""

from __future__ import annotations

from collections.abc import Sequence

from nasforge.core.objectives import Constraint, Objective
from nasforge.core.pareto import loss_matrix, non_dominated
from nasforge.core.records import COMPLETE, Trial


def full_fidelity(trial: Trial) -> bool:
    """Whether ``trial`` ran at full fidelity (no ``fidelity`` metric counts as full)."""
    return trial.metrics.get("fidelity", 1.0) >= 1.0


def feasible_trials(trials: Sequence[Trial], objectives: Sequence[Objective],
                    constraints: Sequence[Constraint] = ()) -> list[Trial]:
    """Complete full-fidelity trials that report every objective and meet every constraint."""
    return [t for t in trials
            if t.status == COMPLETE and full_fidelity(t)
            and all(o.metric in t.metrics for o in objectives)
            and all(c.satisfied(t.metrics) for c in constraints)]


def pareto_trials(trials: Sequence[Trial], objectives: Sequence[Objective],
                  constraints: Sequence[Constraint] = ()) -> list[Trial]:
    """The non-dominated feasible trials, ordered by the first objective (best first)."""
    pool = feasible_trials(trials, objectives, constraints)
    if not pool:
        return []
    front = [pool[i] for i in non_dominated(loss_matrix([t.metrics for t in pool], objectives))]
    return sorted(front, key=lambda t: tuple(o.loss(t.metrics[o.metric]) for o in objectives))


def select_best(trials: Sequence[Trial], objectives: Sequence[Objective],
                constraints: Sequence[Constraint] = ()) -> Trial | None:
    """The feasible trial best on the first objective, ties broken by the following ones."""
    front = pareto_trials(trials, objectives, constraints)
    return front[0] if front else None
