"""Ground truth for one-shot benchmarks: true accuracy (and FLOPs) from the tabular benchmarks.

Uses the ``nb201-cifar10`` and ``macro`` benchmarks of :mod:`nasforge.estimate.tabular`
(NAS-Bench-201 CIFAR-10 test accuracy after 200 epochs; NAS-Bench-Macro mean test accuracy and
FLOPs). Where that module is not installed, a small private reader of the same two files
(found through :func:`nasforge.paths.data_file`) gives the same values. Spaces without a table
(``mbconv``) have no truth: :func:`true_metrics` returns ``None``.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Mapping
from functools import cache

from nasforge.space.arch import Arch

BENCHMARK_OF_SPACE = {"nb201": "nb201-cifar10", "macro": "macro"}


@cache
def true_table(space_name: str) -> Mapping[str, Mapping[str, float]] | None:
    """``key body -> metrics`` of the space's benchmark table, or ``None`` if it has none."""
    name = BENCHMARK_OF_SPACE.get(space_name)
    if name is None:
        return None
    try:
        from nasforge.bench.registry import get_benchmark
    except ImportError:
        return _read(space_name)
    return get_benchmark(name).table()


def true_metrics(arch: Arch) -> Mapping[str, float] | None:
    """The table's metrics of ``arch`` (``accuracy`` in percent, ...), or ``None``."""
    table = true_table(arch.space)
    return None if table is None else table.get(arch.body)


def _read(space_name: str) -> dict[str, dict[str, float]]:
    from nasforge.paths import data_file

    if space_name == "nb201":
        with open(data_file("nb201-tss-accuracy.csv", "the NAS-Bench-201 truth"), newline="") as fh:
            return {row["ArchitectureString"]: {"accuracy": float(row["CIFAR10TestAccuracy200Epochs"])}
                    for row in csv.DictReader(fh)}
    with open(data_file("nas-bench-macro-cifar10.json", "the NAS-Bench-Macro truth")) as fh:
        data = json.load(fh)
    return {key: {"accuracy": float(r["mean_acc"]), "flops": float(r["flops"]), "params": float(r["params"])}
            for key, r in data.items()}
