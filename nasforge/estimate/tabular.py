"""The ``tabular`` evaluator: look an architecture up in a benchmark table instead of training it.

Settings: ``benchmark`` (one of :data:`nasforge.estimate.benchmarks.BENCHMARKS` for the run's
space; default: the space's first, ``nb201-cifar10`` for ``nb201``, ``macro`` for ``macro``)
and ``simulated_seconds``. The tables hold no training times: ``cost_seconds`` is the lookup's
own time unless ``simulated_seconds`` is set, which is then reported for every query, so a
run's ``simulated`` clock (and a budget in minutes) counts what the queries would have cost.
A lookup needs no data; the selected architecture's result is the table's truth.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from nasforge.core.records import EvalResult
from nasforge.estimate.base import Evaluator, IncompatibleError, RunContext, register_evaluator
from nasforge.estimate.benchmarks import BENCHMARKS, Table, benchmarks_of_space, get_benchmark
from nasforge.space.arch import Arch


class TabularSettings(BaseModel):
    """Settings of the ``tabular`` evaluator."""

    model_config = ConfigDict(extra="forbid")

    benchmark: str | None = Field(None, description="benchmark table (default: the space's first)")
    simulated_seconds: float = Field(0.0, ge=0, le=1e9, description="seconds each query reports as its cost")


@register_evaluator("tabular")
class TabularEvaluator(Evaluator):
    """Metrics of ``arch`` from the table of ``benchmark`` (a lookup; cheap and exact)."""

    Settings = TabularSettings
    needs_task = False
    finalise = "table"

    def __init__(self, benchmark: str = "nb201-cifar10", simulated_seconds: float = 0.0) -> None:
        self.benchmark = benchmark
        self.simulated_seconds = simulated_seconds
        self._table: Table | None = None
        self._space: str | None = None

    def __getstate__(self) -> dict[str, Any]:  # the table is re-read in each process
        return {**self.__dict__, "_table": None}

    # ------------------------------------------------------------- a run's view
    @staticmethod
    def benchmark_for(settings: TabularSettings, space: Any) -> str:
        """The benchmark the run uses: the one named, else the space's first."""
        if settings.benchmark is not None:
            return BENCHMARKS.canonical(settings.benchmark)
        names = benchmarks_of_space(space.name)
        if not names:
            tables = {n: get_benchmark(n).space_name for n in BENCHMARKS.list()}
            spaces = sorted(set(tables.values()))
            raise IncompatibleError(
                "there is no table of this space; tables exist for spaces "
                + ", ".join(f"{sp} ({', '.join(n for n, t in tables.items() if t == sp)})" for sp in spaces))
        return names[0]

    @classmethod
    def check_space(cls, space: Any, settings: TabularSettings) -> None:
        name = cls.benchmark_for(settings, space)
        bench = get_benchmark(name)
        if bench.space_name != space.name:
            raise IncompatibleError(f"benchmark {name!r} scores space {bench.space_name!r}, not {space.name!r}")
        bench.path()  # a missing table file is named (with NASFORGE_DATA) before the run starts

    @classmethod
    def reports(cls, settings: TabularSettings, space: Any) -> list[str]:
        return list(get_benchmark(cls.benchmark_for(settings, space)).metrics)

    @classmethod
    def default_objectives(cls, settings: TabularSettings, space: Any) -> list[str]:
        return ["accuracy:max"]

    @classmethod
    def default_task(cls, settings: TabularSettings, space: Any) -> str | None:
        """The data the table's networks were trained on, where nasforge ships it (for proxies)."""
        return get_benchmark(cls.benchmark_for(settings, space)).task

    @classmethod
    def task_shape(cls, settings: TabularSettings, space: Any) -> Any:
        from nasforge.hardware.metrics import TaskShape

        bench = get_benchmark(cls.benchmark_for(settings, space))
        return TaskShape(tuple(bench.input_shape), bench.num_classes)

    @classmethod
    def for_run(cls, run: RunContext, settings: TabularSettings, constraints: Sequence[Any] = ()) -> TabularEvaluator:
        return cls(cls.benchmark_for(settings, run.space), settings.simulated_seconds)

    # -------------------------------------------------------------- evaluation
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
