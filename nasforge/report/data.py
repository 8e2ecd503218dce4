"""Pure functions from a run's stored records to small report dataclasses (no plotting here)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from nasforge.core.objectives import Constraint, Objective
from nasforge.core.records import COMPLETE, Trial
from nasforge.core.safe_yaml import safe_yaml
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
    epochs: list[dict[str, Any]] = field(default_factory=list)  # one-shot runs: the trained epochs
    family: list[dict[str, Any]] | None = None  # a constraint family (best/family.json)
    correlations: list[dict[str, str]] | None = None  # a supernet's ranking study (correlations.csv)
    meta: dict[str, Any] = field(default_factory=dict)  # the store's run facts (:data:`META_KEYS`)


#: the entries of the store's ``meta`` table a report reads (absent ones are left out)
META_KEYS = ("seed", "clock", "elapsed_seconds", "counted", "finished", "oneshot", "environment")


@dataclass(frozen=True)
class Trajectory:
    """A one-shot run's epochs: the training loss and, per decision, the probability of the
    option finally derived (empty for methods without architecture parameters)."""

    epoch: list[int]
    train_loss: list[float]
    derived: list[str]
    probability: dict[str, list[float]]


@dataclass(frozen=True)
class History:
    """Best-so-far of the first objective against counted trials (and the run's clock, in
    seconds, when each of them finished: ``None`` for runs stored before trials kept it)."""

    metric: str
    trial_index: list[int]
    value: list[float]
    best_so_far: list[float]
    clock: list[float | None] = field(default_factory=list)
    number: list[int] = field(default_factory=list)  # the trials' own numbers


@dataclass(frozen=True)
class ParetoView:
    """All feasible points and the front, on two objectives."""

    x_metric: str
    y_metric: str
    points: list[tuple[float, float]]
    front: list[tuple[float, float]]


def read_run(path: str | Path) -> RunRecords:
    """Load config, trials and the final summary of a run directory, changing no file in it.

    ``trials.db`` is opened read-only (so a run on a read-only disk, or one a search is writing,
    can be read). A damaged store, config or summary raises
    :class:`~nasforge.experiment.run_dir.RunDirError` naming the file.
    """
    path = Path(path)
    rd.check_run(path)
    config = _read_mapping(path / rd.CONFIG, safe_yaml, (yaml.YAMLError, ValueError))
    storage = Storage(path / rd.DB, read_only=True)
    try:
        trials = storage.trials()
        cost = storage.proxy_cost()
        epochs = storage.epochs()
        meta = {key: storage.get_meta(key) for key in META_KEYS}
    finally:
        storage.close()
    summary_path = path / rd.BEST / "summary.json"
    summary = _read_mapping(summary_path, json.loads, ValueError) if summary_path.is_file() else None
    try:
        objectives = [Objective.parse(t) for t in _texts(config, "objectives", required=True)]
        constraints = [Constraint.parse(t) for t in _texts(config, "constraints")]
    except ValueError as exc:
        raise rd.RunDirError(f"{path / rd.CONFIG}: {exc}") from None
    family_path = path / rd.BEST / "family.json"
    family = _read_list(family_path) if family_path.is_file() else None
    return RunRecords(path, config, trials, objectives, constraints, summary,
                      cost if cost["proxy_evaluations"] else {}, epochs, family, _read_correlations(path),
                      {key: value for key, value in meta.items() if value is not None})


def _read_list(path: Path) -> list[dict[str, Any]]:
    try:
        data = json.loads(path.read_text())
    except (ValueError, UnicodeDecodeError) as exc:
        raise rd.RunDirError(f"{path} cannot be read: {exc}") from None
    if not isinstance(data, list) or not all(isinstance(d, dict) for d in data):
        raise rd.RunDirError(f"{path} holds a {type(data).__name__}, not a list of records")
    return data


def _read_correlations(path: Path) -> list[dict[str, str]] | None:
    import csv

    file = path / "correlations.csv"
    if not file.is_file():
        return None
    with open(file, newline="", encoding="utf-8", errors="replace") as fh:
        return list(csv.DictReader(fh))


def trajectory(records: RunRecords) -> Trajectory | None:
    """The epochs of a one-shot run (``None`` for other runs)."""
    if not records.epochs:
        return None
    final = records.epochs[-1]
    chosen: dict[str, int] = {}
    for name, probs in dict(final.get("arch_weights") or {}).items():
        if probs:
            chosen[name] = max(range(len(probs)), key=lambda i: probs[i])
    probability = {name: [float((e.get("arch_weights") or {}).get(name, [float("nan")] * (i + 1))[i])
                          for e in records.epochs] for name, i in chosen.items()}
    return Trajectory([int(e["epoch"]) for e in records.epochs], [float(e["train_loss"]) for e in records.epochs],
                      [str(e.get("derived", "")) for e in records.epochs], probability)


def _read_mapping(path: Path, parse: Any, error: type[Exception]) -> dict[str, Any]:
    try:
        data = parse(path.read_text())
    except (error, UnicodeDecodeError) as exc:
        raise rd.RunDirError(f"{path} cannot be read: {exc}") from None
    if not isinstance(data, dict):
        raise rd.RunDirError(f"{path} holds a {type(data).__name__}, not a mapping of names to values")
    return data


def _texts(config: dict[str, Any], key: str, required: bool = False) -> list[str]:
    value = config.get(key) or []
    if (required and not value) or not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ValueError(f"{key} must be a list of texts such as 'val_accuracy:max' or 'params<=20000', "
                         f"got {value!r}")
    return value


def history(records: RunRecords) -> History:
    """Best-so-far of the first objective over counted trials (failed ones and lower-fidelity
    rungs keep the best: a rung's accuracy is not comparable with a fully trained one's)."""
    obj = records.objectives[0]
    index, values, best, clock, numbers = [], [], [], [], []
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
        clock.append(t.clock)
        numbers.append(t.number)
    return History(obj.metric, index, values, best, clock, numbers)


def pareto_view(records: RunRecords) -> ParetoView | None:
    """The first two objectives of feasible trials and of the front (None for one objective)."""
    if len(records.objectives) < 2:
        return None
    x, y = records.objectives[1].metric, records.objectives[0].metric
    pool = feasible_trials(records.trials, records.objectives, records.constraints)
    front = pareto_trials(records.trials, records.objectives, records.constraints)
    return ParetoView(x, y, [(t.metrics[x], t.metrics[y]) for t in pool],
                      sorted((t.metrics[x], t.metrics[y]) for t in front))
