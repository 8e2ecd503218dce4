"""The ``predictor`` evaluator: a performance predictor fitted on measured architectures scores
every new one (no training; White et al. 2021, "How Powerful are Performance Predictors in
Neural Architecture Search?").

Settings: ``data`` (where the measured architectures come from), ``metric`` (the column to
learn), ``predictor`` (a registered predictor: ``resid_gp``, ``gbdt``, ``rf``, ``gp``, ``mlp``,
...; ``auto``, the default: ``resid_gp``, a GP on the residual of a free-statistic prior, where
the space has free statistics, else ``gbdt``),
``samples`` (how many rows to fit on: a seeded random subset; all by default) and
``pretrained`` (pretrain on the free statistics of 256 unlabeled archs first, FBNetV3-style).
``data`` is either

- a CSV file with a column ``arch`` (architecture keys of the run's space) and a column named
  ``metric``; rows with a ``status`` column other than ``complete`` are skipped. ``nasforge
  show RUN --csv > trials.csv`` writes one from any earlier run; or
- ``benchmark:NAME``: a tabular benchmark of the run's space (``samples`` rows, default 100).

It reports ``predicted_<metric>``. Features are the space's encoding plus the free statistics
(log live params and FLOPs, log params and FLOPs) where the space builds networks (:class:`~nasforge.estimate.predictors.features.Featurizer`).
The predictor is fitted once per process, on first use, from the seed of the run: the same run
gives the same predictions in every worker. Files are read as CSV text; nothing is executed.
"""

from __future__ import annotations

import csv
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from nasforge.estimate.base import Evaluator, IncompatibleError, RunContext, register_evaluator
from nasforge.space.arch import Arch

BENCHMARK_PREFIX = "benchmark:"
POOL = 256
AUTO = "auto"
#: what ``auto`` means: with free statistics, without
AUTO_PREDICTORS = ("resid_gp", "gbdt")


class PredictorSettings(BaseModel):
    """Settings of the ``predictor`` evaluator."""

    model_config = ConfigDict(extra="forbid")

    data: str = Field(description="a CSV of measured archs (arch + metric columns) or benchmark:NAME")
    metric: str = Field("val_accuracy", min_length=1, description="the measured metric to learn")
    predictor: str = Field(AUTO, description="a registered performance predictor, or auto (resid_gp with free "
                           "statistics, else gbdt)")
    samples: int | None = Field(None, ge=2, le=10_000_000, description="rows to fit on (default: all; "
                                "benchmark: 100)")
    direction: str = Field("max", pattern="^(max|min)$", description="whether more of the metric is better")
    pretrained: bool = Field(False, description="pretrain on free statistics of unlabeled archs first")

    def model_post_init(self, _: Any) -> None:
        from nasforge.estimate.predictors import PREDICTORS

        if self.predictor != AUTO:
            PREDICTORS.get(self.predictor)  # an unknown predictor lists the valid ones


