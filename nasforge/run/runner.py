"""Start, resume and finish a search from a :class:`SearchConfig` and a run directory."""

from __future__ import annotations

import csv
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nasforge.core.records import Trial
from nasforge.experiment import run_dir as rd
from nasforge.experiment.executors import ExecutorError
from nasforge.experiment.experiment import Callback
from nasforge.experiment.selection import pareto_trials, select_best
from nasforge.experiment.storage import Storage
from nasforge.run.build import (
    build_evaluator,
    build_experiment,
    check_strategy,
    load_data,
    make_space,
)
from nasforge.run.config import SearchConfig, load_config
from nasforge.space.space import Space
from nasforge.task.task import Task

log = logging.getLogger(__name__)


@dataclass
class SearchResult:
    """What a finished search leaves: its trials, Pareto front, selected best and final summary."""

    run_dir: Path
    config: SearchConfig
    trials: list[Trial]
    pareto_front: list[Trial]
    best: Trial | None
    summary: dict[str, Any] | None


def start_search(config: SearchConfig, run_dir: str | Path | None = None, space: Space | None = None,
                 task: Task | None = None, callbacks: Sequence[Callback] = (), on_epoch: Any = None) -> SearchResult:
    """Create a run directory for ``config``, search to the budget, then finish the run.

    Everything that can be checked is checked before the directory is created: the config, the
    data (loaded here), that the space builds networks for it, that the constraints can be met,
    the strategy's set-up, the executor, and that the directory is new and writable.
    """
    path = Path(run_dir) if run_dir is not None else rd.default_run_dir()
    rd.check_new(path)
    space_obj = make_space(config, space)
    task = load_data(config, task)
    if task is not None and getattr(space_obj, "can_build", False):
        _check_space_fits(space_obj, task)
        from nasforge.experiment.feasibility import check_constraints_satisfiable

        check_constraints_satisfiable(space_obj, task, config.parsed_constraints(), seed=config.seed)
    if not is_oneshot(config):
        check_strategy(config, space_obj, task)
    from nasforge.run.build import build_executor

    build_executor(config).preflight()
    path.mkdir(parents=True, exist_ok=True)
    (path / rd.CONFIG).write_text(config.to_yaml())
    try:
        return _run(path, config, space_obj, task, callbacks, on_epoch)
    except ExecutorError:  # workers could not start: leave no half-written run directory
        rd.remove_if_unused(path)
        raise


def resume_search(run_dir: str | Path, space: Space | None = None, task: Task | None = None,
                  callbacks: Sequence[Callback] = (), on_epoch: Any = None) -> SearchResult:
    """Continue the run in ``run_dir`` to its budget; finished trials are not run again."""
    path = Path(run_dir)
    rd.check_existing(path)
    config = load_config(path / rd.CONFIG, context={"space": space, "task": task})
    space_obj = make_space(config, space)
    return _run(path, config, space_obj, load_data(config, task), callbacks, on_epoch)


def _run(path: Path, config: SearchConfig, space: Space, task: Task | None,
         callbacks: Sequence[Callback], on_epoch: Any = None) -> SearchResult:
    with rd.RunLock(path):
        storage = Storage(path / rd.DB)
        try:
            storage.set_meta("seed", config.seed)
            storage.set_meta("clock", config.clock)
            if is_oneshot(config):
                from nasforge.run.build import cost_wrapper
                from nasforge.run.oneshot import run_oneshot

                trials = run_oneshot(path, config, space, task, storage, callbacks, on_epoch,
                                     cost_wrapper(config, space, task, path))
                return finish_run(path, config, space, trials, task)
            evaluator = build_evaluator(config, space, task, path)
            experiment = build_experiment(config, storage, space, task, callbacks, path, evaluator)
            trials = experiment.run()
            return finish_run(path, config, space, trials, task, experiment.strategy)
        finally:
            storage.close()


def is_oneshot(config: SearchConfig) -> bool:
    """Whether the run's strategy is a one-shot method (trained epoch by epoch, see run/oneshot.py)."""
    from nasforge.oneshot.base import METHODS

    return config.strategy in METHODS


def finish_run(path: Path, config: SearchConfig, space: Space, trials: list[Trial], task: Task | None = None,
               strategy: Any = None) -> SearchResult:
    """Write pareto.csv, finalise the selected architecture as its evaluator says, build the report."""
    from nasforge.run.finalize import finalise

    objectives, constraints = config.parsed_objectives(), config.parsed_constraints()
    front = pareto_trials(trials, objectives, constraints)
    write_pareto_csv(path / rd.PARETO, front, objectives)
    best = select_best(trials, objectives, constraints)
    summary = None
    if best is None:
        log.warning("no feasible complete trial: nothing to retrain")
    elif config.final_retrain:
        summary = finalise(best, config, space, task, path / rd.BEST)
        family = getattr(strategy, "family", None)
        if family is not None:
            from nasforge.run.finalize import finalise_family

            finalise_family(family(), getattr(strategy, "resource", "params"), config, space, task, path / rd.BEST)
    from nasforge.report.html import write_report

    write_report(path)
    return SearchResult(path, config, trials, front, best, summary)


def write_pareto_csv(path: Path, front: Sequence[Trial], objectives: Sequence[Any]) -> None:
    """One row per Pareto-optimal trial: number, arch key, objectives, then other metrics."""
    first = [o.metric for o in objectives]
    others = sorted({k for t in front for k in t.metrics} - set(first))
    with path.open("w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["trial", "arch", *first, *others])
        for t in front:
            writer.writerow([t.number, t.arch.key, *(t.metrics.get(k, "") for k in first + others)])


def _check_space_fits(space: Space, task: Task) -> None:
    """Build one sample network and run a forward pass, so a mismatch fails before searching."""
    import numpy as np
    import torch

    arch = space.sample(np.random.default_rng(0))
    try:
        model = space.build(arch, task).eval()
        with torch.no_grad():
            out = model(torch.from_numpy(task.x_train[:2]))
    except Exception as exc:
        raise ValueError(f"space {space.name!r} cannot build a network for task {task.name!r} "
                         f"(input shape {task.input_shape}): {type(exc).__name__}: {exc}") from None
    if tuple(out.shape) != (2, task.num_classes):
        raise ValueError(f"space {space.name!r} outputs shape {tuple(out.shape)[1:]} for task {task.name!r}; "
                         f"expected ({task.num_classes},) logits")
