"""``nasforge search``, ``resume``, ``show`` and ``report``."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from nasforge.cli import app
from nasforge.cli.common import (
    Command,
    Constraints,
    EvaluatorSettings,
    Objectives,
    SpaceSettings,
    StrategySettings,
    fail,
    objective_list,
    pairs,
    registry_names,
)

_STRATEGIES = registry_names("nasforge.strategy.base", "STRATEGIES")
_SPACES = registry_names("nasforge.space.registry", "SPACES")
_EVALUATORS = registry_names("nasforge.estimate.base", "EVALUATORS")
#: options that are settings of the train evaluator (shortcuts for -E NAME=VALUE)
_TRAIN_OPTIONS = ("epochs", "final_epochs", "batch_size", "lr", "weight_decay", "optimizer")


#: experiment trackers (nasforge.run.tracking), on search and resume
LogTo = Annotated[list[str] | None, typer.Option(
    "--log-to", help="also log every trial and the selected model to an experiment tracker: mlflow or "
    "tensorboard (repeatable; needs pip install 'nasforge\\[mlflow]' / 'nasforge\\[tensorboard]')")]
MlflowUri = Annotated[str | None, typer.Option(
    help="MLflow tracking URI (implies --log-to mlflow; default: sqlite:///RUN/mlflow/mlflow.db)")]
TensorBoardDir = Annotated[Path | None, typer.Option(
    help="folder of TensorBoard runs, this run in DIR/<run name> (implies --log-to tensorboard; default: "
    "RUN/tensorboard)")]


def _trackers(names: list[str] | None, mlflow_uri: str | None, tensorboard_dir: Path | None) -> dict | None:
    """``--log-to``, ``--mlflow-uri`` and ``--tensorboard-dir`` as the config's ``log_to`` mapping
    (merged into a config file's own)."""
    out: dict = {name: {} for name in names or []}
    if mlflow_uri is not None:
        out["mlflow"] = {"uri": mlflow_uri}
    if tensorboard_dir is not None:
        out["tensorboard"] = {"dir": str(tensorboard_dir)}
    return out or None


@app.command(cls=Command)
def search(
    config: Annotated[Path | None, typer.Option("--config", "-c", help="YAML file with the search configuration; "
                                                "options given here override it")] = None,
    task: Annotated[str | None, typer.Option(help="data: mnist1d, digits, cifar10[:FOLDER], npz:PATH, text: stdlib, "
                                             "text:PATH[,level=char|byte][,context=N] (default: the space's: "
                                             "mnist1d for conv1d, cifar10 for image spaces, stdlib for gpt)")] = None,
    space: Annotated[str | None, typer.Option(help=f"search space, one of: {_SPACES} (default: conv1d)")] = None,
    space_setting: SpaceSettings = None,
    strategy: Annotated[str | None, typer.Option(help=f"search strategy, one of: {_STRATEGIES} "
                                                 "(default: bananas)")] = None,
    strategy_setting: StrategySettings = None,
    evaluator: Annotated[str | None, typer.Option(help=f"how an architecture is scored, one of: {_EVALUATORS} "
                                                  "(default: train)")] = None,
    evaluator_setting: EvaluatorSettings = None,
    objective: Objectives = None,
    constraint: Constraints = None,
    trials: Annotated[int | None, typer.Option(help="budget: number of trials (default: 60)")] = None,
    minutes: Annotated[float | None, typer.Option(help="budget: minutes on the run's clock (default: none, the "
                                                  "run ends after its trials)")] = None,
    clock: Annotated[str | None, typer.Option(help="what --minutes counts: wall, cpu (CPU seconds) or "
                                              "simulated (evaluations' reported cost) (default: wall)")] = None,
    epochs: Annotated[int | None, typer.Option(help="train evaluator: epochs per trial (default: 15)")] = None,
    final_epochs: Annotated[int | None, typer.Option(help="epochs of the final retraining (default: 40)")] = None,
    batch_size: Annotated[int | None, typer.Option(help="train evaluator: batch size (default: 128)")] = None,
    lr: Annotated[float | None, typer.Option(help="train evaluator: learning rate (default: 0.01)")] = None,
    weight_decay: Annotated[float | None, typer.Option(help="train evaluator: weight decay (default: 0.01)")] = None,
    optimizer: Annotated[str | None, typer.Option(help="train evaluator: adamw or sgd (default: adamw)")] = None,
    early_stopping: Annotated[bool, typer.Option(
        "--early-stopping", help="train evaluator: stop trials whose extrapolated learning curve cannot beat the "
        "best so far")] = False,
    latency: Annotated[str | None, typer.Option(help="source of latency_ms: measured, lut (block spaces) or "
                                                "predictor (fitted on measured samples) (default: measured)")] = None,
    device: Annotated[str | None, typer.Option(help="auto (the GPU when torch sees one, else the CPU), cpu, cuda "
                                               "or cuda:N (default: auto)")] = None,
    threads: Annotated[int | None, typer.Option(min=1, help="torch threads per evaluation (default: 1)")] = None,
    executor: Annotated[str | None, typer.Option(help="serial, processes or ray (default: serial)")] = None,
    workers: Annotated[int | None, typer.Option(help="concurrent trials (processes or ray executor)")] = None,
    ray_address: Annotated[str | None, typer.Option(
        help="Ray cluster to run trials on: HOST:PORT of its head node (`ray start --head` prints it), "
        "ray://HOST:PORT, or auto (the cluster Ray's own discovery finds) (default: a private local Ray)")] = None,
    ray_token_file: Annotated[Path | None, typer.Option(
        help="file holding the token of a Ray cluster with token authentication (default: Ray's own: "
        "RAY_AUTH_TOKEN, RAY_AUTH_TOKEN_PATH, ~/.ray/auth_token)")] = None,
    threads_per_worker: Annotated[int | None, typer.Option(
        help="CPU threads per worker (Ray: CPUs reserved per trial); default: cores / workers")] = None,
    gpus_per_trial: Annotated[float | None, typer.Option(help="GPUs per trial on Ray (0.5 shares one GPU)")] = None,
    trial_timeout: Annotated[float | None, typer.Option(
        help="seconds; a trial running longer is stopped and stored failed (reason 'timeout')")] = None,
    retries: Annotated[int | None, typer.Option(
        help="re-evaluate a failed trial (error, NaN, timeout, dead worker) up to N times (default: 0)")] = None,
    final_retrain: Annotated[bool | None, typer.Option(
        "--final-retrain/--no-final-retrain", help="retrain (or look up) the selected architecture at the end "
        "(default: on)", show_default=False)] = None,
    final_front: Annotated[bool | None, typer.Option(
        "--final-front/--no-final-front", help="after the selected one, also retrain and test every member of the "
        "Pareto front: RUN/best/front.csv (default: off)", show_default=False)] = None,
    seed: Annotated[int | None, typer.Option(help="random seed of the whole run (default: 0)")] = None,
    log_to: LogTo = None,
    mlflow_uri: MlflowUri = None,
    tensorboard_dir: TensorBoardDir = None,
    out: Annotated[Path | None, typer.Option("--out", "--run-dir", "-o", help="run directory to create "
                                             "(default: nasforge-runs/<date>-<time>)")] = None,
) -> None:
    """Search architectures (default: 1-D CNNs on MNIST-1D, accuracy vs parameters)."""
    from nasforge.run.config import ConfigError, load_config, read_yaml_mapping

    try:
        file_evaluator = (read_yaml_mapping(config, "config file").get("evaluator") or {}) if config else {}
        name = evaluator or (file_evaluator.get("name") or file_evaluator.get("kind") if isinstance(
            file_evaluator, dict) else None) or "train"
        settings = pairs(evaluator_setting, "--evaluator-setting")
        shortcuts = {k: v for k, v in dict(epochs=epochs, final_epochs=final_epochs, batch_size=batch_size, lr=lr,
                                           weight_decay=weight_decay, optimizer=optimizer).items() if v is not None}
        if early_stopping:
            shortcuts["early_stopping"] = {}  # the defaults
        if shortcuts and name != "train":
            flags = ", ".join("--" + k.replace("_", "-") for k in shortcuts)
            if "final_epochs" in shortcuts and len(shortcuts) == 1:
                retrain = {"final_epochs": final_epochs}
            else:
                raise ConfigError(f"{flags}: settings of the train evaluator, not of {name!r} (for the final "
                                  f"retraining after a {name} search use the config's retrain: section)")
        else:
            retrain = None
            settings.update(shortcuts)
        if threads is not None:
            settings["threads"] = threads
        ev = {"name": evaluator, "settings": settings or None}
        budget = {k: v for k, v in dict(trials=trials, minutes=minutes).items() if v is not None}
        if trials is not None and minutes is None:
            budget["minutes"] = None  # a trial budget given alone is the whole budget
        cfg = load_config(
            config, task=task, space=space, space_settings=pairs(space_setting, "--space-setting") or None,
            strategy=strategy, strategy_settings=pairs(strategy_setting, "--strategy-setting") or None,
            evaluator={k: v for k, v in ev.items() if v is not None} or None,
            objectives=objective_list(objective), constraints=constraint or None, budget=budget or None,
            clock=clock, latency={"source": latency} if latency else None, device=device, retrain=retrain,
            executor=executor, workers=workers, ray_address=ray_address, ray_token_file=ray_token_file,
            threads_per_worker=threads_per_worker,
            gpus_per_trial=gpus_per_trial, trial_timeout=trial_timeout, retries=retries, seed=seed,
            final_retrain=final_retrain, final_front=final_front, log_to=_trackers(log_to, mlflow_uri, tensorboard_dir))
    except (ConfigError, ValueError) as exc:
        fail(exc)
    _run(lambda callbacks, on_epoch=None: _start(cfg, out, callbacks, on_epoch), cfg)


@app.command(cls=Command)
def resume(
    run_dir: Annotated[Path, typer.Argument(help="run directory to continue")],
    allow_change: Annotated[list[str] | None, typer.Option(
        "--allow-change", help="accept this field of config.yaml changed since the run started, e.g. "
        "evaluator.settings.epochs (repeatable; budget, executor, workers, timeouts, retries and final_retrain "
        "may always change)")] = None,
    device: Annotated[str | None, typer.Option(
        help="auto, cpu, cuda or cuda:N (default: the run's own device; another one is a change of config.yaml's "
        "device, accepted with --allow-change device)")] = None,
    log_to: LogTo = None,
    mlflow_uri: MlflowUri = None,
    tensorboard_dir: TensorBoardDir = None,
) -> None:
    """Continue an interrupted run to its budget, without re-running finished trials (a complete run
    is left as it is; one stopped in its final retraining is only finalised)."""
    from nasforge.experiment.run_dir import CONFIG, RunDirError, check_existing
    from nasforge.run.config import load_config
    from nasforge.run.runner import resume_search

    trackers = _trackers(log_to, mlflow_uri, tensorboard_dir)
    try:
        check_existing(run_dir)
        cfg = load_config(run_dir / CONFIG, device=device, log_to=trackers)
    except (RunDirError, ValueError) as exc:
        fail(exc)
    _run(lambda callbacks, on_epoch=None: resume_search(run_dir, callbacks=callbacks, on_epoch=on_epoch,
                                                        allow_change=allow_change or (), device=device,
                                                        log_to=trackers), cfg)


@app.command(cls=Command)
def show(
    run_dir: Annotated[Path, typer.Argument(help="run directory")],
    csv_out: Annotated[bool, typer.Option("--csv", help="print every trial as CSV")] = False,
) -> None:
    """Show a run's trials (a table, or CSV with --csv)."""
    import csv

    from nasforge.experiment.run_dir import RunDirError
    from nasforge.report.data import read_run
    from nasforge.report.table import trial_table
    from nasforge.run.results import space_decisions

    try:
        records = read_run(run_dir)
    except (RunDirError, ValueError) as exc:
        fail(exc)
    table = trial_table(records.trials, records.objectives, records.constraints, space_decisions(records.config))
    if csv_out:  # the whole table: a column per decision and per metric, Pareto and selected flags
        writer = csv.writer(sys.stdout)
        writer.writerow(table.columns)
        writer.writerows(table.rows)
        return
    header = ["trial", "arch", "status", *table.metrics, "error"]  # the terminal's view of the same rows
    at = [table.columns.index(c) for c in header]
    rows = [[row[i] for i in at] for row in table.rows]
    from rich.console import Console
    from rich.table import Table

    console = Console()
    if records.epochs:  # a one-shot run: its trajectory first
        epochs = Table("epoch", "train loss", "derived", title=f"{run_dir}: epochs")
        for e in records.epochs:
            epochs.add_row(str(e["epoch"]), f"{e['train_loss']:.4g}", str(e.get("derived", "")))
        console.print(epochs)
    console.print(_trials_table(console, str(run_dir), header, rows))
    from nasforge.experiment.executors.base import where_ran

    for line in where_ran(t.info for t in records.trials):  # the trials' info["worker"]
        console.print(f"ran on {line}")
    if records.proxy_cost:
        counted = sum(t.counts_for_budget for t in records.trials)
        console.print(f"{counted} trials counted; proxy compute: "
                      f"{records.proxy_cost['proxy_evaluations']:.0f} architectures scored, "
                      f"{records.proxy_cost['proxy_seconds']:.1f} s")


#: columns of ``nasforge show`` that take the width left by the others and fold over lines
_FOLDED = ("arch", "error")


def _number(value: float) -> str:
    """A metric for a table: counts (params, FLOPs) in full with thousands separators, the rest to
    four significant digits."""
    if value == value and abs(value) >= 1000 and float(value).is_integer():
        return f"{int(value):,}"
    return f"{value:.4g}"


def _trials_table(console, title: str, header: list[str], rows: list[list]):
    """The trials as a Rich table that cuts nothing: numbers keep their width, the architecture
    key and the error take the rest of the console's and fold over lines where they need more;
    on a console too narrow for the whole table, metric names break after their underscores."""
    from rich.table import Table

    cells = [[_number(v) if isinstance(v, float) else str(v) for v in row] for row in rows]

    def build(break_names: bool) -> Table:
        table = Table(title=title)
        for name in header:
            folded = name in _FOLDED
            table.add_column(name.replace("_", "_\n") if break_names and not folded else name, overflow="fold",
                             ratio=1 if folded else None, no_wrap=not folded)
        for row in cells:
            table.add_row(*row)
        return table

    widths = [max([len(name), *(len(row[i]) for row in cells)]) for i, name in enumerate(header)]
    return build(sum(widths) + 3 * len(widths) + 1 > console.width)  # cell padding and borders: 3 per column


@app.command(cls=Command)
def report(
    run_dir: Annotated[Path, typer.Argument(help="run directory")],
    out: Annotated[Path | None, typer.Option("--out", "-o", help="folder to write report.html into "
                                             "(default: the run directory)")] = None,
) -> None:
    """Rebuild a run's report.html (the run is only read)."""
    from nasforge.experiment.run_dir import DISK_FULL, REPORT, RunDirError, describe_os_error
    from nasforge.report.html import write_report

    try:
        path = write_report(run_dir, out)
    except (RunDirError, ValueError) as exc:
        fail(exc)
    except OSError as exc:  # the page could not be written; the run was read and is unchanged
        target = exc.filename or (out or run_dir) / REPORT
        again = f"`nasforge report {run_dir} --out FOLDER` writes it elsewhere"
        if exc.errno in DISK_FULL:
            fail(f"no space left on device while writing {target}; free space and run it again, or {again}")
        fail(f"cannot write {target}: {Path(target).parent} {describe_os_error(exc)}; the run is unchanged; "
             f"{again}")
    typer.echo(str(path))


def _start(cfg, out, callbacks, on_epoch=None):
    from nasforge.run.runner import start_search

    return start_search(cfg, out, callbacks=callbacks, on_epoch=on_epoch)


def _run(start, cfg):
    """Run with a progress display, then print the Pareto front and the run directory; returns
    the :class:`~nasforge.run.runner.SearchResult`."""
    import logging

    from rich.console import Console
    from rich.logging import RichHandler

    from nasforge.estimate.base import IncompatibleError
    from nasforge.experiment.executors import ExecutorError
    from nasforge.experiment.run_dir import RunDirError
    from nasforge.run.progress import SearchProgress
    from nasforge.run.runner import SearchInterrupted
    from nasforge.run.tracking import TrackerError
    from nasforge.task.task import TaskDataError

    console = Console()
    logging.basicConfig(level=logging.WARNING, handlers=[RichHandler(console=console, show_path=False)],
                        format="%(message)s")
    try:
        with SearchProgress.for_config(cfg, console) as progress:
            result = start([progress.callback], progress.epoch_callback)
    except (RunDirError, TaskDataError, IncompatibleError, ValueError, FileNotFoundError, ExecutorError,
            TrackerError) as exc:
        fail(exc)
    except SearchInterrupted as exc:  # finished trials are stored; the one in flight runs again on resume
        typer.secho(str(exc), fg="yellow", err=True)
        raise typer.Exit(130) from None
    except KeyboardInterrupt:  # before the run directory held anything
        typer.secho("interrupted", fg="yellow", err=True)
        raise typer.Exit(130) from None
    _print_result(console, result)
    return result


def _print_result(console, result) -> None:
    from rich.table import Table

    metrics = [o.split(":")[0] for o in result.config.objectives]
    table = Table(title="Pareto front")
    for name in ("trial", "arch", *metrics):
        table.add_column(name, overflow="fold", ratio=1 if name == "arch" else None, no_wrap=name != "arch")
    for t in result.pareto_front:
        table.add_row(str(t.number), t.arch.key, *(_number(t.metrics[m]) for m in metrics))
    console.print(table)
    counts: dict[str, int] = {}
    for t in result.trials:
        counts[str(t.status)] = counts.get(str(t.status), 0) + 1
    console.print(f"{len(result.trials)} trials: " + ", ".join(f"{n} {s}" for s, n in sorted(counts.items())))
    from nasforge.run.progress import time_budget_note

    note = time_budget_note(result.config, result.trials)
    if note:
        console.print(f"[bold yellow]{note}[/bold yellow]")
    if not result.pareto_front:
        _print_nothing_selected(console, result)
    s = result.summary
    if s and s.get("kind") == "table":
        truth = ", ".join(f"{k} {v:.4g}" for k, v in s["truth"].items())
        console.print(f"selected: [bold]{s['arch']}[/bold]  table truth ({s['benchmark']}): {truth}")
    elif s and s.get("kind") == "export":  # a sub-network of a language model (lm-subnet)
        console.print(f"selected: [bold]{s['arch']}[/bold]  test perplexity {s['test_perplexity']:.4g}, "
                      f"{s['params']:,} params, exported to {s['model']} (reloaded: logits within "
                      f"{s['max_abs_logit_difference']:.1e} of the super-network path)")
    elif s:
        perplexity = f", test perplexity {s['test_perplexity']:.4g}" if "test_perplexity" in s else ""  # text tasks
        console.print(f"selected: [bold]{s['arch']}[/bold]  test accuracy {s['test_accuracy']:.4f}{perplexity}, "
                      f"{s['params']:,} params (retrained {s['retrain_epochs']} epochs on train+val)")
    if result.already_complete:
        console.print("[bold]the run is complete[/bold]: nothing was run or written again (to search further, "
                      "raise budget.trials or budget.minutes in its config.yaml and resume)")
    from rich.markup import escape

    from nasforge.run.tracking import destinations

    for where in destinations(result.config, result.run_dir):
        console.print(f"logged to {escape(where)}")
    console.print(f"run directory: [bold]{result.run_dir}[/bold]")


def _print_nothing_selected(console, result) -> None:
    """No trial met every constraint (or completed): say so, and which trial came closest."""
    from rich.markup import escape
    from rich.panel import Panel

    constraints = result.config.constraints
    if not constraints:
        text = (f"no trial of {len(result.trials)} completed with every objective: nothing was selected or "
                f"retrained (errors: `nasforge show {result.run_dir}`)")
    else:
        text = (f"none of the {len(result.trials)} trials met the constraints {', '.join(constraints)}: "
                "nothing was selected, retrained or exported.")
        t = result.closest
        if t is not None:
            from nasforge.core.objectives import total_violation

            shown = [*(o.split(":")[0] for o in result.config.objectives),
                     *(c.metric for c in result.config.parsed_constraints())]
            values = ", ".join(f"{m} {t.metrics[m]:.4g}" for m in dict.fromkeys(shown) if m in t.metrics)
            violation = total_violation(result.config.parsed_constraints(), t.metrics)
            text += (f"\nclosest: trial {t.number} ({t.arch.key}, {t.status}) with {values} "
                     f"(total violation {violation:.3g})")
        text += "\nloosen the constraints, or search a space or settings that can meet them"
    console.print(Panel(escape(text), title="nothing met the constraints" if constraints else "nothing selected",
                        border_style="bold red", style="bold red"))
