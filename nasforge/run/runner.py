"""Start, resume and finish a search from a :class:`SearchConfig` and a run directory.

A process writes into a run directory only while it holds the directory's
:class:`~nasforge.experiment.run_dir.RunLock`, taken before the first file is written. When
something goes wrong, nothing finished is lost:

- Ctrl-C (``KeyboardInterrupt``) stops the run with :class:`SearchInterrupted`: finished trials
  are stored, the trial in flight stays ``running`` and :func:`resume_search` evaluates it again;
- a full disk ends with :class:`~nasforge.experiment.run_dir.DiskFullError` naming the file; every
  output besides ``trials.db`` is written atomically, so none is left half-written;
- the resolved configuration is stored in ``trials.db`` when the run starts; a resume refuses a
  ``config.yaml`` changed since in any field but :data:`SAFE_CHANGES`, unless the field is
  allowed by name (:class:`ConfigChangedError`);
- a resume does only what is missing: a complete run is left untouched
  (``SearchResult.already_complete``), a run stopped in its final retraining is only finalised.
"""

from __future__ import annotations

import csv
import io
import logging
import math
import sqlite3
from collections.abc import Iterator, Sequence
from contextlib import closing, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nasforge.core.objectives import Constraint, total_violation
from nasforge.core.records import COMPLETE, INFEASIBLE, RUNNING, Trial
from nasforge.experiment import run_dir as rd
from nasforge.experiment.executors import ExecutorError
from nasforge.experiment.experiment import Callback
from nasforge.experiment.selection import pareto_trials, select_best
from nasforge.experiment.storage import Storage
from nasforge.report.environment import current_environment
from nasforge.report.table import TrialTable
from nasforge.run.build import (
    build_evaluator,
    build_experiment,
    check_strategy,
    load_data,
    make_space,
    needs_data,
)
from nasforge.run.callbacks import Callbacks, RunStart
from nasforge.run.config import ConfigError, SearchConfig, load_config
from nasforge.run.fit import check_space_fits, check_task_spec_fits, known_shape
from nasforge.run.phases import phase
from nasforge.run.tracking import TrackerError
from nasforge.space.space import Space
from nasforge.task.task import Task

log = logging.getLogger(__name__)

#: config fields a resumed run may change: how long it runs and how it executes, not what a trial
#: measures (any other change is refused unless ``allow_change`` names it)
SAFE_CHANGES = ("budget.trials", "budget.minutes", "executor", "workers", "threads_per_worker", "gpus_per_trial",
                "ray_address", "ray_token_file", "trial_timeout", "retries", "final_retrain", "final_front",
                "evaluator.settings.threads")


@dataclass
class SearchResult:
    """What a finished search leaves: its trials, Pareto front, selected best and final summary."""

    run_dir: Path
    config: SearchConfig
    trials: list[Trial]
    pareto_front: list[Trial]
    best: Trial | None
    summary: dict[str, Any] | None
    #: when no trial met the constraints: the trial with the smallest total violation
    closest: Trial | None = None
    #: a resume found the run complete and changed nothing
    already_complete: bool = False

    def table(self) -> TrialTable:
        """The trial table (:func:`~nasforge.report.table.trial_table`): one row per trial, one
        column per decision and per metric, Pareto and selected flags."""
        from nasforge.report.table import trial_table

        return trial_table(self.trials, self.config.parsed_objectives(), self.config.parsed_constraints())

    def to_dataframe(self) -> Any:
        """The trial table as a pandas DataFrame (needs ``pip install 'nasforge[pandas]'``)."""
        return self.table().to_dataframe()


class SearchInterrupted(KeyboardInterrupt):
    """Ctrl-C stopped the run in ``run_dir``; ``nasforge resume`` continues it."""

    def __init__(self, run_dir: Path) -> None:
        super().__init__(f"interrupted; continue with `nasforge resume {run_dir}`")
        self.run_dir = run_dir


class ConfigChangedError(ConfigError):
    """A resumed run's ``config.yaml`` differs from the configuration the run started with."""


