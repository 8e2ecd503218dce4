"""Deterministic stratified splits, for datasets that lack a validation (or test) split."""

from __future__ import annotations

import numpy as np


def stratified_split(y: np.ndarray, fraction: float, *, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Indices ``(kept, held_out)`` holding out ``round(fraction * len(y))`` rows, class by class.

    Each class gives its share of the held-out rows (largest remainder, so the total is exact);
    a class keeps at least one row in ``kept`` while the total allows it. The rows are drawn with
    ``numpy.random.default_rng(seed)``: the same labels, fraction and seed give the same split.
    Both index arrays are sorted, disjoint, and together cover ``range(len(y))``.
    """
    if not 0.0 < fraction < 1.0:
        raise ValueError(f"split fraction must be in (0, 1), got {fraction}")
    y = np.asarray(y)
    n = len(y)
    if n < 2:
        raise ValueError(f"cannot split {n} row(s) into two non-empty parts")
    n_out = min(max(round(fraction * n), 1), n - 1)
    _, inverse, counts = np.unique(y, return_inverse=True, return_counts=True)
    ideal = fraction * counts
    cap = counts - 1  # leave every class in the kept part
    take = np.minimum(np.floor(ideal).astype(np.int64), cap)
    while take.sum() < n_out:
        room = take < cap
        if not room.any():  # only singleton classes left: they have to go
            room = take < counts
        take[np.argmax(np.where(room, ideal - take, -np.inf))] += 1

    rng = np.random.default_rng(seed)
    held_out = [rng.permutation(np.flatnonzero(inverse == c))[:k] for c, k in enumerate(take)]
    out = np.sort(np.concatenate(held_out))
    mask = np.ones(n, dtype=bool)
    mask[out] = False
    return np.flatnonzero(mask), out
