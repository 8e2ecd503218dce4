"""The ``tabular`` evaluator: look an architecture up in a benchmark table instead of training it.

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

from collections.abc import Mapping
from typing import Any

from nasforge.core.records import EvalResult
from nasforge.estimate.base import Evaluator, register_evaluator
from nasforge.estimate.benchmarks import Table, get_benchmark
from nasforge.space.arch import Arch


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


