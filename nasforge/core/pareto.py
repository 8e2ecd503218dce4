"""Pareto utilities over trial metrics: losses matrix, fronts, ranking with constraints.

Non-dominated sorting and crowding distance come from pymoo (Deb et al. 2002, NSGA-II).
Feasibility follows Deb's constrained domination: every feasible point beats every infeasible
one, infeasible points are ordered by total violation, failed points come last.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from nasforge.core.objectives import Constraint, Objective, total_violation


def loss_matrix(metrics: Sequence[Mapping[str, float]], objectives: Sequence[Objective]) -> np.ndarray:
    """Rows of objective values turned into losses (minimise every column)."""
    return np.array([[o.loss(float(m[o.metric])) for o in objectives] for m in metrics], dtype=float).reshape(
        len(metrics), len(objectives))


def non_dominated(losses: np.ndarray) -> np.ndarray:
    """Indices of the non-dominated rows of a loss matrix."""
    if len(losses) == 0:
        return np.array([], dtype=int)
    if losses.shape[1] == 1:
        return np.flatnonzero(losses[:, 0] == losses[:, 0].min())
    from pymoo.util.nds.non_dominated_sorting import NonDominatedSorting

    return np.sort(NonDominatedSorting().do(losses, only_non_dominated_front=True))


def rank_order(
    metrics: Sequence[Mapping[str, float] | None],
    objectives: Sequence[Objective],
    constraints: Sequence[Constraint] = (),
) -> np.ndarray:
    """A total order of points, best first (``None`` marks a failed point).

    Feasible points by non-dominated front then crowding distance (larger first); then
    infeasible points by violation; then failed ones. Ties keep input order.
    """
    n = len(metrics)
    score = np.full((n, 3), np.inf)  # (class, front, -crowding)
    feasible = []
    for i, m in enumerate(metrics):
        if m is None:
            score[i] = (2, 0, 0)
            continue
        v = total_violation(constraints, m)
        if v > 0:
            score[i] = (1, v, 0)
        elif any(o.metric not in m for o in objectives):
            score[i] = (2, 0, 0)
        else:
            feasible.append(i)
    if feasible:
        losses = loss_matrix([metrics[i] for i in feasible], objectives)  # type: ignore[misc]
        fronts, crowd = _fronts_and_crowding(losses)
        for j, i in enumerate(feasible):
            score[i] = (0, fronts[j], -crowd[j])
    return np.lexsort((np.arange(n), score[:, 2], score[:, 1], score[:, 0]))


def _fronts_and_crowding(losses: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    n = len(losses)
    if losses.shape[1] == 1:
        return losses[:, 0].copy(), np.zeros(n)
    from pymoo.operators.survival.rank_and_crowding.metrics import calc_crowding_distance
    from pymoo.util.nds.non_dominated_sorting import NonDominatedSorting

    fronts = np.zeros(n)
    crowd = np.zeros(n)
    for k, front in enumerate(NonDominatedSorting().do(losses)):
        fronts[front] = k
        crowd[front] = calc_crowding_distance(losses[front]) if len(front) > 2 else np.inf
    return fronts, crowd


def hypervolume(losses: np.ndarray, reference: Sequence[float]) -> float:
    """Hypervolume dominated by ``losses`` up to ``reference`` (pymoo's HV indicator)."""
    from pymoo.indicators.hv import HV

    ref = np.asarray(reference, dtype=float)
    inside = losses[(losses < ref).all(axis=1)] if len(losses) else losses
    return float(HV(ref_point=ref)(inside)) if len(inside) else 0.0
