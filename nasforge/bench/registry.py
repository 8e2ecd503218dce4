"""The registry of benchmarks: ``get_benchmark("nb201-cifar10")``.

A benchmark is a space, an evaluator that scores every architecture of it, and what is known
about the whole space (the optimum of each metric, the true Pareto front), so a search can be
scored by regret. Tabular benchmarks register themselves from
:mod:`nasforge.estimate.tabular`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from nasforge.registry import Registry

if TYPE_CHECKING:
    from nasforge.estimate.tabular import TabularBenchmark

BENCHMARKS: Registry[Callable[[], TabularBenchmark]] = Registry(
    "benchmark",
    modules=("nasforge.estimate.tabular",),
)
register_benchmark = BENCHMARKS.register


def get_benchmark(name: str) -> TabularBenchmark:
    """The benchmark registered as ``name`` (unknown names list the valid ones)."""
    return BENCHMARKS.get(name)()
