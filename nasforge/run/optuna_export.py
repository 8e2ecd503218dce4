"""A run directory exported into an Optuna storage, so that ``optuna-dashboard`` (or any Optuna
tool) shows it: ``export_optuna(RUN, "sqlite:///study.db")``.

One Optuna trial per stored nasforge trial, in trial-number order:

- params: the trial's decisions, one per decision of the run's space, with the distributions of
  :class:`~nasforge.strategy.optuna_params.OptunaParams` (unordered: every value is an option of
  the space). For a space that is not registered here (one given as a Python object), each
  decision is a categorical of the values the run's trials took.
- values: the objectives' metrics in the run's objective order; the study's directions and metric
  names are the run's objectives.
- state: ``COMPLETE`` for a finished trial with every objective finite (infeasible and cached
  trials too: their status is in the user attributes), ``FAIL`` for a failed one or one lacking
  an objective, ``RUNNING`` for one that was running when the run stopped.
- user attributes: ``arch`` (the architecture key), ``nasforge_number``, ``nasforge_status``,
  ``metrics`` (all of them), ``cost_seconds`` and ``error`` where there is one; with constraints,
  each trial's violations go where Optuna's samplers and dashboard read them (system attribute
  ``constraints``, <= 0 is feasible).
- start and end times: the trial's own.

An existing study of the same name is never replaced unless ``overwrite`` is set. The run
directory is only read.
"""

from __future__ import annotations

import datetime
import math
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nasforge.core.records import CACHED, COMPLETE, FAILED, INFEASIBLE, RUNNING, Trial
from nasforge.report.data import RunRecords, read_run
from nasforge.strategy.optuna_params import OptunaParams

#: Optuna's system attribute for constraint values (what its samplers and dashboard read)
_CONSTRAINTS = "constraints"


@dataclass(frozen=True)
class OptunaExport:
    """What :func:`export_optuna` wrote."""

    storage: str
    study_name: str
    trials: int
    states: Mapping[str, int]


def default_study_name(run_dir: str | Path) -> str:
    """The study name used when none is given: ``nasforge-<run folder name>``."""
    return f"nasforge-{Path(run_dir).resolve().name}"


def export_optuna(run_dir: str | Path, storage: str, study_name: str | None = None,
                  overwrite: bool = False) -> OptunaExport:
    """Write the run in ``run_dir`` into the Optuna ``storage`` (a database URL such as
    ``sqlite:///study.db``) as the study ``study_name`` (default :func:`default_study_name`).

    Raises ``ValueError`` for a storage that is not a URL, and for a study that already exists
    there (unless ``overwrite``); :class:`~nasforge.experiment.run_dir.RunDirError` for a folder
    that holds no intact run. Nothing is written before the run has been read.
    """
    import optuna

    if not isinstance(storage, str) or "://" not in storage:
        raise ValueError(f"storage: expected a database URL such as sqlite:///study.db, got {storage!r}")
    records = read_run(run_dir)
    name = study_name or default_study_name(run_dir)
    if not name.strip():
        raise ValueError("study name: must not be empty")
    trials = sorted(records.trials, key=lambda t: t.number)
    distributions = _distributions(records, trials)
    frozen = [_frozen(records, t, distributions, i) for i, t in enumerate(trials)]

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    existing = {s.study_name for s in optuna.get_all_study_summaries(storage)}
    if name in existing:
        if not overwrite:
            raise ValueError(f"study {name!r} already exists in {storage}; choose another study name or "
                             "overwrite it (--overwrite / overwrite=True)")
        optuna.delete_study(study_name=name, storage=storage)
    directions = ["maximize" if o.direction == "max" else "minimize" for o in records.objectives]
    study = optuna.create_study(storage=storage, study_name=name, directions=directions)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            study.set_metric_names([o.metric for o in records.objectives])
        for key, value in _study_attrs(records).items():
            study.set_user_attr(key, value)
        study.add_trials(frozen)
    except BaseException:  # no half-written study left behind
        optuna.delete_study(study_name=name, storage=storage)
        raise
    states: dict[str, int] = {}
    for trial in frozen:
        states[trial.state.name] = states.get(trial.state.name, 0) + 1
    return OptunaExport(storage, name, len(frozen), states)


