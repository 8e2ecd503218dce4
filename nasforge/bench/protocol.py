"""The benchmark protocol: every (benchmark, strategy, seed) run to the same query budget.

A *query* is one unique architecture evaluated. A strategy that proposes an architecture it was
already told about is answered from the earlier result, for free and not counted (the rule of
the Experiment loop). Each run records, after every query, the best value of the first
objective and, for several objectives, the hypervolume of what it has found (objectives
normalised to [0, 1] by the table's own range, reference point 1.1 in every objective).

Runs are independent, so they go to a pool of worker processes; each run is an ordinary
:class:`~nasforge.experiment.experiment.Experiment` (serial executor, in-memory storage, the
services of the benchmark's dataset for proxy scorers) (Yang et al. 2020, "NAS evaluation is frustratingly hard": many seeds, the same
budget, random search beside every method).
"""

from __future__ import annotations

import multiprocessing as mp
import os
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from nasforge.core.objectives import Objective

HV_REFERENCE = 1.1
_MAX_REPEATS = 10_000  # consecutive free repeats before a run is declared stuck


@dataclass(frozen=True)
class Job:
    """One run: a strategy (with settings) on a benchmark with a seed."""

    benchmark: str
    strategy: str
    seed: int
    queries: int
    objectives: tuple[str, ...] = ("accuracy:max",)
    settings: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class RunCurve:
    """What one run found: per query, the best first-objective value and the hypervolume."""

    benchmark: str
    strategy: str
    seed: int
    best: np.ndarray  # best value of the first objective after each query (metric units)
    regret: np.ndarray  # |optimum - best| after each query, in the metric's units
    hypervolume: np.ndarray | None  # normalised hypervolume after each query (several objectives)
    true_hypervolume: float | None
    seconds: float
    repeats: int
    #: cumulative proxy evaluations and proxy seconds after each query (proxy-guided strategies:
    #: their compute is real even when the benchmark's own queries are free); None otherwise
    proxy_evaluations: np.ndarray | None = None
    proxy_seconds: np.ndarray | None = None


def run_one(job: Job) -> RunCurve:
    """Run ``job`` to ``job.queries`` unique architectures (or until the space is exhausted),
    through the :class:`~nasforge.experiment.experiment.Experiment` loop with in-memory storage."""
    from nasforge.core.records import CACHED
    from nasforge.estimate.benchmarks import get_benchmark
    from nasforge.estimate.tabular import TabularEvaluator
    from nasforge.experiment.budget import Budget
    from nasforge.experiment.experiment import Experiment
    from nasforge.experiment.services import run_services
    from nasforge.experiment.storage import Storage
    from nasforge.strategy.base import get_strategy

    start = time.perf_counter()
    bench = get_benchmark(job.benchmark)
    objectives = [Objective.parse(o) for o in job.objectives]
    bench.check_objectives(objectives)
    space = bench.space()
    strategy = get_strategy(job.strategy, **dict(job.settings))
    hv = _Hypervolume(bench, objectives) if len(objectives) > 1 else None
    first = objectives[0]
    best_loss, best, hvs = np.inf, [], []
    proxy: list[tuple[float, float]] = []

    def record(experiment: Experiment, trial: Any) -> None:
        nonlocal best_loss
        metrics = trial.strategy_view()
        if metrics is not None and first.metric in metrics:
            best_loss = min(best_loss, first.loss(metrics[first.metric]))
        best.append(best_loss)
        if hv is not None:
            hvs.append(hv.add(metrics))
        scores = getattr(strategy, "scores", None)  # a proxy-guided strategy's ScoreCache
        if scores is not None:
            proxy.append((float(scores.evaluations), float(scores.seconds)))

    storage = Storage(":memory:")
    try:
        # shape=bench: free statistics of the benchmark's own networks, also where nasforge lacks its data
        experiment = Experiment(space, strategy, TabularEvaluator(bench.name), storage, objectives,
                                Budget(trials=job.queries), seed=job.seed, callbacks=[record],
                                services=run_services(space, bench.task, job.seed, shape=bench,
                                                      cost=table_costs(bench)),
                                max_repeats=_MAX_REPEATS)
        trials = experiment.run()
    finally:
        storage.close()
    repeats = sum(t.status == CACHED for t in trials)
    losses = _pad(np.array(best, dtype=float), job.queries)
    opt_loss = first.loss(bench.optimum(first))
    return RunCurve(
        benchmark=job.benchmark, strategy=job.strategy, seed=job.seed,
        best=np.array([-v if first.direction == "max" else v for v in losses]),
        regret=losses - opt_loss,
        hypervolume=None if hv is None else _pad(np.array(hvs, dtype=float), job.queries),
        true_hypervolume=None if hv is None else hv.true_value,
        seconds=time.perf_counter() - start, repeats=repeats,
        proxy_evaluations=_pad(np.array([e for e, _ in proxy]), job.queries) if proxy else None,
        proxy_seconds=_pad(np.array([t for _, t in proxy]), job.queries) if proxy else None)


