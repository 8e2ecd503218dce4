"""Tabular benchmarks: spaces whose every architecture has recorded metrics in one table file.

The registry :data:`BENCHMARKS` (``get_benchmark("nb201-cifar10")``) names them for
``nasforge bench``, the ``tabular`` evaluator and the ground truth of one-shot and proxy studies:

- ``nb201-cifar10``, ``nb201-cifar100``, ``nb201-imagenet16`` — NAS-Bench-201 (Dong & Yang
  2020), space ``nb201``; metric ``accuracy`` = test accuracy (percent) after 200 epochs,
  averaged over the benchmark's training seeds. File ``nb201-tss-accuracy.csv``.
- ``macro`` — NAS-Bench-Macro (Su et al. 2021), space ``macro``; metrics ``accuracy`` (mean
  of three trainings, percent), ``params`` and ``flops`` (counts). File
  ``nas-bench-macro-cifar10.json``.

Files are read from :func:`nasforge.core.paths.data_dir` (``$NASFORGE_DATA``), once per
process, as CSV and JSON (nothing in them is executed).
"""

from __future__ import annotations

import csv
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

import numpy as np

from nasforge.core.objectives import Objective
from nasforge.core.paths import data_file
from nasforge.core.registry import Registry
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
    #: the task spec of the data the table's networks were trained on, where nasforge has it
    #: (proxies and retraining use it); ``None`` when that data is not shipped
    task: str | None = None

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
        from nasforge.core.pareto import non_dominated

        losses = self.losses(objectives)
        return np.unique(losses[non_dominated(losses)], axis=0)



BENCHMARKS: Registry[Callable[[], TabularBenchmark]] = Registry("benchmark")
register_benchmark = BENCHMARKS.register


def get_benchmark(name: str) -> TabularBenchmark:
    """The benchmark registered as ``name`` (unknown names list the valid ones)."""
    return BENCHMARKS.get(name)()


def benchmarks_of_space(space_name: str) -> list[str]:
    """Names of the benchmarks that score ``space_name`` (e.g. ``nb201`` -> the three NB201 tables)."""
    return [n for n in BENCHMARKS.list() if get_benchmark(n).space_name == space_name]


for _name, _column in NB201_COLUMNS.items():
    register_benchmark(_name)(partial(
        TabularBenchmark, _name, "nb201", NB201_FILE, ("accuracy",), partial(read_nb201, column=_column),
        f"NAS-Bench-201 test accuracy ({_column})", input_shape=NB201_DATASETS[_name][0],
        num_classes=NB201_DATASETS[_name][1], task="cifar10" if _name == "nb201-cifar10" else None))

register_benchmark("macro")(partial(
    TabularBenchmark, "macro", "macro", MACRO_FILE, ("accuracy", "params", "flops"), read_macro,
    "NAS-Bench-Macro CIFAR-10 mean test accuracy, params, FLOPs", task="cifar10"))