@register_evaluator("predictor")
class PredictorEvaluator(Evaluator):
    """Scores from a predictor fitted on ``(archs, values)`` loaded from ``data`` (see module)."""

    Settings = PredictorSettings

    def __init__(self, space: Any, data: str, metric: str = "val_accuracy", predictor: str = AUTO,
                 samples: int | None = None, pretrained: bool = False, task: Any = None, seed: int = 0) -> None:
        self.space = space
        self.data = data
        self.metric = metric
        self.predictor = predictor
        self.samples = samples
        self.pretrained = pretrained
        self.task = task
        self.seed = seed
        self._model: Any = None

    def __getstate__(self) -> dict[str, Any]:  # refitted (deterministically) in each process
        return {**self.__dict__, "_model": None}

    # ------------------------------------------------------------- a run's view
    @classmethod
    def check_space(cls, space: Any, settings: PredictorSettings) -> None:
        if settings.data.startswith(BENCHMARK_PREFIX):
            from nasforge.estimate.benchmarks import get_benchmark

            bench = get_benchmark(settings.data[len(BENCHMARK_PREFIX):])
            if bench.space_name != space.name:
                raise IncompatibleError(f"benchmark {bench.name!r} holds architectures of space "
                                        f"{bench.space_name!r}, not {space.name!r}")
            if settings.metric not in bench.metrics:
                raise IncompatibleError(f"benchmark {bench.name!r} has no metric {settings.metric!r}; "
                                        f"metrics: {list(bench.metrics)}")
            bench.path()
            return
        archs, _ = read_labels(settings.data, settings.metric, space)
        if len(archs) < 2:
            raise IncompatibleError(f"{settings.data}: {len(archs)} usable row(s); a predictor needs at least 2")

    @classmethod
    def reports(cls, settings: PredictorSettings, space: Any) -> list[str]:
        return [f"predicted_{settings.metric}"]

    @classmethod
    def default_objectives(cls, settings: PredictorSettings, space: Any) -> list[str]:
        return [f"predicted_{settings.metric}:{settings.direction}"]

    @classmethod
    def for_run(cls, run: RunContext, settings: PredictorSettings,
                constraints: Sequence[Any] = ()) -> PredictorEvaluator:
        return cls(run.space, settings.data, settings.metric, settings.predictor, settings.samples,
                   settings.pretrained, run.task, run.seed)

    def metric_names(self) -> list[str]:
        return [f"predicted_{self.metric}"]

    # -------------------------------------------------------------- evaluation
    def labels(self) -> tuple[list[Arch], np.ndarray]:
        """The archs and values the predictor is fitted on (a seeded subset of ``samples``)."""
        rng = np.random.default_rng(self.seed)
        if self.data.startswith(BENCHMARK_PREFIX):
            from nasforge.estimate.benchmarks import get_benchmark

            table = get_benchmark(self.data[len(BENCHMARK_PREFIX):]).table()
            archs = self.space.sample_distinct(self.samples or 100, rng)
            return archs, np.array([table[a.body][self.metric] for a in archs], dtype=float)
        archs, values = read_labels(self.data, self.metric, self.space)
        if self.samples is not None and self.samples < len(archs):
            keep = np.sort(rng.permutation(len(archs))[:self.samples])
            archs, values = [archs[i] for i in keep], values[keep]
        return archs, values

    def model(self) -> tuple[Any, Any]:
        """``(featurizer, fitted predictor)``, built once per process."""
        if self._model is None:
            from nasforge.estimate.predictors import get_predictor
            from nasforge.estimate.predictors.features import Featurizer

            featurizer = Featurizer(self.space, self._stats())
            archs, values = self.labels()
            name = self.predictor
            if name == AUTO:
                name = AUTO_PREDICTORS[0] if featurizer.stats is not None else AUTO_PREDICTORS[1]
            predictor = get_predictor(name, seed=self.seed, pretrained=self.pretrained)
            if predictor.needs_stats and featurizer.stats is None:
                raise ValueError(f"predictor {name!r} ranks by free statistics (params, FLOPs), and space "
                                 f"{self.space.name!r} has none for this run (it builds no networks, or the run has "
                                 "no task); choose another predictor, e.g. gbdt")
            if self.pretrained and featurizer.stats is not None:
                pool = self.space.sample_distinct(POOL, np.random.default_rng([self.seed, 1]))
                featurizer.fit(pool)
                predictor.pretrain(featurizer.transform(pool), featurizer.free_stats(pool))
            else:
                featurizer.fit(archs)
            predictor.fit(featurizer.transform(archs), values)
            self._model = (featurizer, predictor)
        return self._model

    def _stats(self) -> Any:
        if not getattr(self.space, "can_build", False) or self.task is None:
            return None
        from nasforge.estimate.predictors.stats import FreeStats

        return FreeStats(self.space, tuple(self.task.input_shape), int(self.task.num_classes))

    def _evaluate(self, arch: Arch) -> Mapping[str, float]:
        featurizer, predictor = self.model()
        return {f"predicted_{self.metric}": float(predictor.predict(featurizer.transform([arch]))[0])}


def read_labels(path: str | Path, metric: str, space: Any) -> tuple[list[Arch], np.ndarray]:
    """``(archs, values)`` of the complete rows of a CSV with ``arch`` and ``metric`` columns.

    Raises ``IncompatibleError`` for a missing file or column, or an arch of another space.
    """
    path = Path(path)
    if not path.is_file():
        raise IncompatibleError(f"predictor data {path} does not exist (a CSV with columns arch,{metric}; "
                                "`nasforge show RUN --csv` writes one)")
    with open(path, newline="", encoding="utf-8", errors="replace") as fh:
        reader = csv.DictReader(fh)
        columns = reader.fieldnames or []
        missing = [c for c in ("arch", metric) if c not in columns]
        if missing:
            raise IncompatibleError(f"{path} has no column(s) {missing}; columns: {columns}")
        archs, values = [], []
        for line, row in enumerate(reader, start=2):
            if row.get("status", "complete") != "complete" or not row[metric]:
                continue
            try:
                arch, value = space.parse(row["arch"]), float(row[metric])
            except (ValueError, KeyError) as exc:
                raise IncompatibleError(f"{path} line {line}: {row['arch']!r} is not an architecture of space "
                                        f"{space.name!r} with a numeric {metric} ({exc})") from None
            if np.isfinite(value):
                archs.append(arch)
                values.append(value)
    return archs, np.array(values, dtype=float)
