"""Ground truth for one-shot benchmarks: true accuracy (and FLOPs) from the tabular benchmarks.

Uses the ``nb201-cifar10`` and ``macro`` benchmarks of :mod:`nasforge.estimate.benchmarks`
(NAS-Bench-201 CIFAR-10 test accuracy after 200 epochs; NAS-Bench-Macro mean test accuracy and
FLOPs). Spaces without a table (``mbconv``) have no truth: :func:`true_metrics` returns ``None``.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import cache

from nasforge.estimate.benchmarks import get_benchmark
from nasforge.space.arch import Arch

BENCHMARK_OF_SPACE = {"nb201": "nb201-cifar10", "macro": "macro"}


@cache
def true_table(space_name: str) -> Mapping[str, Mapping[str, float]] | None:
    """``key body -> metrics`` of the space's benchmark table, or ``None`` if it has none."""
    name = BENCHMARK_OF_SPACE.get(space_name)
    return None if name is None else get_benchmark(name).table()


def true_metrics(arch: Arch) -> Mapping[str, float] | None:
    """The table's metrics of ``arch`` (``accuracy`` in percent, ...), or ``None``."""
    table = true_table(arch.space)
    return None if table is None else table.get(arch.body)
