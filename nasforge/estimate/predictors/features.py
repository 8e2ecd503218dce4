"""Architecture features for predictors: the space's encoding plus standardised free statistics."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from nasforge.space.arch import Arch
from nasforge.space.space import Space


class Featurizer:
    """``transform(archs)``: ``space.encode(arch)`` then, with ``stats``, the free statistics:
    log live params, log live FLOPs, log params, log FLOPs (in that order: the last column is
    log FLOPs).

    ``stats`` maps archs to an ``(n, 2)`` array of (params, flops), e.g. a
    :class:`~nasforge.estimate.predictors.stats.FreeStats`; its ``live(archs)`` (when it has one)
    gives those of the live operations (see :mod:`.stats`), else the live columns repeat the
    totals. ``encoding`` is ``onehot`` (the
    space's own) or any kind of :func:`nasforge.strategy.encodings.encoder_for` (``auto``,
    ``path``, ``path+onehot``: the BANANAS path encoding on ``nb201``).

    The statistics are standardised with the mean and spread of the archs first given to
    :meth:`fit` (or :meth:`transform`), so features of later archs are on the same scale.
    """

    def __init__(self, space: Space, stats: Callable[[Sequence[Arch]], np.ndarray] | None = None,
                 encoding: str = "onehot") -> None:
        self.space = space
        self.stats = stats
        self.encoding = encoding
        self._encode: Callable[[Sequence[Arch]], np.ndarray] | None = None
        self._loc: np.ndarray | None = None
        self._scale: np.ndarray | None = None

    def free_stats(self, archs: Sequence[Arch]) -> np.ndarray:
        """Log of (live params, live flops, params, flops) per arch (``(n, 4)``; needs ``stats``)."""
        if self.stats is None:
            raise ValueError("this featurizer has no free statistics (give stats=FreeStats(...))")
        total = np.asarray(self.stats(archs), dtype=float).reshape(len(archs), 2)
        live_fn = getattr(self.stats, "live", None)
        live = np.asarray(live_fn(archs), dtype=float).reshape(len(archs), 2) if live_fn else total
        return np.log1p(np.hstack([live, total]))

    def fit(self, archs: Sequence[Arch]) -> Featurizer:
        """Fix the standardisation of the statistics from ``archs``."""
        if self.stats is not None:
            logs = self.free_stats(archs)
            self._loc, self._scale = logs.mean(0), np.where(logs.std(0) > 0, logs.std(0), 1.0)
        return self

    def transform(self, archs: Sequence[Arch]) -> np.ndarray:
        """Feature matrix ``(n, d)`` (float32)."""
        if self.encoding == "onehot":
            enc = np.stack([self.space.encode(a) for a in archs]).astype(np.float32)
        else:
            if self._encode is None:
                from nasforge.space.encodings import encoder_for

                self._encode = encoder_for(self.space, self.encoding)
            enc = np.asarray(self._encode(list(archs)), dtype=np.float32)
        if self.stats is None:
            return enc
        if self._loc is None:
            self.fit(archs)
        assert self._loc is not None and self._scale is not None
        stats = (self.free_stats(archs) - self._loc) / self._scale
        return np.hstack([enc, stats.astype(np.float32)])