def start_search(config: SearchConfig, run_dir: str | Path | None = None, space: Space | None = None,
                 task: Task | None = None, callbacks: Sequence[Callback] = (), on_epoch: Any = None,
                 listeners: Sequence[Any] = ()) -> SearchResult:
    """Create a run directory for ``config``, search to the budget, then finish the run.

    ``listeners`` are the user's search callbacks (:mod:`nasforge.run.callbacks`), checked first;
    ``callbacks`` are the loop's own ``(experiment, trial)`` callbacks (the progress display).

    Everything that can be checked is checked before the directory is created, the cheap checks
    first: the config, that the directory is new, unused and writable, the strategy's set-up and
    the executor, that the space builds networks for a built-in task's known shape (all before any
    data is loaded; :mod:`nasforge.run.fit`), then the data (loaded here), that the space builds
    networks for it, and that the constraints can be met.
    """
    from nasforge.run.build import build_executor

    hooks = Callbacks(listeners)
    path = Path(run_dir) if run_dir is not None else rd.default_run_dir()
    rd.check_new(path)
    space_obj = make_space(config, space)
    builds = getattr(space_obj, "can_build", False)

    def check_fit() -> None:
        if task is None and needs_data(config):
            check_task_spec_fits(space_obj, config.task)  # a built-in task's shape is known before loading
        elif task is not None and builds:
            check_space_fits(space_obj, task.name, task.input_shape, task.num_classes, task.x_train[:2])

    # the strategy's settings first, with nothing built; then whether the space fits the task;
    # then the strategy with its services (bananas sizes the space's networks for its free
    # statistics), before loading where the networks' shape is known without the data
    shape_known = task is not None or not needs_data(config) or not builds or known_shape(config.task) is not None
    if not is_oneshot(config):
        check_strategy(config, space_obj, task, bare=True)
    check_fit()
    if not is_oneshot(config) and shape_known:
        check_strategy(config, space_obj, task)
    build_executor(config).preflight()
    if task is None and needs_data(config):
        phase("loading data")
    given = task
    task = load_data(config, task)
    if task is not None and builds and given is None:
        check_space_fits(space_obj, task.name, task.input_shape, task.num_classes, task.x_train[:2])
    if not is_oneshot(config) and not shape_known:
        check_strategy(config, space_obj, task)
    if task is not None and builds:
        from nasforge.experiment.feasibility import check_constraints_satisfiable

        check_constraints_satisfiable(space_obj, task, config.parsed_constraints(), seed=config.seed)
    path.mkdir(parents=True, exist_ok=True)
    try:
        with _faults(path), rd.RunLock(path):
            rd.check_new(path, locked=True)  # again under the lock: another search may have begun meanwhile
            rd.write_text_atomic(path / rd.CONFIG, config.to_yaml())
            with closing(Storage(path / rd.DB)) as storage:
                storage.set_meta("config", _dump(config))
                return _run(path, config, space_obj, task, storage, callbacks, on_epoch, hooks)
    except (ExecutorError, TrackerError):  # workers or a tracker could not start: leave no half-written run
        rd.remove_if_unused(path)
        raise


def resume_search(run_dir: str | Path, space: Space | None = None, task: Task | None = None,
                  callbacks: Sequence[Callback] = (), on_epoch: Any = None,
                  allow_change: Sequence[str] = (), device: str | None = None, listeners: Sequence[Any] = (),
                  log_to: Any = None) -> SearchResult:
    """Continue the run in ``run_dir`` to its budget; finished trials are not run again.

    A complete run is returned as it is (``already_complete``); ``allow_change`` names config
    fields besides :data:`SAFE_CHANGES` that may differ from the run's start; ``device``
    (``auto``, ``cpu``, ``cuda``...) replaces the run's device, a change like any other;
    ``listeners`` are search callbacks (:mod:`nasforge.run.callbacks`); ``log_to`` adds trackers
    to the run's ``log_to`` for this session (``["mlflow"]``, or a mapping with settings).
    """
    hooks = Callbacks(listeners)
    path = Path(run_dir)
    rd.check_existing(path)
    config = load_config(path / rd.CONFIG, context={"space": space, "task": task}, device=device,
                         log_to=_tracker_mapping(log_to))
    space_obj = make_space(config, space)
    with _faults(path), rd.RunLock(path), closing(Storage(path / rd.DB)) as storage:
        check_unchanged(storage, config, allow_change, path)
        done = completed(path, config, space_obj, storage)
        if done is not None:
            hooks = _with_trackers(hooks, config, path)
            hooks.start(RunStart(path, config, space_obj, done.trials, resumed=True))
            hooks.end(done)
            return done
        if task is None and needs_data(config):
            phase("loading data")
        return _run(path, config, space_obj, load_data(config, task), storage, callbacks, on_epoch, hooks,
                    resumed=True)


