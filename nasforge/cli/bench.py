"""``nasforge bench``: strategies x tabular benchmarks x seeds, regret vs queries."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from nasforge.cli import app
from nasforge.cli.common import Command, fail, names, objective_list, pairs, registry_names

_BENCHMARKS = registry_names("nasforge.estimate.benchmarks", "BENCHMARKS")
_STRATEGIES = registry_names("nasforge.strategy.base", "STRATEGIES")


def _settings(items: list[str] | None) -> dict[str, dict[str, Any]]:
    """``-S STRATEGY.NAME=VALUE`` items as ``{strategy: {name: value}}`` (values parsed as YAML)."""
    out: dict[str, dict[str, Any]] = {}
    for item in items or []:
        key, _, value = item.partition("=")
        strategy, dot, name = key.strip().rpartition(".")  # a setting's name has no dot; a strategy's may
        if "=" not in item or not dot or not strategy or not name:
            fail(f"-S/--strategy-setting: expected STRATEGY.NAME=VALUE (several strategies run, so the setting "
                 f"names its strategy, e.g. bananas.n_init=10), got {item!r}")
        out.setdefault(strategy, {}).update(pairs([f"{name}={value}"], "-S/--strategy-setting"))
    return out


@app.command(cls=Command)
def bench(
    benchmarks: Annotated[str, typer.Option(help=f"comma-separated tabular benchmarks: {_BENCHMARKS}")] = (
        "nb201-cifar10"),
    strategies: Annotated[str, typer.Option(help=f"comma-separated strategies: {_STRATEGIES}")] = (
        "random,evolution,local,bananas"),
    seeds: Annotated[int, typer.Option(min=1, help="runs per (benchmark, strategy): seeds 0..N-1")] = 30,
    queries: Annotated[int, typer.Option(min=1, help="unique architectures evaluated per run")] = 300,
    out: Annotated[Path, typer.Option("--out", "-o", help="output folder")] = Path("bench-out"),
    objective: Annotated[list[str] | None, typer.Option(
        "--objective", help="METRIC:max|min (repeatable; comma-separated also accepted); with several, "
        "hypervolume too (default: accuracy:max)")] = None,
    objectives: Annotated[str | None, typer.Option(
        "--objectives", hidden=True, help="old spelling of --objective: a comma-separated list")] = None,
    workers: Annotated[int | None, typer.Option(min=1, help="processes (default: all cores)")] = None,
    strategy_setting: Annotated[list[str] | None, typer.Option(
        "--strategy-setting", "-S", help="strategy setting STRATEGY.NAME=VALUE (repeatable); several strategies "
        "run, so name the strategy, e.g. bananas.n_init=10")] = None,
) -> None:
    """Run every (benchmark, strategy, seed) to the same number of queries; write summary.csv,
    curves.csv, runs.csv and regret.png (hypervolume.csv/.png for several objectives, proxy_cost.csv
    for proxy-guided strategies)."""
    from nasforge.bench.run import validate
    from nasforge.core.objectives import Objective, check_objectives
    from nasforge.core.registry import UnknownNameError
    from nasforge.estimate.benchmarks import BENCHMARKS
    from nasforge.strategy.base import STRATEGIES

    bench_names, strategy_names = names(benchmarks), names(strategies)
    objective_names = (objective_list(objective) or []) + names(objectives) or ["accuracy:max"]
    settings = _settings(strategy_setting)
    # every name and setting, with the option it came from, before any data is read
    for option, registry, given in (("--benchmarks", BENCHMARKS, bench_names),
                                    ("--strategies", STRATEGIES, strategy_names)):
        if not given:
            fail(f"{option}: give at least one of: {', '.join(registry.list())}")
        for name in given:
            try:
                registry.canonical(name)
            except UnknownNameError as exc:
                fail(f"{option}: {exc}")
    unknown = sorted(set(settings) - set(strategy_names))
    if unknown:
        fail(f"-S/--strategy-setting: settings for strategies not in --strategies: {', '.join(unknown)}")
    try:
        for name, given_settings in settings.items():
            settings[name] = STRATEGIES.check_settings(name, given_settings)
    except ValueError as exc:
        fail(f"-S/--strategy-setting: {exc}")
    try:
        check_objectives([Objective.parse(o) for o in objective_names])
    except ValueError as exc:
        fail(f"--objective: {exc}")
    try:
        validate(bench_names, strategy_names, objective_names, settings)  # metrics of each table, data files
    except (ValueError, FileNotFoundError) as exc:
        fail(exc)
    _run(bench_names, strategy_names, seeds, queries, out, objective_names, workers, settings)


def _run(bench_names, strategy_names, seeds, queries, out, objective_names, workers, settings) -> None:
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from nasforge.bench.run import run_benchmark

    console = Console()
    total = len(bench_names) * len(strategy_names) * seeds
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=console) as progress:
        task = progress.add_task("runs", total=total)

        def done(curve) -> None:
            progress.update(task, advance=1, description=f"{curve.benchmark} {curve.strategy} seed {curve.seed}")

        result = run_benchmark(bench_names, strategy_names, seeds, queries, out, objective_names, workers,
                               settings, on_done=done)
    _print(console, result)


def _print(console, result) -> None:
    from rich.table import Table

    points = sorted({r.queries for r in result.summary})
    for bench in dict.fromkeys(r.benchmark for r in result.summary):
        table = Table("strategy", *(f"regret@{q}" for q in points), title=f"{bench}: mean regret over seeds")
        rows = [r for r in result.summary if r.benchmark == bench]
        for strategy in dict.fromkeys(r.strategy for r in rows):
            cells = {r.queries: r for r in rows if r.strategy == strategy}
            table.add_row(strategy, *(f"{cells[q].mean_regret:.3f} ± {cells[q].ci95:.3f}" for q in points))
        console.print(table)
    if result.proxy_cost:
        table = Table("benchmark", "strategy", "queries", "proxy evaluations", "proxy seconds",
                      title="proxy compute (mean over seeds)")
        for r in result.proxy_cost:
            table.add_row(r.benchmark, r.strategy, str(r.queries), f"{r.mean_proxy_evaluations:.0f}",
                          f"{r.mean_proxy_seconds:.1f}")
        console.print(table)
    for path in result.files:
        console.print(f"wrote {path}")
