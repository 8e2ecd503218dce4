"""What the interactive report shows, as small dataclasses computed from a run's records.

Pure functions, no HTML and no plotting (``figures.py`` turns these into Plotly figures and
``html.py`` renders the page): the header facts (config, seed, budget and how the run ended, the
selection rule), which trials are selected and on the Pareto front, the trials table, the metric
per choice of every decision, and the running hypervolume of a multi-objective run.
"""

from __future__ import annotations

import datetime as dt
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import yaml

from nasforge.core.objectives import Objective
from nasforge.core.pareto import hypervolume
from nasforge.core.records import COMPLETE, RUNNING, Trial
from nasforge.experiment import run_dir as rd
from nasforge.experiment.selection import feasible_trials, pareto_trials, select_best
from nasforge.report.data import RunRecords
from nasforge.report.table import metric_columns

#: the hypervolume's reference point, per objective, in losses scaled to [0, 1] over the points shown
HV_REFERENCE = 1.1


@dataclass(frozen=True)
class Header:
    """The facts at the top of the page."""

    name: str
    settings: list[tuple[str, str]]  # task, space, strategy, evaluator, device, seed, clock
    objectives: list[str]
    constraints: list[str]
    budget: str
    ending: str
    finished: bool
    selection: str
    counts: list[tuple[str, int]]
    period: str | None  # first trial's start to last trial's end, UTC
    config_yaml: str


@dataclass(frozen=True)
class Marks:
    """Trial numbers of the selected trial, the Pareto front (the best ones for one objective)
    and the feasible trials."""

    selected: int | None
    pareto: frozenset[int]
    feasible: frozenset[int]
    multi_objective: bool


@dataclass(frozen=True)
class TableRow:
    number: int
    arch: str
    status: str
    badges: tuple[str, ...]  # "selected", "pareto" or "best"
    metrics: list[Any]  # one per TrialTable.metrics; "" where the trial has none
    clock: float | None
    error: str


@dataclass(frozen=True)
class TrialTable:
    metrics: list[str]  # objectives first, then the other metrics by name
    rows: list[TableRow]
    statuses: list[str]


@dataclass(frozen=True)
class DecisionEffect:
    """The first objective of the feasible trials, grouped by the value one decision took."""

    decision: str
    metric: str
    choices: list[str]
    values: list[list[float]]
    numbers: list[list[int]]  # the trials behind each value


@dataclass(frozen=True)
class HypervolumeCurve:
    """Hypervolume of the feasible full-fidelity trials so far, after each counted trial."""

    objectives: list[str]
    trial_index: list[int]
    value: list[float]
    clock: list[float | None]


@dataclass(frozen=True)
class Scale:
    """Losses scaled to [0, 1] per objective between ``low`` and ``high`` (the points shown)."""

    low: np.ndarray
    high: np.ndarray

    def __call__(self, losses: np.ndarray) -> np.ndarray:
        span = np.where(self.high > self.low, self.high - self.low, 1.0)
        return (losses - self.low) / span


# ------------------------------------------------------------------------------------- header
def is_finished(records: RunRecords) -> bool:
    """Whether the run ended (the store's ``finished`` mark; runs stored before that mark count
    as finished when ``pareto.csv`` was written and no trial is still running)."""
    if "finished" in records.meta:
        return True
    return (records.path / rd.PARETO).is_file() and not any(t.status == RUNNING for t in records.trials)


def header(records: RunRecords) -> Header:
    cfg = records.config
    evaluator = cfg.get("evaluator")
    evaluator_name = evaluator.get("name") if isinstance(evaluator, dict) else evaluator
    seed = records.meta.get("seed", cfg.get("seed"))
    clock = records.meta.get("clock", cfg.get("clock"))
    settings = [("task", _text(cfg.get("task"))), ("space", _text(cfg.get("space"))),
                ("strategy", _text(cfg.get("strategy"))), ("evaluator", _text(evaluator_name)),
                ("device", _text(cfg.get("device"))), ("seed", _text(seed)), ("clock", _text(clock))]
    counts: dict[str, int] = {}
    for t in records.trials:
        counts[str(t.status)] = counts.get(str(t.status), 0) + 1
    return Header(records.path.name, settings, [str(o) for o in records.objectives],
                  [str(c) for c in records.constraints], budget_text(cfg, bool(records.epochs)), ending_text(records),
                  is_finished(records), selection_rule(records), sorted(counts.items()), _period(records.trials),
                  yaml.safe_dump(cfg, sort_keys=False, allow_unicode=True))