def _run(path: Path, config: SearchConfig, space: Space, task: Task | None, storage: Storage,
         callbacks: Sequence[Callback], on_epoch: Any = None, hooks: Callbacks | None = None,
         resumed: bool = False) -> SearchResult:
    """Search (or go on searching) to the budget and finish the run; the caller holds the lock."""
    hooks = _with_trackers(hooks or Callbacks(), config, path)
    if hooks:
        hooks.start(RunStart(path, config, space, storage.trials(space.parse), resumed))
        callbacks = [*callbacks, hooks.trial]
    storage.set_meta("seed", config.seed)
    storage.set_meta("clock", config.clock)
    storage.set_meta("environment", current_environment())  # the report names the machine that ran it
    strategy = None
    phase("setting up")  # cost sources (a latency predictor measures its samples), services, strategy
    if is_oneshot(config):
        from nasforge.oneshot.evaluator import SupernetEvaluator
        from nasforge.run.build import cost_wrapper
        from nasforge.run.oneshot import run_oneshot

        trials = run_oneshot(path, config, space, task, storage, callbacks, on_epoch,
                             cost_wrapper(config, space, task, path, SupernetEvaluator.METRICS))
    else:
        evaluator = build_evaluator(config, space, task, path)
        experiment = build_experiment(config, storage, space, task, callbacks, path, evaluator)
        trials = experiment.run()
        strategy = experiment.strategy
    result = finish_run(path, config, space, trials, task, strategy)
    storage.set_meta("finished", _dump(config))
    hooks.end(result)
    return result


@contextmanager
def _faults(path: Path) -> Iterator[None]:
    """Ctrl-C as :class:`SearchInterrupted` and a full disk as :class:`~rd.DiskFullError`, naming ``path``."""
    try:
        yield
    except SearchInterrupted:
        raise
    except KeyboardInterrupt:
        raise SearchInterrupted(path) from None
    except OSError as exc:
        if exc.errno in rd.DISK_FULL:
            raise rd.DiskFullError(exc.filename or path, path, exc.errno) from None
        raise
    except sqlite3.OperationalError as exc:
        if getattr(exc, "sqlite_errorcode", None) == sqlite3.SQLITE_FULL or "disk is full" in str(exc):
            raise rd.DiskFullError(path / rd.DB, path) from None
        raise


# ------------------------------------------------------------------ resuming: what is missing


def completed(path: Path, config: SearchConfig, space: Space, storage: Storage) -> SearchResult | None:
    """The stored result if the run is complete under ``config`` (its search and finalisation ended
    with this very configuration and the outputs are there), else None. Writes nothing."""
    trials = storage.trials(space.parse)
    if any(t.status == RUNNING for t in trials):
        return None
    mark = storage.get_meta("finished")
    if mark is None and not _budget_spent(config, storage, trials):  # a run from before "finished" was stored
        return None
    if mark is not None and mark != _dump(config):
        return None
    if not (path / rd.REPORT).is_file() or not (path / rd.PARETO).is_file():
        return None
    objectives, constraints = config.parsed_objectives(), config.parsed_constraints()
    best = select_best(trials, objectives, constraints)
    summary = None
    if best is not None and config.final_retrain:
        from nasforge.run.finalize import finalised

        summary = finalised(path / rd.BEST, best.arch.key, config.evaluator.cls().finalise)
        if summary is None:
            return None
        if config.final_front and not (path / rd.BEST / rd.FRONT_CSV).is_file():
            return None
    return SearchResult(path, config, trials, pareto_trials(trials, objectives, constraints), best, summary,
                        closest_trial(trials, constraints) if best is None else None, already_complete=True)


def _budget_spent(config: SearchConfig, storage: Storage, trials: list[Trial]) -> bool:
    if is_oneshot(config):
        return False
    budget = config.budget
    counted = sum(t.counts_for_budget for t in trials)
    if budget.trials is not None and counted >= budget.trials:
        return True
    return budget.minutes is not None and float(storage.get_meta("elapsed_seconds", 0.0)) >= budget.minutes * 60


def check_unchanged(storage: Storage, config: SearchConfig, allow_change: Sequence[str], path: Path) -> None:
    """Refuse a configuration that differs from the one the run started with in a field that is
    neither in :data:`SAFE_CHANGES` nor in ``allow_change``; record an accepted change."""
    current = _dump(config)
    stored = storage.get_meta("config")
    if stored is None:
        log.warning("%s was started by a nasforge that did not store the run's configuration: changes made to its "
                    "%s since cannot be detected", path, rd.CONFIG)
        storage.set_meta("config", current)
        return
    before, after = _flatten(stored), _flatten(current)
    for name in allow_change:
        if not any(_covers(name, key) for key in {*before, *after}):
            raise ConfigError(f"--allow-change {name}: the run's configuration has no field {name!r} "
                              "(fields are dotted paths such as evaluator.settings.epochs)")
    changes = config_changes(stored, current)
    refused = [c for c in changes if not any(_covers(f, c[0]) for f in (*SAFE_CHANGES, *allow_change))]
    if refused:
        lines = "\n".join(f"  {key}: {_text(old)} -> {_text(new)}" for key, old, new in refused)
        flags = " ".join(f"--allow-change {key}" for key, _, _ in refused)
        raise ConfigChangedError(
            f"{path / rd.CONFIG} changed since the run started:\n{lines}\nthe trials of one run must share these "
            f"settings, or its results would mix fidelities or objectives. Undo the change, start a new run from "
            f"the edited file (nasforge search --config {path / rd.CONFIG} --out NEW_DIR), or accept it: "
            f"nasforge resume {path} {flags}. Fields that may change without it: {', '.join(SAFE_CHANGES)}")
    if changes:
        log.info("%s: configuration changes accepted: %s", path,
                 "; ".join(f"{key} {_text(old)} -> {_text(new)}" for key, old, new in changes))
        storage.set_meta("config", current)


