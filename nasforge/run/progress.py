"""A Rich progress display for a running search: trials done, best so far, time used/left."""

from __future__ import annotations

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from nasforge.core.records import COMPLETE, Trial
from nasforge.experiment.experiment import Experiment


class SearchProgress:
    """Use as a context manager and pass :meth:`callback` to the experiment."""

    def __init__(self, total_trials: int | None, minutes: float | None, objective: str) -> None:
        self.total = total_trials
        self.minutes = minutes
        self.objective = objective
        self._best: float | None = None
        self._failed = 0
        self._progress = Progress(
            TextColumn("[bold]search"), BarColumn(), MofNCompleteColumn(),
            TextColumn("{task.fields[best]}"), TextColumn("{task.fields[failed]}"),
            TimeElapsedColumn(), TextColumn("{task.fields[left]}"),
        )
        self._task = self._progress.add_task("search", total=total_trials, best="best: -", failed="",
                                             left=self._left(0.0))
        self._epochs: object = None
        self._started = False

    def epoch_callback(self, record: object, total: int) -> None:
        """One-shot runs: update after each trained epoch (the trials follow)."""
        self._start()
        if self._epochs is None:
            self._epochs = self._progress.add_task("epochs", total=total, best="", failed="", left="")
        loss = getattr(record, "train_loss", float("nan"))
        self._progress.update(self._epochs, completed=getattr(record, "epoch", 0), best=f"train loss {loss:.4g}")

    def __enter__(self) -> SearchProgress:
        return self  # the display starts with the first trial or epoch: a refused run shows no bar

    def __exit__(self, *_: object) -> None:
        if self._started:
            self._progress.stop()

    def _start(self) -> None:
        if not self._started:
            self._started = True
            self._progress.start()

    def _left(self, elapsed: float) -> str:
        if self.minutes is None:
            return ""
        left = max(0.0, self.minutes * 60 - elapsed)
        return f"budget left {int(left // 60)}:{int(left % 60):02d}"

    def callback(self, experiment: Experiment, trial: Trial) -> None:
        """Experiment callback: update after each finished trial."""
        self._start()
        obj = experiment.objectives[0]
        if trial.status == COMPLETE and obj.metric in trial.metrics and all(
                c.satisfied(trial.metrics) for c in experiment.constraints):
            v = float(trial.metrics[obj.metric])
            if self._best is None or obj.better(v, self._best):
                self._best = v
        elif trial.status != COMPLETE:
            self._failed += 1
        self._progress.update(
            self._task, completed=experiment.counted(),
            best=f"best {self.objective}: {self._best:.4g}" if self._best is not None else "best: -",
            failed=f"[red]{self._failed} failed/infeasible" if self._failed else "",
            left=self._left(experiment.elapsed()))
