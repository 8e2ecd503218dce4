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


def hypervolume_improvement(front: np.ndarray, candidates: np.ndarray, reference: Sequence[float]) -> np.ndarray:
    """Per candidate row, the hypervolume it adds to ``front`` (rows of losses, minimise every
    column) up to ``reference``; 0 for a candidate the front dominates. Two columns are computed
    exactly on the front's staircase; more columns with :func:`hypervolume` per candidate."""
    ref = np.asarray(reference, dtype=float)
    cands = np.asarray(candidates, dtype=float)
    pts = np.asarray(front, dtype=float).reshape(-1, cands.shape[1])
    pts = pts[(pts < ref).all(axis=1)]
    if cands.shape[1] != 2:
        base = hypervolume(pts, ref)
        return np.array([hypervolume(np.vstack([pts, c]), ref) - base for c in cands])
    pts = pts[non_dominated(pts)] if len(pts) else pts
    pts = pts[np.argsort(pts[:, 0])]
    # staircase: for x in [xs[i], xs[i+1]) the front covers every y above ys[i] (ys decreasing)
    xs = np.append(pts[:, 0], ref[0])
    ys = pts[:, 1]
    out = np.zeros(len(cands))
    for k, (cx, cy) in enumerate(cands):
        if cx >= ref[0] or cy >= ref[1]:
            continue
        area = 0.0
        # left of the first front point the front covers nothing: the candidate's full height
        first = xs[0] if len(ys) else ref[0]
        if cx < first:
            area += (min(first, ref[0]) - cx) * (ref[1] - cy)
        for i in range(len(ys)):
            lo, hi = max(cx, xs[i]), xs[i + 1]
            if hi > lo and ys[i] > cy:
                area += (hi - lo) * (ys[i] - cy)
        out[k] = area
    return out


def dominance_gap(front: np.ndarray, candidates: np.ndarray) -> np.ndarray:
    """Per candidate row, the smallest amount every loss would have to drop by for no front row
    to dominate it (additive epsilon; 0 for a candidate the front does not dominate)."""
    pts = np.asarray(front, dtype=float)
    cands = np.asarray(candidates, dtype=float)
    if len(pts) == 0:
        return np.zeros(len(cands))
    # for candidate c and front point p: c escapes p once it improves by max_j(c_j - p_j) on some axis
    need = (cands[:, None, :] - pts[None, :, :]).min(axis=2)  # escaping p needs beating it on one axis
    return np.maximum(need.max(axis=1), 0.0)
