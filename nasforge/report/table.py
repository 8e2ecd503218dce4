"""The trial table: one row per trial, one column per decision and per metric.

One function, :func:`trial_table`, builds the rows that ``nasforge show RUN --csv`` prints and
that ``to_dataframe()`` (on a :class:`~nasforge.run.runner.SearchResult` or a run read with
``nasforge.load_run``) turns into a pandas DataFrame. Columns, in order:

- ``trial`` (the trial's number), ``arch`` (its canonical key), ``status``;
- ``arch.<decision>`` for every decision of the space (in the space's order when the space is
  known, else in order of first appearance), the value the trial's architecture took;
- one column per metric any trial reports (objectives first, then the rest sorted by name);
  empty where a trial has no value (failed trials);
- ``cost_seconds`` (what the evaluation cost: real or simulated seconds), ``clock`` (the run's
  clock when it finished), ``error``;
- ``pareto`` and ``selected``: whether the trial is on the Pareto front of the run's objectives
  (feasible, full fidelity) and whether it is the one the run selects (as
  :mod:`nasforge.experiment.selection` decides).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from nasforge.core.objectives import Constraint, Objective
from nasforge.core.records import Trial
from nasforge.experiment.selection import pareto_trials, select_best

#: prefix of the decision columns (``arch.width``): a decision may share a metric's name
DECISION_PREFIX = "arch."
#: the columns after the metrics
TAIL = ("cost_seconds", "clock", "error", "pareto", "selected")


@dataclass(frozen=True)
class TrialTable:
    """Rows of trials under ``columns``; ``decisions`` and ``metrics`` name their column groups
    (decision names without the ``arch.`` prefix)."""

    columns: list[str]
    rows: list[list[Any]]
    decisions: list[str]
    metrics: list[str]

    def records(self) -> list[dict[str, Any]]:
        """The rows as ``{column: value}`` mappings."""
        return [dict(zip(self.columns, row, strict=True)) for row in self.rows]

    def to_dataframe(self) -> Any:
        """A pandas DataFrame of the table: metrics as floats (NaN where missing), ``trial`` as
        integers, ``pareto``/``selected`` as booleans, ``clock`` as float (NaN if unrecorded),
        ``error`` missing (NaN) where a trial has none. Needs pandas (``pip install 'nasforge[pandas]'``)."""
        pd = require_pandas()
        data: dict[str, list[Any]] = {c: [] for c in self.columns}
        for row in self.rows:
            for column, value in zip(self.columns, row, strict=True):
                data[column].append(value)
        frame = pd.DataFrame(data, columns=self.columns)
        for m in self.metrics:
            frame[m] = pd.to_numeric(frame[m].replace("", None), errors="coerce").astype(float)
        frame["clock"] = pd.to_numeric(frame["clock"].replace("", None), errors="coerce").astype(float)
        frame["cost_seconds"] = frame["cost_seconds"].astype(float)
        frame["trial"] = frame["trial"].astype("int64")
        frame["error"] = frame["error"].replace("", None)
        for flag in ("pareto", "selected"):
            frame[flag] = frame[flag].astype(bool)
        return frame


def require_pandas() -> Any:
    """The ``pandas`` module, or an ImportError saying how to install it."""
    try:
        import pandas
    except ImportError:
        raise ImportError("to_dataframe() needs pandas, which is not installed: pip install 'nasforge[pandas]'"
                          ) from None
    return pandas


def trial_table(trials: Sequence[Trial], objectives: Sequence[Objective] = (),
                constraints: Sequence[Constraint] = (), decisions: Sequence[str] | None = None) -> TrialTable:
    """The table of ``trials`` (see the module docstring). ``decisions``: the space's decision
    names in order (default: as the trials' architectures name them). Without ``objectives``
    no trial is marked ``pareto`` or ``selected``."""
    if decisions is None:
        decisions = list(dict.fromkeys(name for t in trials for name in _values(t)))
    metrics = metric_columns(trials, objectives)
    front: set[int] = set()
    best = None
    if objectives:
        front = {t.number for t in pareto_trials(trials, objectives, constraints)}
        chosen = select_best(trials, objectives, constraints)
        best = None if chosen is None else chosen.number
    columns = ["trial", "arch", "status", *(DECISION_PREFIX + d for d in decisions), *metrics, *TAIL]
    rows = []
    for t in trials:
        values = _values(t)
        rows.append([t.number, t.arch.key, str(t.status), *(values.get(d, "") for d in decisions),
                     *(t.metrics.get(m, "") for m in metrics), float(t.cost_seconds),
                     "" if t.clock is None else float(t.clock), t.error or "", t.number in front,
                     t.number == best])
    return TrialTable(columns, rows, list(decisions), metrics)


def metric_columns(trials: Sequence[Trial], objectives: Sequence[Objective] = ()) -> list[str]:
    """The metrics the trials report: the objectives' first (in their order), then the rest by name."""
    first = [o.metric for o in objectives]
    reported = {k for t in trials for k in t.metrics}
    return [m for m in dict.fromkeys(first) if m in reported] + sorted(reported - set(first))


def _values(trial: Trial) -> dict[str, Any]:
    arch = trial.arch
    return arch.to_dict() if hasattr(arch, "to_dict") else dict(arch)
