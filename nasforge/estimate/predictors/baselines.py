"""Reference predictors: ``constant`` (the mean: Kendall tau 0), ``free_stat`` (rank by FLOPs,
the baseline every predictor must beat; White et al. 2021, Ning et al. 2021) and ``live_stat``
(rank by the FLOPs of the live operations, the best single free statistic on the tabular
benchmarks here; see :mod:`.stats`)."""

from __future__ import annotations

import numpy as np

from nasforge.estimate.predictors.base import Predictor, register_predictor


@register_predictor("constant")
class Constant(Predictor):
    """Predicts the mean training target for every arch."""

    def __init__(self) -> None:
        pass

    def _fit(self, x: np.ndarray, y: np.ndarray) -> None:
        pass

    def _predict(self, x: np.ndarray) -> np.ndarray:
        return np.zeros(len(x))


@register_predictor("free_stat")
class FreeStat(Predictor):
    """Predicts from one feature column (default the last: log FLOPs from a Featurizer with
    stats; ``-2`` is log params, ``-3`` log live FLOPs, ``-4`` log live params), its sign chosen by its correlation on
    the training set."""

    needs_stats = True

    def __init__(self, column: int = -1) -> None:
        self.column = column

    def _fit(self, x: np.ndarray, y: np.ndarray) -> None:
        col = x[:, self.column].astype(np.float64)
        corr = np.corrcoef(col, y)[0, 1] if np.ptp(col) > 0 and np.ptp(y) > 0 else 1.0
        self._sign = 1.0 if not np.isfinite(corr) or corr >= 0 else -1.0
        self._loc, self._scale = col.mean(), col.std() or 1.0

    def _predict(self, x: np.ndarray) -> np.ndarray:
        return self._sign * (x[:, self.column].astype(np.float64) - self._loc) / self._scale


@register_predictor("live_stat")
class LiveStat(FreeStat):
    """:class:`FreeStat` on log live FLOPs (column ``-3`` of a Featurizer with stats)."""

    def __init__(self, column: int = -3) -> None:
        self.column = column
