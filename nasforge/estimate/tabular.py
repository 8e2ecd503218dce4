"""Tabular evaluators: look an architecture up in a benchmark table instead of training it.

Benchmarks (registered in :data:`nasforge.bench.registry.BENCHMARKS`, so ``--benchmarks``
names resolve; each is also the evaluator ``tabular`` with ``benchmark=<name>``):

- ``nb201-cifar10``, ``nb201-cifar100``, ``nb201-imagenet16`` — NAS-Bench-201 (Dong & Yang
  2020), space ``nb201``; metric ``accuracy`` = test accuracy (percent) after 200 epochs,
  averaged over the benchmark's training seeds. File ``nb201-tss-accuracy.csv``.
- ``macro`` — NAS-Bench-Macro (Su et al. 2021), space ``macro``; metrics ``accuracy`` (mean
  of three trainings, percent), ``params`` and ``flops`` (counts). File
  ``nas-bench-macro-cifar10.json``.

Files are read from :func:`nasforge.paths.data_dir` (``$NASFORGE_DATA``), once per process.
The tables hold no training times: ``cost_seconds`` is the lookup's own time unless
``simulated_seconds`` is set, which is then reported for every query (a simulated clock for
time budgets).
"""

from __future__ import annotations

import csv
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

from nasforge.bench.registry import get_benchmark, register_benchmark
from nasforge.estimate.base import EvalResult, Evaluator, register_evaluator
from nasforge.experiment.objectives import Objective
from nasforge.paths import data_file
from nasforge.space.arch import Arch
from nasforge.space.registry import get_space
from nasforge.space.space import Space

Table = dict[str, dict[str, float]]

NB201_FILE = "nb201-tss-accuracy.csv"
MACRO_FILE = "nas-bench-macro-cifar10.json"
NB201_COLUMNS = {
    "nb201-cifar10": "CIFAR10TestAccuracy200Epochs",
    "nb201-cifar100": "CIFAR100TestAccuracy200Epochs",
    "nb201-imagenet16": "ImageNetTestAccuracy200Epochs",
}
#: Each NB201 dataset's input shape and classes (ImageNet16-120: 16x16 images, 120 classes).
NB201_DATASETS = {"nb201-cifar10": ((3, 32, 32), 10), "nb201-cifar100": ((3, 32, 32), 100),
                  "nb201-imagenet16": ((3, 16, 16), 120)}

_TABLES: dict[tuple[str, str], Table] = {}  # (benchmark, resolved path) -> table, per process


def read_nb201(path: Path, column: str) -> Table:
    """``ArchitectureString -> {"accuracy": <column>}`` from the NAS-Bench-201 CSV."""
    with open(path, newline="") as fh:
        reader = csv.DictReader(fh)
        missing = {column, "ArchitectureString"} - set(reader.fieldnames or ())
        if missing:
            raise ValueError(f"{path}: expected column(s) {sorted(missing)}; found {reader.fieldnames}")
        return {row["ArchitectureString"]: {"accuracy": float(row[column])} for row in reader}


def read_macro(path: Path) -> Table:
    """``8-digit key -> {"accuracy", "params", "flops"}`` from the NAS-Bench-Macro JSON."""
    with open(path) as fh:
        data = json.load(fh)
    try:
        return {key: {"accuracy": float(rec["mean_acc"]), "params": float(rec["params"]),
                      "flops": float(rec["flops"])} for key, rec in data.items()}
    except (KeyError, TypeError, AttributeError) as exc:
        raise ValueError(f"{path}: each entry needs mean_acc, params and flops ({exc!r})") from None


