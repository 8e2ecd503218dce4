"""``nasforge bench``: strategies x tabular benchmarks x seeds, regret vs queries."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from nasforge.cli import app


def _names(text: str) -> list[str]:
    return [t.strip() for t in text.split(",") if t.strip()]


def _settings(items: list[str] | None) -> dict[str, dict[str, object]]:
    import yaml

    out: dict[str, dict[str, object]] = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        strategy, dot, name = key.strip().partition(".")
        if not sep or not dot or not strategy or not name:
            raise typer.BadParameter(f"expected STRATEGY.NAME=VALUE, got {item!r}", param_hint="--setting")
        out.setdefault(strategy, {})[name] = yaml.safe_load(value)
    return out


@app.command()
def bench(
    benchmarks: Annotated[str, typer.Option(help="comma-separated: nb201-cifar10,nb201-cifar100,"
                                                 "nb201-imagenet16,macro")] = "nb201-cifar10",
    strategies: Annotated[str, typer.Option(help="comma-separated strategies")] = "random,evolution,local,bananas",
    seeds: Annotated[int, typer.Option(min=1, help="runs per (benchmark, strategy): seeds 0..N-1")] = 30,
    queries: Annotated[int, typer.Option(min=1, help="unique architectures evaluated per run")] = 300,
    out: Annotated[Path, typer.Option(help="output folder")] = Path("bench-out"),
    objectives: Annotated[str, typer.Option(help="METRIC:max|min, comma-separated (several: hypervolume too)")] = (
        "accuracy:max"),
    workers: Annotated[int | None, typer.Option(min=1, help="processes (default: all cores)")] = None,
    setting: Annotated[list[str] | None, typer.Option(
        "--setting", "-S", help="strategy setting STRATEGY.NAME=VALUE (repeatable), e.g. bananas.n_init=10")] = None,
) -> None:
    """Run every (benchmark, strategy, seed) to the same number of queries; write summary.csv,
    curves.csv, runs.csv and regret.png (hypervolume.csv/.png for several objectives, proxy_cost.csv
    for proxy-guided strategies)."""
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from nasforge.bench.run import run_benchmark, validate
    from nasforge.core.registry import UnknownNameError

    bench_names, strategy_names, objective_list = _names(benchmarks), _names(strategies), _names(objectives)
    settings = _settings(setting)
    try:
        validate(bench_names, strategy_names, objective_list, settings)
    except (ValueError, UnknownNameError, FileNotFoundError) as exc:
        typer.secho(f"error: {exc}", fg="red", err=True)
        raise typer.Exit(2) from None
    console = Console()
    total = len(bench_names) * len(strategy_names) * seeds
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=console) as progress:
        task = progress.add_task("runs", total=total)

        def done(curve) -> None:
            progress.update(task, advance=1, description=f"{curve.benchmark} {curve.strategy} seed {curve.seed}")

        result = run_benchmark(bench_names, strategy_names, seeds, queries, out, objective_list, workers,
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
