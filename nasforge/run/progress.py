"""A Rich progress display for a run: one row per phase, as the run reaches it.

Rows: ``loading data``, ``setting up``, ``epochs`` (one-shot methods), ``search`` (trials done,
best so far, failures, time budget left), ``final retraining`` (epochs), ``ONNX export``,
``report``. Trials and epochs arrive through the experiment's callbacks; the other phases are
announced by the run through :mod:`nasforge.run.phases`. Each row keeps its own elapsed time,
and a finished phase stays on screen, so nothing sits frozen between the last trial and the end.

The display starts with the first phase; a run refused before that shows only its error, and so
does a run refused after loading its data (the display is erased when the run ends with an error
before its first trial or epoch). Once trials have run, the display stays, whatever the ending.
"""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.progress import BarColumn, Progress, TaskID, TextColumn, TimeElapsedColumn

from nasforge.core.records import COMPLETE, Trial
from nasforge.experiment.experiment import Experiment
from nasforge.run.phases import listening

#: the unit a phase's steps are counted in, when it has countable steps
UNITS = {"final retraining": "epochs", "epochs": "epochs", "search": "trials"}


class SearchProgress:
    """Use as a context manager; pass :meth:`callback` to the experiment and :meth:`epoch_callback`
    to a one-shot run. Inside the ``with`` block, :func:`nasforge.run.phases.phase` reaches it."""

    def __init__(self, total_trials: int | None, minutes: float | None, objective: str,
                 console: Console | None = None) -> None:
        self.total = total_trials
        self.minutes = minutes
        self.objective = objective
        self._best: float | None = None
        self._failed = 0
        self._progress = Progress(
            TextColumn("{task.fields[mark]}"), TextColumn("[bold]{task.description}"), BarColumn(),
            TextColumn("{task.fields[count]}"), TextColumn("{task.fields[info]}"), TimeElapsedColumn(),
            TextColumn("{task.fields[left]}"), console=console)
        self._rows: dict[str, TaskID] = {}
        self._current: str | None = None
        self._started = False
        self._listening: Any = None

    @classmethod
    def for_config(cls, config: Any, console: Console | None = None) -> SearchProgress:
        """The display for a run of ``config``: its trial budget (a one-shot method's inherited-weight
        trials), its time budget, its first objective."""
        from nasforge.run.runner import is_oneshot

        if is_oneshot(config):
            return cls(config.strategy_settings.get("search_trials", 50), None, config.objectives[0], console)
        return cls(config.budget.trials, config.budget.minutes, config.objectives[0], console)

    @property
    def console(self) -> Console:
        """The console the display draws on."""
        return self._progress.console

    # ------------------------------------------------------------------ context
    def __enter__(self) -> SearchProgress:
        self._listening = listening(self.phase)
        self._listening.__enter__()
        return self  # the display starts with the first phase: a refused run shows no bar

    def __exit__(self, exc_type: Any, *rest: Any) -> None:
        self._listening.__exit__(exc_type, *rest)
        if self._started:
            if exc_type is None:
                self._finish_current()
            elif not ({"search", "epochs"} & set(self._rows)):  # refused: the error is what to see
                self._progress.live.transient = True
            self._progress.stop()

    # ------------------------------------------------------------------ phases
    def phase(self, name: str, done: int = 0, total: int | None = None, **fields: str) -> None:
        """Show phase ``name`` at step ``done`` of ``total`` (None: no countable steps); a new
        phase finishes the row of the one before."""
        if not self._started:
            self._started = True
            self._progress.start()
        if name != self._current:
            self._finish_current()
            self._current = name
            if name not in self._rows:
                self._rows[name] = self._progress.add_task(name, total=total, mark="…", count="", info="",
                                                           left="")
            else:  # a phase met again (each family member's export): its row starts over
                self._progress.reset(self._rows[name], total=total, mark="…", count="", info="", left="")
        unit = next((u for prefix, u in UNITS.items() if name.startswith(prefix)), "")
        count = (f"{done}/{total}" if total is not None else f"{done}" if unit else "") + (
            f" {unit}" if unit else "")
        self._progress.update(self._rows[name], completed=done, total=total, count=count, **fields)

    def _finish_current(self) -> None:
        """Mark the current phase done: its clock stops, a phase without steps shows a full bar
        (a search cut short by its time budget keeps its count, e.g. 41/60)."""
        if self._current is None:
            return
        row = self._rows[self._current]
        if next(t for t in self._progress.tasks if t.id == row).total is None:
            self._progress.update(row, total=1, completed=1)
        self._progress.update(row, mark="[green]✓")
        self._progress.stop_task(row)
        self._current = None

    # ------------------------------------------------------------------ callbacks
    def epoch_callback(self, record: object, total: int) -> None:
        """One-shot runs: update after each trained epoch (the trials follow)."""
        loss = getattr(record, "train_loss", float("nan"))
        self.phase("epochs", int(getattr(record, "epoch", 0)), total, info=f"train loss {loss:.4g}")

    def _left(self, elapsed: float) -> str:
        if self.minutes is None:
            return ""
        left = max(0.0, self.minutes * 60 - elapsed)
        return f"budget left {int(left // 60)}:{int(left % 60):02d}"

    def callback(self, experiment: Experiment, trial: Trial) -> None:
        """Experiment callback: update after each finished trial."""
        obj = experiment.objectives[0]
        if trial.status == COMPLETE and obj.metric in trial.metrics and all(
                c.satisfied(trial.metrics) for c in experiment.constraints):
            v = float(trial.metrics[obj.metric])
            if self._best is None or obj.better(v, self._best):
                self._best = v
        elif trial.status != COMPLETE:
            self._failed += 1
        best = f"best {self.objective.split(':')[0]} {self._best:.4g}" if self._best is not None else "best: -"
        failed = f"  [red]{self._failed} failed/infeasible" if self._failed else ""
        self.phase("search", experiment.counted(), self.total, info=best + failed,
                   left=self._left(experiment.elapsed()))


def time_budget_note(config: Any, trials: list[Trial]) -> str | None:
    """``"stopped by the time budget after N of M trials"`` when the run's time budget ended its
    search before its trial budget (None otherwise, e.g. after all its trials, or when the
    strategy had nothing left to propose). The loop asks for a trial only while time is left,
    so the search was cut by time exactly when its last counted trial ended past the budget."""
    budget = config.budget
    if budget.minutes is None:
        return None
    counted = [t for t in trials if t.counts_for_budget]
    if budget.trials is not None and len(counted) >= budget.trials:
        return None
    ended = max((t.clock for t in counted if t.clock is not None), default=0.0)
    if ended < budget.minutes * 60:
        return None
    of = f" of {budget.trials}" if budget.trials is not None else ""
    return (f"stopped by the time budget after {len(counted)}{of} trials (budget.minutes {budget.minutes:g} on the "
            f"{config.clock} clock); for more, raise budget.minutes in the run's config.yaml and resume it")
