"""``nasforge export-optuna``: a run into an Optuna storage, for optuna-dashboard."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from nasforge.cli import app
from nasforge.cli.common import Command, fail


@app.command("export-optuna", cls=Command)
def export_optuna(
    run_dir: Annotated[Path, typer.Argument(help="run directory")],
    storage: Annotated[str, typer.Option(help="Optuna storage URL, e.g. sqlite:///study.db")],
    study_name: Annotated[str | None, typer.Option(help="study name (default: nasforge-<run folder name>)")] = None,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="replace a study of the same name in the "
                                            "storage (default: refuse)")] = False,
) -> None:
    """Export a run into an Optuna storage (one Optuna trial per trial, the decisions as params,
    the objectives as values) so that optuna-dashboard shows it. The run is only read."""
    from nasforge.experiment.run_dir import RunDirError
    from nasforge.run.optuna_export import export_optuna as export

    try:
        done = export(run_dir, storage, study_name, overwrite)
    except (RunDirError, ValueError) as exc:
        fail(exc)
    states = ", ".join(f"{n} {state.lower()}" for state, n in sorted(done.states.items()))
    typer.echo(f"exported {done.trials} trials ({states}) as study {done.study_name!r} into {done.storage}")
    typer.echo(f"view it with: optuna-dashboard {done.storage}")