_UNSET = object()


def config_changes(before: dict[str, Any], after: dict[str, Any]) -> list[tuple[str, Any, Any]]:
    """``(dotted field, old, new)`` for every field that differs (settings mappings field by field);
    top-level fields only one side knows (another nasforge version's) are left out."""
    shared = set(before) & set(after)
    old = _flatten({k: v for k, v in before.items() if k in shared})
    new = _flatten({k: v for k, v in after.items() if k in shared})
    keys = list(dict.fromkeys([*old, *new]))
    return [(k, old.get(k, _UNSET), new.get(k, _UNSET)) for k in keys if old.get(k, _UNSET) != new.get(k, _UNSET)]


def _flatten(data: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in data.items():
        if isinstance(value, dict):
            out.update(_flatten(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out


def _covers(field: str, key: str) -> bool:
    return key == field or key.startswith(field + ".")


def _text(value: Any) -> str:
    return "(unset)" if value is _UNSET else repr(value)


def _dump(config: SearchConfig) -> dict[str, Any]:
    """The configuration that defines the run (``log_to``, where results are also sent, may
    change at any resume and is left out)."""
    return config.model_dump(mode="json", exclude={"log_to"})


def _with_trackers(hooks: Callbacks, config: SearchConfig, path: Path) -> Callbacks:
    """The user's callbacks, then the loggers the config's ``log_to`` names."""
    from nasforge.run.tracking import trackers

    return Callbacks([*hooks.items, *trackers(config, path)])


def _tracker_mapping(log_to: Any) -> dict[str, Any] | None:
    """``log_to`` given to a resume (names or a mapping) as a mapping merged into the run's own."""
    if log_to is None or isinstance(log_to, dict):
        return log_to
    return {name: {} for name in ([log_to] if isinstance(log_to, str) else log_to)}


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
    closest = None
    if best is None:
        closest = closest_trial(trials, constraints)
        log.warning("no complete trial met %s: nothing to retrain",
                    "every constraint" if constraints else "every objective")
    elif config.final_retrain:
        summary = finalise(best, config, space, task, path / rd.BEST)
        family = getattr(strategy, "family", None)
        if family is not None:
            from nasforge.run.finalize import finalise_family

            finalise_family(family(), getattr(strategy, "resource", "params"), config, space, task, path / rd.BEST)
        if config.final_front:
            from nasforge.run.finalize import finalise_front

            finalise_front(front, objectives, config, space, task, path / rd.BEST)
    from nasforge.report.html import write_report

    phase("report")
    write_report(path)
    return SearchResult(path, config, trials, front, best, summary, closest)


def closest_trial(trials: Sequence[Trial], constraints: Sequence[Constraint]) -> Trial | None:
    """The trial (complete, or infeasible with its cost metrics) with the smallest total constraint
    violation (:func:`~nasforge.core.objectives.total_violation`); None without constraints."""
    if not constraints:
        return None
    scored = [(total_violation(constraints, t.metrics), t.number, t) for t in trials
              if t.status in (COMPLETE, INFEASIBLE)]
    scored = [s for s in scored if math.isfinite(s[0])]
    return min(scored, key=lambda s: s[:2])[2] if scored else None


def write_pareto_csv(path: Path, front: Sequence[Trial], objectives: Sequence[Any]) -> None:
    """One row per Pareto-optimal trial: number, arch key, objectives, then other metrics (atomically)."""
    first = [o.metric for o in objectives]
    others = sorted({k for t in front for k in t.metrics} - set(first))
    buf = io.StringIO(newline="")
    writer = csv.writer(buf)
    writer.writerow(["trial", "arch", *first, *others])
    for t in front:
        writer.writerow([t.number, t.arch.key, *(t.metrics.get(k, "") for k in first + others)])
    rd.write_text_atomic(path, buf.getvalue())

