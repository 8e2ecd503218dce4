"""Pure functions from a run's stored records to small report dataclasses (no plotting here)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from nasforge.core.objectives import Constraint, Objective
from nasforge.core.records import COMPLETE, Trial
from nasforge.experiment import run_dir as rd
from nasforge.experiment.selection import feasible_trials, full_fidelity, pareto_trials
from nasforge.experiment.storage import Storage


@dataclass(frozen=True)
class RunRecords:
    """Everything a report needs, read once from a run directory."""

    path: Path
    config: dict[str, Any]
    trials: list[Trial]
    objectives: list[Objective]
    constraints: list[Constraint]
    summary: dict[str, Any] | None
    proxy_cost: dict[str, float] = field(default_factory=dict)  # evaluations, seconds (guided runs)


@dataclass(frozen=True)
class History:
    """Best-so-far of the first objective against counted trials."""

    metric: str
    trial_index: list[int]
    value: list[float]
    best_so_far: list[float]


@dataclass(frozen=True)
class ParetoView:
    """All feasible points and the front, on two objectives."""

    x_metric: str
    y_metric: str
    points: list[tuple[float, float]]
    front: list[tuple[float, float]]


def read_run(path: str | Path) -> RunRecords:
    """Load config, trials and the final summary of a run directory."""
    path = Path(path)
    rd.check_existing(path)
    config = yaml.safe_load((path / rd.CONFIG).read_text())
    storage = Storage(path / rd.DB)
    try:
        trials = storage.trials()
        cost = storage.proxy_cost()
    finally:
        storage.close()
    summary_path = path / rd.BEST / "summary.json"
    summary = json.loads(summary_path.read_text()) if summary_path.is_file() else None
    return RunRecords(path, config, trials, [Objective.parse(t) for t in config["objectives"]],
                      [Constraint.parse(t) for t in config.get("constraints", [])], summary,
                      cost if cost["proxy_evaluations"] else {})


def history(records: RunRecords) -> History:
    """Best-so-far of the first objective over counted trials (failed ones and lower-fidelity
    rungs keep the best: a rung's accuracy is not comparable with a fully trained one's)."""
    obj = records.objectives[0]
    index, values, best = [], [], []
    current: float | None = None
    counted = [t for t in records.trials if t.counts_for_budget]
    for i, t in enumerate(counted, start=1):
        if t.status != COMPLETE or obj.metric not in t.metrics or not full_fidelity(t):
            continue
        if not all(c.satisfied(t.metrics) for c in records.constraints):
            continue
        v = float(t.metrics[obj.metric])
        current = v if current is None or obj.better(v, current) else current
        index.append(i)
        values.append(v)
        best.append(current)
    return History(obj.metric, index, values, best)


def pareto_view(records: RunRecords) -> ParetoView | None:
    """The first two objectives of feasible trials and of the front (None for one objective)."""
    if len(records.objectives) < 2:
        return None
    x, y = records.objectives[1].metric, records.objectives[0].metric
    pool = feasible_trials(records.trials, records.objectives, records.constraints)
    front = pareto_trials(records.trials, records.objectives, records.constraints)
    return ParetoView(x, y, [(t.metrics[x], t.metrics[y]) for t in pool],
                      sorted((t.metrics[x], t.metrics[y]) for t in front))


def trial_rows(trials: Sequence[Trial]) -> tuple[list[str], list[list[Any]]]:
    """Header and rows: trial, arch, status, one column per metric, error."""
    metrics = sorted({k for t in trials for k in t.metrics})
    header = ["trial", "arch", "status", *metrics, "error"]
    rows = [[t.number, t.arch.key, t.status, *(t.metrics.get(m, "") for m in metrics), t.error or ""]
            for t in trials]
    return header, rows