def budget_text(config: dict[str, Any], oneshot: bool = False) -> str:
    """The run's budget as configured; a one-shot run's (``oneshot``) is its epochs, then its
    inherited-weight trials."""
    budget = config.get("budget") if isinstance(config.get("budget"), dict) else {}
    strategy = config.get("strategy_settings") if isinstance(config.get("strategy_settings"), dict) else {}
    parts = []
    if oneshot:
        epochs = strategy.get("epochs")
        parts.append(f"{epochs if isinstance(epochs, int) else 'the method’s'} epochs, then "
                     f"up to {budget.get('trials') if isinstance(budget.get('trials'), int) else 'its'} trials")
    elif isinstance(budget.get("trials"), int):
        parts.append(f"{budget['trials']} trials")
    if isinstance(budget.get("minutes"), (int, float)):
        parts.append(f"{budget['minutes']:g} minutes")
    return ", ".join(parts) + " (whichever ends first)" if len(parts) > 1 else (parts[0] if parts else "?")


def ending_text(records: RunRecords) -> str:
    """How the run ended: its budget, its time, early (nothing left to propose), or not yet."""
    counted = sum(t.counts_for_budget for t in records.trials)
    budget = records.config.get("budget") if isinstance(records.config.get("budget"), dict) else {}
    trials, minutes = budget.get("trials"), budget.get("minutes")
    elapsed = records.meta.get("elapsed_seconds")
    timed = isinstance(minutes, (int, float)) and isinstance(elapsed, (int, float)) and elapsed >= 0.95 * minutes * 60
    spent = f"{counted} trial{'' if counted == 1 else 's'}" + (f" of {trials}" if isinstance(trials, int) else "")
    if isinstance(elapsed, (int, float)):
        spent += f" in {_duration(float(elapsed))} of the run's clock"
    if records.epochs:
        return _oneshot_ending(records, counted, timed, minutes)
    if not is_finished(records):
        return (f"not finished: {spent} so far (interrupted, or still running); "
                f"`nasforge resume {records.path.name}` continues it")
    if isinstance(trials, int) and counted >= trials:
        return f"the trial budget ran out: {spent}"
    if timed:
        return f"the time budget ({minutes:g} minutes) ran out: {spent}"
    return f"finished before its budget: {spent} (the strategy or the space had nothing more to propose)"


def _oneshot_ending(records: RunRecords, counted: int, timed: bool, minutes: Any) -> str:
    settings = records.config.get("strategy_settings") if isinstance(records.config.get("strategy_settings"), dict) else {}
    planned = settings.get("epochs")
    trained = f"{len(records.epochs)}" + (f" of {planned}" if isinstance(planned, int) else "")
    done = (f"{trained} epochs trained, then {counted} architecture{'' if counted == 1 else 's'} "
            "evaluated with inherited weights")
    if not is_finished(records):
        return f"not finished: {done} so far; `nasforge resume {records.path.name}` continues it"
    if timed and isinstance(planned, int) and len(records.epochs) < planned:
        return f"the time budget ({minutes:g} minutes) ended training: {done}"
    return done


def selection_rule(records: RunRecords) -> str:
    objectives = [str(o) for o in records.objectives]
    rule = f"the feasible full-fidelity trial best on {objectives[0]}"
    if len(objectives) > 1:
        rule += f", ties broken by {', '.join(objectives[1:])}"
    if records.constraints:
        rule += f"; feasible means {' and '.join(str(c) for c in records.constraints)}"
    oneshot = records.meta.get("oneshot")
    if isinstance(oneshot, dict) and oneshot.get("method"):
        rule = (f"the architecture the one-shot method {oneshot['method']} returned: derived from its architecture "
                f"parameters, or for a method that searches its trained supernet, {rule} (inherited weights)")
    if records.family:
        rule += "; one such trial per budget of the constraint family"
    summary = records.summary or {}
    if summary.get("kind") == "table":
        rule += ", then looked up in the benchmark's table"
    elif summary:
        rule += ", then retrained from scratch on train+val and tested"
    return rule


def _period(trials: Sequence[Trial]) -> str | None:
    starts = [t.started for t in trials if isinstance(t.started, (int, float))]
    ends = [t.finished for t in trials if isinstance(t.finished, (int, float))]
    if not starts or not ends:
        return None
    first, last = (dt.datetime.fromtimestamp(v, dt.timezone.utc) for v in (min(starts), max(ends)))
    return f"{first:%Y-%m-%d %H:%M:%S} to {last:%Y-%m-%d %H:%M:%S} UTC ({_duration(max(ends) - min(starts))})"


def _duration(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.1f} s"
    if seconds < 7200:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.1f} h"


def _text(value: Any) -> str:
    return "?" if value is None else str(value)