def _study_attrs(records: RunRecords) -> dict[str, Any]:
    config = records.config
    attrs = {"nasforge_run": str(records.path), "objectives": [str(o) for o in records.objectives],
             "constraints": [str(c) for c in records.constraints]}
    for key in ("space", "strategy", "evaluator", "task", "seed"):
        value = config.get(key, records.meta.get(key))
        if isinstance(value, str | int | float | bool):
            attrs[key] = value
    return attrs


def _distributions(records: RunRecords, trials: list[Trial]) -> dict[str, Any]:
    space = _space(records)
    if space is not None:
        return OptunaParams(space).distributions
    from optuna.distributions import CategoricalDistribution

    seen: dict[str, dict[str, Any]] = {}
    for trial in trials:
        for decision, value in trial.arch.items():
            seen.setdefault(decision, {}).setdefault(f"{type(value).__name__}:{value}", value)
    return {d: CategoricalDistribution(list(values.values())) for d, values in seen.items()}


def _space(records: RunRecords) -> Any:
    """The run's space if it is registered here (its settings as stored), else ``None``."""
    from nasforge.space.registry import SPACES, get_space

    name, settings = records.config.get("space"), records.config.get("space_settings") or {}
    if not isinstance(name, str) or name not in SPACES or not isinstance(settings, dict):
        return None
    try:
        space = get_space(name, **settings)
    except (TypeError, ValueError):
        return None
    decisions = {c.name for c in space.choices}
    for trial in records.trials:  # stored decisions or values this version of the space no longer has
        if set(trial.arch) != decisions or not all(_is_option(c.options, trial.arch[c.name]) for c in space.choices):
            return None
    return space


def _is_option(options: tuple[Any, ...], value: Any) -> bool:
    return any(type(o) is type(value) and o == value for o in options)


def _frozen(records: RunRecords, trial: Trial, distributions: Mapping[str, Any], index: int) -> Any:
    from optuna.trial import FrozenTrial, TrialState

    values = _objective_values(records, trial)
    if trial.status == RUNNING:
        state = TrialState.RUNNING
    elif trial.status in (COMPLETE, INFEASIBLE, CACHED) and values is not None:
        state = TrialState.COMPLETE
    else:
        state = TrialState.FAIL
    user_attrs: dict[str, Any] = {"arch": trial.arch.key, "nasforge_number": trial.number,
                                  "nasforge_status": str(trial.status), "metrics": dict(trial.metrics),
                                  "cost_seconds": trial.cost_seconds}
    if trial.error:
        user_attrs["error"] = trial.error
    elif trial.status == FAILED or (state == TrialState.FAIL and values is None):
        user_attrs["error"] = "no finite value for every objective"
    system_attrs: dict[str, Any] = {}
    if records.constraints and state == TrialState.COMPLETE:
        system_attrs[_CONSTRAINTS] = [min(c.violation(trial.metrics), 1e12) for c in records.constraints]
    params = _params(distributions, trial)
    return FrozenTrial(
        number=index, state=state, value=None, values=values if state == TrialState.COMPLETE else None,
        datetime_start=_time(trial.started), datetime_complete=None if state == TrialState.RUNNING else
        _time(trial.finished) or _time(trial.started), params=params,
        distributions={k: distributions[k] for k in params}, user_attrs=user_attrs, system_attrs=system_attrs,
        intermediate_values={}, trial_id=index)


def _params(distributions: Mapping[str, Any], trial: Trial) -> dict[str, Any]:
    from optuna.distributions import CategoricalDistribution

    out = {}
    for decision, dist in distributions.items():
        value = trial.arch[decision]
        if isinstance(dist, CategoricalDistribution):  # the choice as the distribution holds it (typed)
            value = next((c for c in dist.choices if type(c) is type(value) and c == value), value)
        out[decision] = value
    return out


def _objective_values(records: RunRecords, trial: Trial) -> list[float] | None:
    values = []
    for objective in records.objectives:
        value = trial.metrics.get(objective.metric)
        if value is None or not isinstance(value, int | float) or not math.isfinite(float(value)):
            return None
        values.append(float(value))
    return values


def _time(stamp: float | None) -> datetime.datetime | None:
    return None if stamp is None else datetime.datetime.fromtimestamp(stamp)
