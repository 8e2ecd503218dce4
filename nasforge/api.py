"""The Python entry point: ``nasforge.search(...)``, the same search as the CLI's."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from nasforge.run.config import load_config
from nasforge.run.results import RunView
from nasforge.run.runner import SearchResult, start_search
from nasforge.space.space import Space
from nasforge.task.task import Task


def search(
    task: str | Task | None = None,
    space: str | Space | None = None,
    strategy: str | None = None,
    *,
    evaluator: str | dict[str, Any] | None = None,
    evaluator_settings: dict[str, Any] | None = None,
    objectives: list[str] | None = None,
    constraints: list[str] | None = None,
    trials: int | None = None,
    minutes: float | None = None,
    run_dir: str | Path | None = None,
    seed: int = 0,
    config: str | Path | None = None,
    progress: bool = True,
    callbacks: Sequence[Any] | None = None,
    log_to: list[str] | dict[str, Any] | None = None,
    **settings: Any,
) -> SearchResult:
    """Run a search and return its :class:`SearchResult` (``.trials``, ``.pareto_front``, ``.best``).

    ``task`` and ``space`` are registered names or objects (a :class:`Task`, e.g. from
    ``task_from_arrays``; a :class:`Space`, e.g. ``Space({...}, build=fn)``); without ``task``, the
    evaluator's or the space's own task (as on the CLI: mnist1d for conv1d, cifar10 for the image
    spaces and tabular benchmarks). ``evaluator`` is a
    registered evaluator's name (``train``, ``tabular``, ``proxy``, ``supernet``, ``predictor``)
    with ``evaluator_settings``, or a dict ``{"name": ..., "settings": {...}}``. Further keyword
    arguments are config fields: ``strategy_settings``, ``space_settings``, ``latency``,
    ``clock``, ``device``, ``executor``, ``workers``, ``final_retrain``, ...

    ``progress`` (on by default) shows each phase as the run reaches it (loading data, trials,
    final retraining, export, report) and ends with a note when the time budget cut the search
    short; ``progress=False`` prints nothing.

    ``callbacks``: called after every finished trial and once at the end
    (:mod:`nasforge.run.callbacks`: plain callables ``fn(trial)``, or objects with ``on_start``,
    ``on_trial``, ``on_end``). ``log_to``: experiment trackers, ``["mlflow", "tensorboard"]`` or a
    mapping with their settings (:mod:`nasforge.run.tracking`).
    """
    if isinstance(evaluator, str) or evaluator_settings is not None:
        name = evaluator if isinstance(evaluator, str) else (evaluator or {}).get("name")
        evaluator = {k: v for k, v in {"name": name, "settings": evaluator_settings}.items() if v is not None}
    task_obj = task if isinstance(task, Task) else None
    space_obj = space if isinstance(space, Space) else None
    budget = None
    if trials is not None or minutes is not None:
        budget = {"trials": trials, "minutes": minutes}
    cfg = load_config(
        config, context={"space": space_obj, "task": task_obj},
        task=task_obj.name if task_obj else task, space=space_obj.name if space_obj else space,
        strategy=strategy, objectives=objectives, constraints=constraints, budget=budget, seed=seed,
        evaluator=evaluator, log_to=log_to, **settings)
    if not progress:
        return start_search(cfg, run_dir, space=space_obj, task=task_obj, listeners=callbacks or ())
    from nasforge.run.progress import SearchProgress, time_budget_note

    with SearchProgress.for_config(cfg) as bar:
        result = start_search(cfg, run_dir, space=space_obj, task=task_obj, callbacks=[bar.callback],
                              on_epoch=bar.epoch_callback, listeners=callbacks or ())
    note = time_budget_note(cfg, result.trials)
    if note:
        bar.console.print(f"[bold yellow]{note}[/bold yellow]")
    return result


def resume(
    run_dir: str | Path,
    *,
    space: Space | None = None,
    task: Task | None = None,
    callbacks: Sequence[Any] | None = None,
    log_to: list[str] | dict[str, Any] | None = None,
    allow_change: Sequence[str] = (),
) -> SearchResult:
    """Continue the run in ``run_dir`` to its budget (finished trials are not run again); a
    complete run is returned as it is (``already_complete``). ``space`` / ``task``: the objects
    a run searched from Python with; ``callbacks`` and ``log_to`` as in :func:`search` (``log_to``
    adds trackers for this session); ``allow_change`` as ``nasforge resume --allow-change``."""
    from nasforge.run.runner import resume_search

    return resume_search(run_dir, space=space, task=task, listeners=callbacks or (), log_to=log_to,
                         allow_change=allow_change)


def load_run(run_dir: str | Path) -> RunView:
    """A finished (or running) run read from disk, read-only: ``.trials``, ``.pareto_front``,
    ``.best``, ``.summary``, ``.config`` (a dict), ``.to_dataframe()``."""
    from nasforge.run.results import read_run_view

    return read_run_view(run_dir)


def export_optuna(run_dir: str | Path, storage: str, study_name: str | None = None, overwrite: bool = False) -> Any:
    """Write the run in ``run_dir`` into an Optuna storage (e.g. ``"sqlite:///study.db"``) as one
    study, for optuna-dashboard; refuses an existing study of that name unless ``overwrite``.
    See :func:`nasforge.run.optuna_export.export_optuna`."""
    from nasforge.run.optuna_export import export_optuna as export

    return export(run_dir, storage, study_name, overwrite)