@dataclass(frozen=True)
class TabularBenchmark:
    """A space whose every architecture has recorded metrics in one table file."""

    name: str
    space_name: str
    file: str
    metrics: tuple[str, ...]
    reader: Callable[[Path], Table] = field(repr=False)
    description: str = ""
    default_objectives: tuple[str, ...] = ("accuracy:max",)
    input_shape: tuple[int, ...] = (3, 32, 32)  # of the networks the table measured (for free stats)
    num_classes: int = 10

    def path(self) -> Path:
        """The table file (a MissingDataError naming NASFORGE_DATA if it is not there)."""
        return data_file(self.file, f"benchmark {self.name!r}")

    def table(self) -> Table:
        """``key body -> metrics``, loaded once per process."""
        path = self.path()
        cache_key = (self.name, str(path.resolve()))
        if cache_key not in _TABLES:
            _TABLES[cache_key] = self.reader(path)
        return _TABLES[cache_key]

    def space(self) -> Space:
        return get_space(self.space_name)

    def evaluator(self, simulated_seconds: float = 0.0) -> TabularEvaluator:
        return TabularEvaluator(self.name, simulated_seconds)

    def check_objectives(self, objectives: Sequence[Objective]) -> None:
        """A clear error for an objective on a metric this table does not have."""
        for obj in objectives:
            if obj.metric not in self.metrics:
                raise ValueError(f"benchmark {self.name!r} has no metric {obj.metric!r}; "
                                 f"metrics: {list(self.metrics)}")

    def losses(self, objectives: Sequence[Objective]) -> np.ndarray:
        """Loss matrix (minimise every column) over the whole table."""
        self.check_objectives(objectives)
        rows = self.table().values()
        return np.array([[o.loss(m[o.metric]) for o in objectives] for m in rows], dtype=float)

    def optimum(self, objective: Objective) -> float:
        """The best value of ``objective`` over the whole space."""
        values = [m[objective.metric] for m in self.table().values()]
        return max(values) if objective.direction == "max" else min(values)

    def pareto_front(self, objectives: Sequence[Objective]) -> np.ndarray:
        """Losses of the true Pareto front (unique rows)."""
        from nasforge.experiment.pareto import non_dominated

        losses = self.losses(objectives)
        return np.unique(losses[non_dominated(losses)], axis=0)


@register_evaluator("tabular")
class TabularEvaluator(Evaluator):
    """Metrics of ``arch`` from the table of ``benchmark`` (a lookup; cheap and exact)."""

    def __init__(self, benchmark: str = "nb201-cifar10", simulated_seconds: float = 0.0) -> None:
        self.benchmark = benchmark
        self.simulated_seconds = simulated_seconds
        self._table: Table | None = None
        self._space: str | None = None

    def __getstate__(self) -> dict[str, Any]:  # the table is re-read in each process
        return {**self.__dict__, "_table": None}

    def load(self) -> Table:
        if self._table is None:
            bench = get_benchmark(self.benchmark)
            self._table, self._space = bench.table(), bench.space_name
        return self._table

    def metric_names(self) -> list[str]:
        return list(get_benchmark(self.benchmark).metrics)

    def _evaluate(self, arch: Arch) -> Mapping[str, float] | EvalResult:
        table = self.load()
        if arch.space != self._space:
            raise ValueError(f"benchmark {self.benchmark!r} scores space {self._space!r}, not {arch.space!r}")
        try:
            metrics = table[arch.body]
        except KeyError:
            raise KeyError(f"{arch.key} is not in the table of benchmark {self.benchmark!r}") from None
        if self.simulated_seconds > 0:
            return EvalResult(metrics=dict(metrics), cost_seconds=self.simulated_seconds)
        return dict(metrics)


for _name, _column in NB201_COLUMNS.items():
    register_benchmark(_name)(partial(
        TabularBenchmark, _name, "nb201", NB201_FILE, ("accuracy",), partial(read_nb201, column=_column),
        f"NAS-Bench-201 test accuracy ({_column})", input_shape=NB201_DATASETS[_name][0],
        num_classes=NB201_DATASETS[_name][1]))

register_benchmark("macro")(partial(
    TabularBenchmark, "macro", "macro", MACRO_FILE, ("accuracy", "params", "flops"), read_macro,
    "NAS-Bench-Macro CIFAR-10 mean test accuracy, params, FLOPs"))
