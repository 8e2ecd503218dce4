"""Rank correlation of two score vectors: the one place nasforge computes Kendall's tau and
Spearman's rho (scipy.stats), for predictors, proxies, supernets and latency estimators alike."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def rank_correlations(x: Sequence[float] | np.ndarray, y: Sequence[float] | np.ndarray,
                      undefined: float = 0.0) -> tuple[float, float]:
    """``(kendall tau, spearman rho)`` of ``x`` against ``y``.

    Undefined when there are fewer than two points or either side is constant; then both are
    ``undefined`` (0 by default: no order information; pass ``nan`` to mark it).
    """
    from scipy.stats import kendalltau, spearmanr

    a, b = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    if len(a) != len(b):
        raise ValueError(f"rank correlation of {len(a)} scores against {len(b)}")
    if len(a) < 2 or np.ptp(a) == 0 or np.ptp(b) == 0:
        return undefined, undefined
    return float(kendalltau(a, b).statistic), float(spearmanr(a, b).statistic)
