"""``nasforge proxies``: compute zero-cost proxies over many architectures and rank-correlate
them with the benchmark's (or a run's) trained accuracy."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from nasforge.cli import app
from nasforge.cli.common import Command, Device, fail, names_later, registry_names

_SPACES = registry_names("nasforge.space.registry", "SPACES")
_PROXIES = names_later("nasforge.estimate.proxies", "PROXIES")  # listing them loads torch: only for --help
_CLOCKS = ("wall", "cpu")


@app.command(cls=Command)
def proxies(
    out: Annotated[Path, typer.Option("--out", "-o", help="folder for proxies.csv, timings.csv, correlations.csv")],
    space: Annotated[str, typer.Option(help=f"search space, one of: {_SPACES}")] = "nb201",
    task: Annotated[str, typer.Option(help="task whose training images feed the proxies")] = "cifar10",
    archs: Annotated[int, typer.Option(min=1, help="number of distinct random architectures")] = 1000,
    seed: Annotated[int, typer.Option(help="seed of the sample, the batch and the initialisation")] = 0,
    archs_file: Annotated[Path | None, typer.Option(help="file with one architecture key per line "
                                                    "(instead of a random sample)")] = None,
    batch_size: Annotated[int, typer.Option(min=2, help="images in the proxies' batch")] = 64,
    proxy_names: Annotated[str | None, typer.Option(
        "--proxies", help=f"comma-separated proxies, of: {_PROXIES} (default: all)", show_default=False)] = None,
    run_dir: Annotated[Path | None, typer.Option(help="a run directory: its space, task, trials and their trained "
                                                 "metric (instead of --space, --task and the sample)")] = None,
    workers: Annotated[int, typer.Option(min=1, help="worker processes (one torch thread each)")] = 2,
    resume: Annotated[bool, typer.Option("--resume", help="keep the rows already in --out; score the rest")] = False,
    clock: Annotated[str, typer.Option(help="what a proxy's seconds count: wall (elapsed) or cpu (thread CPU "
                                       "time; steadier on a busy machine)")] = "wall",
    device: Device = "auto",
) -> None:
    """Zero-cost proxies vs trained accuracy: proxies.csv and correlations.csv in --out."""
    import logging

    from rich.console import Console
    from rich.logging import RichHandler
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
    )
    from nasforge.core.registry import UnknownNameError
    from nasforge.estimate.proxies import parse_proxies
    from nasforge.experiment.executors import ExecutorError
    from nasforge.space import get_space
    from nasforge.task.registry import TASKS, parse_task_spec

    # every setting, named by its option, before any data is read
    if clock not in _CLOCKS:
        fail(f"--clock: must be one of: {', '.join(_CLOCKS)}; got {clock!r}")
    from nasforge.run.config import resolve_device

    try:
        device = resolve_device(device)
    except ValueError as exc:
        fail(f"--device: {exc}")
    if run_dir is not None and archs_file is not None:
        fail("--archs-file: --run-dir scores the run's own trials; give one of the two")
    try:
        chosen_names = parse_proxies(proxy_names)
    except (UnknownNameError, ValueError) as exc:
        fail(f"--proxies: {exc}")
    if run_dir is None:
        try:
            sp = get_space(space)
        except (UnknownNameError, ValueError) as exc:
            fail(f"--space: {exc}")
        try:
            TASKS.get(parse_task_spec(task)[0])
        except (UnknownNameError, ValueError) as exc:
            fail(f"--task: {exc}")
    try:  # then the data: run directory, archs file, benchmark tables, rows to resume
        if run_dir is None:
            chosen = read_archs(sp, archs_file) if archs_file else sp.sample_distinct(archs, seed)
            truths = benchmark_truths(sp.name)
        else:
            config, chosen, truths = run_truths(run_dir)
            sp = get_space(config["space"], **config.get("space_settings", {}))
            task = config["task"]
        if not chosen:
            raise ValueError("no architectures to score")
        done = read_rows(out, chosen_names) if resume else []
    except (UnknownNameError, ValueError, OSError) as exc:
        fail(exc)
    wanted = {a.key for a in chosen}
    done_keys = {r.key for r in done}
    todo = [a for a in chosen if a.key not in done_keys]
    rows = [r for r in done if r.key in wanted]
    console = Console(stderr=True)
    logging.basicConfig(level=logging.WARNING, handlers=[RichHandler(console=console, show_path=False)],
                        format="%(message)s")
    if not truths:
        console.print(f"[yellow]space {sp.name!r} has no tabular truth: writing proxies only")
    columns = ("[progress.description]{task.description}", BarColumn(), MofNCompleteColumn(),
               TimeElapsedColumn(), TimeRemainingColumn())
    with RowWriter(out, chosen_names, truths, append=bool(done)) as writer, \
            Progress(*columns, console=console) as bar:
        job = bar.add_task(f"{sp.name} proxies", total=len(wanted), completed=len(rows))

        def written(row) -> None:
            writer.write(row)
            bar.advance(job)

        try:
            rows += compute(sp, task, todo, chosen_names, batch_size, seed, workers, clock, on_row=written,
                            device=device)
        except ExecutorError as exc:
            fail(exc)
    failed = {k: v for k, v in failures(rows, chosen_names).items() if v}
    if failed:
        console.print("[yellow]could not score (ranked last): " + ", ".join(f"{k} {v}" for k, v in failed.items()))
    if not truths:
        typer.echo(f"wrote {out / 'proxies.csv'}")
        return
    records = correlations(rows, chosen_names, truths)
    path = write_correlations(out, records)
    table = Table("proxy", *(t.name for t in truths), "s/arch", title=f"Spearman rho, {len(rows)} {sp.name} archs")
    for name in chosen_names:
        recs = [r for r in records if r["proxy"] == name]
        table.add_row(name, *(f"{r['spearman']:.3f}" for r in recs), f"{recs[0]['seconds_per_arch']:.3f}")
    Console().print(table)
    typer.echo(f"wrote {out / 'proxies.csv'} and {path}")
