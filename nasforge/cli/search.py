"""``nasforge search``, ``resume``, ``show`` and ``report``."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from nasforge.cli import app


def _fail(exc: Exception) -> None:
    typer.secho(f"error: {exc}", fg="red", err=True)
    raise typer.Exit(2)


@app.command()
def search(
    config: Annotated[Path | None, typer.Option("--config", "-c", help="YAML file with the search configuration")] = None,
    task: Annotated[str | None, typer.Option(help="mnist1d (default), digits, cifar10, npz:PATH")] = None,
    space: Annotated[str | None, typer.Option(help="search space, e.g. conv1d (default)")] = None,
    strategy: Annotated[str | None, typer.Option(help="search strategy, e.g. evolution (default), random")] = None,
    strategy_setting: Annotated[list[str] | None, typer.Option(
        "--strategy-setting", "-S", help="strategy setting NAME=VALUE (repeatable), e.g. population_size=20")] = None,
    objective: Annotated[list[str] | None, typer.Option(help="METRIC:max|min (repeatable)")] = None,
    constraint: Annotated[list[str] | None, typer.Option(help="e.g. 'params<=20000' (repeatable)")] = None,
    trials: Annotated[int | None, typer.Option(help="budget: number of trials")] = None,
    minutes: Annotated[float | None, typer.Option(help="budget: minutes of search")] = None,
    epochs: Annotated[int | None, typer.Option(help="training epochs per trial (fidelity)")] = None,
    final_epochs: Annotated[int | None, typer.Option(help="epochs of the final retraining")] = None,
    batch_size: Annotated[int | None, typer.Option(help="training batch size")] = None,
    lr: Annotated[float | None, typer.Option(help="learning rate")] = None,
    weight_decay: Annotated[float | None, typer.Option(help="weight decay")] = None,
    optimizer: Annotated[str | None, typer.Option(help="adamw or sgd")] = None,
    early_stopping: Annotated[bool, typer.Option(
        "--early-stopping", help="stop trials whose extrapolated learning curve cannot beat the best so far")] = False,
    executor: Annotated[str | None, typer.Option(help="serial (default), processes or ray")] = None,
    workers: Annotated[int | None, typer.Option(help="concurrent trials (processes or ray executor)")] = None,
    ray_address: Annotated[str | None, typer.Option(help="Ray cluster address (default: a local Ray)")] = None,
    threads_per_worker: Annotated[int | None, typer.Option(
        help="CPU threads per worker (Ray: CPUs reserved per trial); default: cores / workers")] = None,
    gpus_per_trial: Annotated[float | None, typer.Option(help="GPUs per trial on Ray (0.5 shares one GPU)")] = None,
    trial_timeout: Annotated[float | None, typer.Option(
        help="seconds; a trial running longer is stopped and stored failed (reason 'timeout')")] = None,
    retries: Annotated[int | None, typer.Option(
        help="re-evaluate a failed trial (error, NaN, timeout, dead worker) up to N times")] = None,
    seed: Annotated[int | None, typer.Option(help="random seed of the whole run")] = None,
    run_dir: Annotated[Path | None, typer.Option(help="where to write the run (default nasforge-runs/<time>)")] = None,
) -> None:
    """Search architectures (default: 1-D CNNs on MNIST-1D, accuracy vs parameters)."""
    from nasforge.run.config import ConfigError, load_config

    try:
        evaluator = {k: v for k, v in dict(epochs=epochs, final_epochs=final_epochs, batch_size=batch_size, lr=lr,
                                             weight_decay=weight_decay, optimizer=optimizer).items() if v is not None}
        if early_stopping:
            evaluator["early_stopping"] = {}  # the defaults (a config file's settings are kept)
        budget = {k: v for k, v in dict(trials=trials, minutes=minutes).items() if v is not None}
        if trials is not None and minutes is None:
            budget["minutes"] = None  # a trial budget given alone is the whole budget
        cfg = load_config(
            config, task=task, space=space, strategy=strategy,
            strategy_settings=_settings(strategy_setting) if strategy_setting else None,
            objectives=objective or None, constraints=constraint or None, budget=budget or None,
            evaluator=evaluator or None, executor=executor, workers=workers, ray_address=ray_address,
            threads_per_worker=threads_per_worker, gpus_per_trial=gpus_per_trial, trial_timeout=trial_timeout,
            retries=retries, seed=seed)
    except (ConfigError, ValueError) as exc:
        _fail(exc)
    _run(lambda callbacks: _start(cfg, run_dir, callbacks), cfg)


@app.command()
def resume(run_dir: Annotated[Path, typer.Argument(help="run directory to continue")]) -> None:
    """Continue an interrupted run to its budget, without re-running finished trials."""
    from nasforge.experiment.run_dir import CONFIG, RunDirError, check_existing
    from nasforge.run.config import load_config
    from nasforge.run.runner import resume_search

    try:
        check_existing(run_dir)
        cfg = load_config(run_dir / CONFIG)
    except (RunDirError, ValueError) as exc:
        _fail(exc)
    _run(lambda callbacks: resume_search(run_dir, callbacks=callbacks), cfg)


@app.command()
def show(
    run_dir: Annotated[Path, typer.Argument(help="run directory")],
    csv_out: Annotated[bool, typer.Option("--csv", help="print every trial as CSV")] = False,
) -> None:
    """Show a run's trials (a table, or CSV with --csv)."""
    import csv

    from nasforge.experiment.run_dir import RunDirError
    from nasforge.report.data import read_run, trial_rows

    try:
        records = read_run(run_dir)
    except RunDirError as exc:
        _fail(exc)
    header, rows = trial_rows(records.trials)
    if csv_out:
        writer = csv.writer(sys.stdout)
        writer.writerow(header)
        writer.writerows(rows)
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(*header, title=str(run_dir))
    for row in rows:
        table.add_row(*(f"{v:.4g}" if isinstance(v, float) else str(v) for v in row))
    console = Console()
    console.print(table)
    if records.proxy_cost:
        counted = sum(t.counts_for_budget for t in records.trials)
        console.print(f"{counted} trials counted; proxy compute: "
                      f"{records.proxy_cost['proxy_evaluations']:.0f} architectures scored, "
                      f"{records.proxy_cost['proxy_seconds']:.1f} s")


