"""``nasforge proxies``: compute zero-cost proxies over many architectures and rank-correlate
them with the benchmark's (or a run's) trained accuracy."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from nasforge.cli import app


def _fail(exc: Exception) -> None:
    typer.secho(f"error: {exc}", fg="red", err=True)
    raise typer.Exit(2)


@app.command()
def proxies(
    out: Annotated[Path, typer.Option(help="folder for proxies.csv, timings.csv, correlations.csv")],
    space: Annotated[str, typer.Option(help="search space, e.g. nb201, macro")] = "nb201",
    task: Annotated[str, typer.Option(help="task whose training images feed the proxies")] = "cifar10",
    archs: Annotated[int, typer.Option(help="number of distinct random architectures")] = 1000,
    seed: Annotated[int, typer.Option(help="seed of the sample, the batch and the initialisation")] = 0,
    archs_file: Annotated[Path | None, typer.Option(help="file with one architecture key per line")] = None,
    batch_size: Annotated[int, typer.Option(help="images in the proxies' batch")] = 64,
    proxy_names: Annotated[str | None, typer.Option("--proxies", help="comma-separated proxies (default: all)")] = None,
    run_dir: Annotated[Path | None, typer.Option(help="a run directory: its trials and their trained metric")] = None,
    workers: Annotated[int, typer.Option(help="worker processes (one torch thread each)")] = 2,
    resume: Annotated[bool, typer.Option("--resume", help="keep the rows already in --out")] = False,
    clock: Annotated[str, typer.Option(help="wall (elapsed) or cpu (thread CPU time; steadier on a busy machine)")] = "wall",
) -> None:
    """Zero-cost proxies vs trained accuracy: proxies.csv and correlations.csv in --out."""
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )
    from rich.table import Table

    from nasforge.bench.proxy_files import RowWriter, read_rows, write_correlations
    from nasforge.bench.proxy_study import (
        benchmark_truths,
        compute,
        correlations,
        failures,
        read_archs,
        run_truths,
        sample_archs,
    )
    from nasforge.core.registry import UnknownNameError
    from nasforge.estimate.proxies import parse_proxies
    from nasforge.space import get_space

    try:
        names = parse_proxies(proxy_names)
        if run_dir is not None:
            config, chosen, truths = run_truths(run_dir)
            sp = get_space(config["space"], **config.get("space_settings", {}))
            task = config["task"]
        else:
            sp = get_space(space)
            chosen = read_archs(sp, archs_file) if archs_file else sample_archs(sp, archs, seed)
            truths = benchmark_truths(sp.name)
        if not chosen:
            raise ValueError("no architectures to score")
        if clock not in ("wall", "cpu"):
            raise ValueError(f"--clock must be wall or cpu, got {clock!r}")
        done = read_rows(out, names) if resume else []
    except (UnknownNameError, ValueError, OSError) as exc:
        _fail(exc)
    done_keys = {r.key for r in done}
    todo = [a for a in chosen if a.key not in done_keys]
    rows = [r for r in done if r.key in {a.key for a in chosen}]
    console = Console(stderr=True)
    if not truths:
        console.print(f"[yellow]space {sp.name!r} has no tabular truth: writing proxies only")
    columns = ("[progress.description]{task.description}", BarColumn(), MofNCompleteColumn(),
               TimeElapsedColumn(), TimeRemainingColumn())
    with RowWriter(out, names, truths, append=bool(done)) as writer, \
            Progress(*columns, console=console) as bar:
        job = bar.add_task(f"{sp.name} proxies", total=len(chosen), completed=len(rows))
        for row in compute(sp, task, todo, names, batch_size, seed, workers, clock):
            writer.write(row)
            rows.append(row)
            bar.advance(job)
    failed = {k: v for k, v in failures(rows, names).items() if v}
    if failed:
        console.print("[yellow]could not score (ranked last): " + ", ".join(f"{k} {v}" for k, v in failed.items()))
    if not truths:
        typer.echo(f"wrote {out / 'proxies.csv'}")
        return
    records = correlations(rows, names, truths)
    path = write_correlations(out, records)
    table = Table("proxy", *(t.name for t in truths), "s/arch", title=f"Spearman rho, {len(rows)} {sp.name} archs")
    for name in names:
        recs = [r for r in records if r["proxy"] == name]
        table.add_row(name, *(f"{r['spearman']:.3f}" for r in recs), f"{recs[0]['seconds_per_arch']:.3f}")
    Console().print(table)
    typer.echo(f"wrote {out / 'proxies.csv'} and {path}")
