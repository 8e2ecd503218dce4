"""Logs as data: the stored trials of any runs (searches or environments) as a dataset of
architectures and their costs, and a cost model fitted on it alone.

ArchGym (Krishnan et al. 2023) observes that the samples an agent logs while exploring are
training data for cheap proxy cost models. Here: :func:`logged_dataset` reads the
``trials.db`` of run directories (read-only) and keeps, per distinct architecture, the mean of
a logged cost metric (``latency_ms`` by default) over the runs that measured it, with the
static costs the runs logged beside it (``params``, ``flops``...). :func:`fit_logged_model` fits
the latency predictor of :mod:`nasforge.hardware.predictor` (gradient-boosted trees on the log
latency) on a random part of it, with features from the logs only (:class:`LoggedLatencyPredictor`:
no block table, which would need new measurements), and scores it on the held-out rest with
:func:`nasforge.hardware.study.score` (Kendall tau, share within ±10 %, MAPE).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from nasforge.core.records import COMPLETE, INFEASIBLE
from nasforge.hardware.cost import CostModel
from nasforge.hardware.predictor import LatencyPredictor
from nasforge.hardware.study import score
from nasforge.space.arch import Arch
from nasforge.space.space import Space

#: static costs used as features when every logged sample has them
STATIC_FEATURES = ("params", "flops")


@dataclass(frozen=True)
class CostDataset:
    """Distinct logged architectures of one space, the mean logged ``metric`` of each, and the
    logged static costs (``features``, one row per architecture)."""

    space: Space
    metric: str
    archs: list[Arch]
    values: np.ndarray
    features: tuple[str, ...]
    static: np.ndarray  # (len(archs), len(features))
    runs: tuple[str, ...]
    samples: int  # logged measurements before averaging repeats

    def __len__(self) -> int:
        return len(self.archs)


def logged_dataset(run_dirs: Sequence[str | Path], metric: str = "latency_ms",
                   features: Sequence[str] = STATIC_FEATURES) -> CostDataset:
    """The dataset of ``metric`` from the trials of ``run_dirs`` (complete or infeasible trials
    with a finite, positive value; answers from a cache are not new measurements and are skipped).

    Every run must search the same space; a run without any such trial is named in the error.
    """
    from nasforge.core.records import CACHED
    from nasforge.report.data import read_run
    from nasforge.space.registry import get_space

    if not run_dirs:
        raise ValueError("logged_dataset: give at least one run directory")
    space: Space | None = None
    measured: dict[str, list[float]] = {}
    static: dict[str, dict[str, float]] = {}
    archs: dict[str, Arch] = {}
    samples = 0
    for path in run_dirs:
        records = read_run(path)
        name = str(records.config.get("space"))
        if space is None:
            space = get_space(name, **dict(records.config.get("space_settings") or {}))
        elif name != space.name:
            raise ValueError(f"logged_dataset: {path} searched space {name!r}, the others {space.name!r}")
        found = 0
        for trial in records.trials:
            value = trial.metrics.get(metric)
            if trial.status == CACHED or trial.status not in (COMPLETE, INFEASIBLE) or value is None \
                    or not math.isfinite(value) or value <= 0:
                continue
            key = trial.arch.key
            archs.setdefault(key, space.parse(key))
            measured.setdefault(key, []).append(float(value))
            static.setdefault(key, {}).update({f: float(trial.metrics[f]) for f in features if f in trial.metrics})
            found += 1
        if not found:
            raise ValueError(f"logged_dataset: {path} logged no trial with a positive {metric!r}")
        samples += found
    assert space is not None
    keys = list(archs)
    kept = tuple(f for f in features if all(f in static[k] for k in keys))
    return CostDataset(space, metric, [archs[k] for k in keys], np.array([np.mean(measured[k]) for k in keys]),
                       kept, np.array([[static[k][f] for f in kept] for k in keys], dtype=float).reshape(len(keys), len(kept)),
                       tuple(str(p) for p in run_dirs), samples)


class LoggedLatencyPredictor(LatencyPredictor):
    """:class:`~nasforge.hardware.predictor.LatencyPredictor` on features the logs hold: the
    space's one-hot encoding and the log of each logged static cost (``static``: arch key ->
    values). No block table is built, so nothing is measured."""

    def __init__(self, static: Mapping[str, Sequence[float]] | None = None, n_estimators: int = 400,
                 max_depth: int = 3, learning_rate: float = 0.05, subsample: float = 0.8, seed: int = 0) -> None:
        super().__init__(None, None, n_estimators, max_depth, learning_rate, subsample, seed)
        self.static = static

    def setup(self, space: Any, input_shape: tuple[int, ...] | None = None,
              num_classes: int | None = None) -> LoggedLatencyPredictor:
        CostModel.setup(self, space, input_shape or getattr(space, "default_input_shape", None) or (1,), num_classes)
        self.table_ = None
        return self

    def features(self, arch: Arch) -> np.ndarray:
        extra = (self.static or {}).get(arch.key, ())
        return np.concatenate([self.space_.encode(arch), np.log1p(np.asarray(extra, dtype=np.float32))])


@dataclass(frozen=True)
class LoggedFit:
    """A cost model fitted on part of a logged dataset and its scores on the held-out rest."""

    model: LoggedLatencyPredictor
    n_train: int
    n_test: int
    kendall_tau: float
    within_10pct: float
    mape: float
    test_keys: tuple[str, ...]


def fit_logged_model(data: CostDataset, test_fraction: float = 0.3, seed: int = 0) -> LoggedFit:
    """Fit :class:`LoggedLatencyPredictor` on a random ``1 - test_fraction`` of ``data`` (drawn with
    ``seed``) and score it on the held-out architectures."""
    if not 0 < test_fraction < 1:
        raise ValueError(f"test_fraction must be in (0, 1), got {test_fraction}")
    n_test = int(round(test_fraction * len(data)))
    if n_test < 2 or len(data) - n_test < 2:
        raise ValueError(f"the logs hold {len(data)} distinct architectures: too few to fit on some and test on "
                         f"others (at least 2 each)")
    order = np.random.default_rng(seed).permutation(len(data))
    return _fit_score(data, order[n_test:], data, order[:n_test], seed)


def fit_on_runs(train: CostDataset, test: CostDataset, seed: int = 0) -> LoggedFit:
    """Fit on every architecture of ``train`` (the logs of some runs) and score on those of
    ``test`` (other runs) that ``train`` does not hold."""
    if train.space.name != test.space.name or train.metric != test.metric:
        raise ValueError(f"fit_on_runs: train logs {train.space.name!r}/{train.metric!r}, test logs "
                         f"{test.space.name!r}/{test.metric!r}")
    seen = {a.key for a in train.archs}
    unseen = np.array([i for i, a in enumerate(test.archs) if a.key not in seen], dtype=int)
    if len(train) < 2 or len(unseen) < 2:
        raise ValueError(f"fit_on_runs: {len(train)} training and {len(unseen)} unseen test architectures; "
                         "need at least 2 of each")
    return _fit_score(train, np.arange(len(train)), test, unseen, seed)


def _fit_score(train: CostDataset, rows: np.ndarray, test: CostDataset, test_rows: np.ndarray, seed: int) -> LoggedFit:
    features = tuple(f for f in train.features if f in test.features)
    pick = [train.features.index(f) for f in features]
    static = {a.key: train.static[i, pick] for i, a in enumerate(train.archs)}
    pick_test = [test.features.index(f) for f in features]
    static.update({test.archs[i].key: test.static[i, pick_test] for i in test_rows})
    model = LoggedLatencyPredictor(static, seed=seed).setup(train.space)
    model.fit([train.archs[i] for i in rows], train.values[rows])
    predicted = [model.predict(test.archs[i]) for i in test_rows]
    scores = score(predicted, test.values[test_rows])
    return LoggedFit(model, len(rows), len(test_rows), scores["kendall_tau"], scores["within_10pct"], scores["mape"],
                     tuple(test.archs[i].key for i in test_rows))