#: table metrics a strategy may read before an architecture is queried (what it costs, not how good it is)
FREE_TABLE_METRICS = ("params", "flops")


def table_costs(bench: Any) -> Any:
    """The ``cost`` service of a run on ``bench``: ``params`` and ``flops`` read from its table
    (free, as the run's cost sources price them); other metrics are refused."""

    def cost(metric: str) -> Any:
        if metric not in FREE_TABLE_METRICS or metric not in bench.metrics:
            raise ValueError(f"cost {metric!r} is not available to the strategy on benchmark {bench.name!r}: "
                             f"free metrics {[m for m in FREE_TABLE_METRICS if m in bench.metrics]}")
        table = bench.table()
        return lambda arch: float(table[arch.body][metric])

    return cost


def _pad(values: np.ndarray, n: int) -> np.ndarray:
    """Extend a curve that ended early (space exhausted) with its last value."""
    if len(values) >= n:
        return values[:n]
    fill = values[-1] if len(values) else np.inf
    return np.concatenate([values, np.full(n - len(values), fill)])


class _Hypervolume:
    """Running hypervolume of the results so far, normalised by the table's range."""

    def __init__(self, bench: Any, objectives: Sequence[Objective]) -> None:
        from nasforge.core.pareto import hypervolume

        self._hv = hypervolume
        self.objectives = list(objectives)
        table = bench.losses(objectives)
        self.low, span = table.min(axis=0), np.ptp(table, axis=0)
        self.span = np.where(span > 0, span, 1.0)
        self.ref = [HV_REFERENCE] * len(objectives)
        self.true_value = self._hv(self._norm(bench.pareto_front(objectives)), self.ref)
        self.front = np.empty((0, len(objectives)))
        self.value = 0.0

    def _norm(self, losses: np.ndarray) -> np.ndarray:
        return (losses - self.low) / self.span

    def add(self, metrics: Mapping[str, float] | None) -> float:
        if metrics is None or any(o.metric not in metrics for o in self.objectives):
            return self.value
        point = self._norm(np.array([[o.loss(metrics[o.metric]) for o in self.objectives]]))
        if len(self.front) and (self.front <= point).all(axis=1).any():
            return self.value  # dominated (or equal): the hypervolume does not change
        keep = ~(point <= self.front).all(axis=1)
        self.front = np.vstack([self.front[keep], point])
        self.value = self._hv(self.front, self.ref)
        return self.value


def _init_worker() -> None:
    try:  # one BLAS thread per worker: the workers already fill the cores
        from threadpoolctl import threadpool_limits

        threadpool_limits(1)
    except ImportError:  # pragma: no cover - threadpoolctl comes with scikit-learn
        pass


def run_jobs(jobs: Sequence[Job], workers: int | None = None,
             on_done: Callable[[RunCurve], None] | None = None) -> list[RunCurve]:
    """Run ``jobs`` over ``workers`` processes (default: all cores); results in job order."""
    workers = max(1, min(workers or os.cpu_count() or 1, len(jobs)))
    out: dict[int, RunCurve] = {}
    for index, curve in _imap(jobs, workers):
        out[index] = curve
        if on_done is not None:
            on_done(curve)
    return [out[i] for i in range(len(jobs))]


def _run_indexed(item: tuple[int, Job]) -> tuple[int, RunCurve]:
    return item[0], run_one(item[1])


def _imap(jobs: Sequence[Job], workers: int) -> Iterator[tuple[int, RunCurve]]:
    items = list(enumerate(jobs))
    if workers == 1:
        _init_worker()
        yield from map(_run_indexed, items)
        return
    with mp.get_context("spawn").Pool(workers, initializer=_init_worker) as pool:
        yield from pool.imap_unordered(_run_indexed, items)


def make_jobs(benchmarks: Sequence[str], strategies: Sequence[str], seeds: int | Sequence[int],
              queries: int, objectives: Sequence[str] = ("accuracy:max",),
              settings: Mapping[str, Mapping[str, Any]] | None = None) -> list[Job]:
    """Every (benchmark, strategy, seed); seeds ``0..n-1`` when given a count."""
    seed_list = list(range(seeds)) if isinstance(seeds, int) else list(seeds)
    settings = settings or {}
    return [Job(b, s, seed, queries, tuple(objectives), dict(settings.get(s, {})))
            for b in benchmarks for s in strategies for seed in seed_list]
