"""``run_benchmark``: validate, run every (benchmark, strategy, seed), write the protocol's files.

Files in ``out``: ``summary.csv``, ``curves.csv``, ``runs.csv`` (seconds, repeats and proxy cost per
run), ``regret.png``; with several objectives, ``hypervolume.csv`` and ``hypervolume.png``; with
proxy-guided strategies, ``proxy_cost.csv`` (mean proxy evaluations and seconds by query count).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nasforge.bench.plots import plot_curves
from nasforge.bench.protocol import RunCurve, make_jobs, run_jobs
from nasforge.bench.summary import (
    HypervolumeRow,
    ProxyCostRow,
    SummaryRow,
    curve_rows,
    dataclass_rows,
    run_rows,
    summarize,
    summarize_hypervolume,
    summarize_proxy_cost,
    write_csv,
)
from nasforge.core.objectives import Objective, check_objectives


@dataclass(frozen=True)
class BenchResult:
    """What a benchmark run wrote and measured."""

    out: Path
    curves: list[RunCurve]
    summary: list[SummaryRow]
    hypervolume: list[HypervolumeRow]
    proxy_cost: list[ProxyCostRow]
    files: list[Path]


def validate(benchmarks: Sequence[str], strategies: Sequence[str], objectives: Sequence[str],
             settings: Mapping[str, Mapping[str, Any]]) -> None:
    """Fail before any run: unknown names, bad objectives or settings, missing data files."""
    from nasforge.estimate.benchmarks import get_benchmark
    from nasforge.strategy.base import get_strategy

    if not benchmarks or not strategies:
        raise ValueError("bench: give at least one benchmark and one strategy")
    objs = [Objective.parse(o) for o in objectives]
    check_objectives(objs)
    for name in benchmarks:
        bench = get_benchmark(name)
        bench.check_objectives(objs)
        bench.path()  # MissingDataError naming the file and NASFORGE_DATA
    unknown = sorted(set(settings) - set(strategies))
    if unknown:
        raise ValueError(f"bench: settings for strategies not in the run: {unknown}")
    from nasforge.experiment.services import run_services

    for name in strategies:
        strategy = get_strategy(name, **dict(settings.get(name, {})))
        for bench_name in benchmarks:  # what only set-up can judge (a scorer without data, sizes)
            bench = get_benchmark(bench_name)
            space = bench.space()
            try:
                strategy.setup(space, objs, (), 0, run_services(space, bench.task, 0, shape=bench))
            except ValueError as exc:
                raise ValueError(f"bench: strategy {name!r} on {bench_name!r}: {exc}") from None


def run_benchmark(
    benchmarks: Sequence[str],
    strategies: Sequence[str],
    seeds: int | Sequence[int],
    queries: int,
    out: str | Path,
    objectives: Sequence[str] = ("accuracy:max",),
    workers: int | None = None,
    settings: Mapping[str, Mapping[str, Any]] | None = None,
    on_done: Callable[[RunCurve], None] | None = None,
) -> BenchResult:
    """Run the protocol and write its files to ``out`` (created if needed)."""
    settings = settings or {}
    if queries < 1:
        raise ValueError(f"bench: queries must be >= 1, got {queries}")
    validate(benchmarks, strategies, objectives, settings)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    jobs = make_jobs(benchmarks, strategies, seeds, queries, objectives, settings)
    curves = run_jobs(jobs, workers, on_done)

    first = Objective.parse(objectives[0])
    summary = summarize(curves, queries, maximize=first.direction == "max")
    files = [
        write_csv(out / "summary.csv", *dataclass_rows(summary, SummaryRow)),
        write_csv(out / "curves.csv", *curve_rows(curves)),
        write_csv(out / "runs.csv", *run_rows(curves)),
        plot_curves(curves, out / "regret.png", "regret", first.metric),
    ]
    hv: list[HypervolumeRow] = []
    if len(objectives) > 1:
        hv = summarize_hypervolume(curves, queries)
        files += [write_csv(out / "hypervolume.csv", *dataclass_rows(hv, HypervolumeRow)),
                  plot_curves(curves, out / "hypervolume.png", "hypervolume")]
    cost = summarize_proxy_cost(curves, queries)
    if cost:
        files.append(write_csv(out / "proxy_cost.csv", *dataclass_rows(cost, ProxyCostRow)))
    return BenchResult(out, curves, summary, hv, cost, files)