@app.command()
def report(run_dir: Annotated[Path, typer.Argument(help="run directory")]) -> None:
    """Rebuild a run's report.html."""
    from nasforge.experiment.run_dir import RunDirError
    from nasforge.report.html import write_report

    try:
        path = write_report(run_dir)
    except RunDirError as exc:
        _fail(exc)
    typer.echo(str(path))


def _settings(items: list[str]) -> dict[str, object]:
    import yaml

    out: dict[str, object] = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep or not name:
            raise typer.BadParameter(f"expected NAME=VALUE, got {item!r}", param_hint="--strategy-setting")
        out[name.strip()] = yaml.safe_load(value)
    return out


def _start(cfg, run_dir, callbacks):
    from nasforge.run.runner import start_search

    return start_search(cfg, run_dir, callbacks=callbacks)


def _run(start, cfg) -> None:
    """Run with a progress display, then print the Pareto front and the run directory."""
    import logging

    from rich.console import Console
    from rich.logging import RichHandler

    from nasforge.experiment.executors import ExecutorError
    from nasforge.experiment.run_dir import RunDirError
    from nasforge.run.progress import SearchProgress
    from nasforge.task.task import TaskDataError

    console = Console()
    logging.basicConfig(level=logging.WARNING, handlers=[RichHandler(console=console, show_path=False)],
                        format="%(message)s")
    try:
        with SearchProgress(cfg.budget.trials, cfg.budget.minutes, cfg.objectives[0]) as progress:
            result = start([progress.callback])
    except (RunDirError, TaskDataError, ValueError, FileNotFoundError, ExecutorError) as exc:
        _fail(exc)
    _print_result(console, result)


def _print_result(console, result) -> None:
    from rich.table import Table

    metrics = [o.split(":")[0] for o in result.config.objectives]
    table = Table("trial", "arch", *metrics, title="Pareto front")
    for t in result.pareto_front:
        table.add_row(str(t.number), t.arch.key, *(f"{t.metrics[m]:.4g}" for m in metrics))
    console.print(table)
    failed = sum(1 for t in result.trials if t.status in ("failed", "infeasible"))
    console.print(f"{len(result.trials)} trials ({failed} failed or infeasible)")
    if result.summary:
        s = result.summary
        console.print(f"selected: [bold]{s['arch']}[/bold]  test accuracy {s['test_accuracy']:.4f}, "
                      f"{s['params']:,} params (retrained {s['retrain_epochs']} epochs on train+val)")
    console.print(f"run directory: [bold]{result.run_dir}[/bold]")