# -------------------------------------------------------------------------------------- marks
def marks(records: RunRecords) -> Marks:
    """The selected trial (the one whose arch the run's summary names, else the selection rule's
    pick), the Pareto trials and the feasible ones."""
    front = pareto_trials(records.trials, records.objectives, records.constraints)
    pareto = frozenset(t.number for t in front)
    feasible = frozenset(t.number for t in feasible_trials(records.trials, records.objectives, records.constraints))
    chosen = (records.summary or {}).get("arch")
    if not isinstance(chosen, str):
        oneshot = records.meta.get("oneshot")
        chosen = oneshot.get("arch") if isinstance(oneshot, dict) else None
    selected = None
    if isinstance(chosen, str):
        matches = [t for t in records.trials if t.arch.key == chosen and t.status == COMPLETE]
        matches.sort(key=lambda t: (t.number not in pareto, t.number not in feasible, t.number))
        selected = matches[0].number if matches else None
    if selected is None:
        best = select_best(records.trials, records.objectives, records.constraints)
        selected = best.number if best is not None else None
    return Marks(selected, pareto, feasible, len(records.objectives) > 1)


def trial_table(records: RunRecords, mark: Marks) -> TrialTable:
    metrics = metric_columns(records.trials, records.objectives)
    rows = []
    for t in records.trials:
        badges = []
        if t.number == mark.selected:
            badges.append("selected")
        if t.number in mark.pareto:
            badges.append("pareto" if mark.multi_objective else "best")
        rows.append(TableRow(t.number, t.arch.key, str(t.status), tuple(badges),
                             [t.metrics.get(m, "") for m in metrics], t.clock, t.error or ""))
    statuses = sorted({r.status for r in rows})
    return TrialTable(metrics, rows, statuses)


# ---------------------------------------------------------------------------------- decisions
def decision_effects(records: RunRecords, limit: int = 24) -> list[DecisionEffect]:
    """Per decision of the space, the first objective of the feasible trials per value taken.

    Decisions that took one value only among those trials are left out; at most ``limit``
    decisions, in the order the space lists them.
    """
    metric = records.objectives[0].metric
    pool = feasible_trials(records.trials, records.objectives, records.constraints)
    decisions: list[str] = []
    for t in pool:
        decisions += [d for d in t.arch if d not in decisions]
    out = []
    for decision in decisions:
        groups: dict[str, tuple[list[float], list[int]]] = {}
        for t in pool:
            if decision in t.arch:
                values, numbers = groups.setdefault(_choice(t.arch[decision]), ([], []))
                values.append(float(t.metrics[metric]))
                numbers.append(t.number)
        if len(groups) < 2:
            continue
        choices = sorted(groups, key=_choice_order)
        out.append(DecisionEffect(decision, metric, choices, [groups[c][0] for c in choices],
                                  [groups[c][1] for c in choices]))
        if len(out) == limit:
            break
    return out


def _choice(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value)


def _choice_order(choice: str) -> tuple[int, float, str]:
    try:
        return (0, float(choice), choice)
    except ValueError:
        return (1, 0.0, choice)


# -------------------------------------------------------------------------------- hypervolume
def losses(trials: Sequence[Trial], objectives: Sequence[Objective]) -> np.ndarray:
    """The objectives of ``trials`` as losses (minimise every column)."""
    return np.array([[o.loss(float(t.metrics[o.metric])) for o in objectives] for t in trials],
                    dtype=float).reshape(len(trials), len(objectives))


def scale_of(points: np.ndarray) -> Scale | None:
    """The scale over ``points`` (a loss matrix), ``None`` when there are none."""
    finite = points[np.isfinite(points).all(axis=1)] if len(points) else points
    if not len(finite):
        return None
    return Scale(finite.min(axis=0), finite.max(axis=0))


def hypervolume_curve(records: RunRecords, objectives: Sequence[Objective] | None = None,
                      scale: Scale | None = None) -> HypervolumeCurve | None:
    """Running hypervolume over counted trials for two or more ``objectives`` (default: the
    run's), losses scaled by ``scale`` (default: over this run's feasible trials), reference
    point :data:`HV_REFERENCE` per objective. ``None`` for one objective or no feasible trial."""
    objectives = list(records.objectives if objectives is None else objectives)
    if len(objectives) < 2:
        return None
    feasible = {t.number for t in feasible_trials(records.trials, objectives, records.constraints)}
    if not feasible:
        return None
    counted = [t for t in records.trials if t.counts_for_budget]
    scale = scale or scale_of(losses([t for t in counted if t.number in feasible], objectives))
    if scale is None:
        return None
    reference = [HV_REFERENCE] * len(objectives)
    front = np.empty((0, len(objectives)))
    current = 0.0
    index, values, clock = [], [], []
    for i, t in enumerate(counted, start=1):
        if t.number in feasible:
            point = scale(losses([t], objectives))
            if np.isfinite(point).all() and not (len(front) and (front <= point).all(axis=1).any()):
                front = np.vstack([front[~(point <= front).all(axis=1)], point])
                current = hypervolume(front, reference)
        index.append(i)
        values.append(current)
        clock.append(t.clock)
    return HypervolumeCurve([str(o) for o in objectives], index, values, clock)


def finite(value: Any) -> Any:
    """``value`` with non-finite floats as ``None`` (JSON has no NaN), recursively."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {str(k): finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [finite(v) for v in value]
    return value
