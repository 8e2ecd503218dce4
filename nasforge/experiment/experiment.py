"""Experiment: the one search loop, ``ask -> evaluate -> tell -> store``.

The loop is asynchronous: whenever the executor has a free slot it asks the strategy for an
architecture; whenever an evaluation ends, the result is stored (committed) and then told.
The storage is the source of truth: :meth:`Experiment.run` on a storage that already holds
trials first replays every stored ask and tell into the (fresh) strategy, re-submits trials
that were running when the previous process died, and goes on to the budget. No finished
trial is evaluated twice.

A failed evaluation (an exception, NaN metrics, a timeout, a dead worker) is evaluated again, up
to ``retries`` times, as the same trial (same number, ``attempt`` + 1); each failed attempt is
kept in the storage's ``attempts`` table. The strategy is told once per trial, its final
outcome, so retries leave the replayed event order unchanged; a resume counts the failed
attempts already stored against ``retries``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from nasforge.core.objectives import Constraint, Objective, check_objectives
from nasforge.core.records import CACHED, COMPLETE, FAILED, INFEASIBLE, RUNNING, EvalResult, Trial
from nasforge.core.services import Services
from nasforge.estimate.base import Evaluator
from nasforge.experiment.budget import Budget
from nasforge.experiment.clock import Clock
from nasforge.experiment.executors import Executor, SerialExecutor, failure_reason
from nasforge.experiment.storage import Storage, iter_events
from nasforge.space.arch import Arch
from nasforge.space.space import Space
from nasforge.strategy.base import Strategy
from nasforge.strategy.guided import ScoreCache

log = logging.getLogger(__name__)

Callback = Callable[["Experiment", Trial], None]

_MAX_REPEATS = 1000  # consecutive cached repeats before the loop gives up on a strategy


@dataclass
class Experiment:
    """Runs ``strategy`` x ``evaluator`` on ``space`` under objectives, constraints and a budget."""

    space: Space
    strategy: Strategy
    evaluator: Evaluator
    storage: Storage
    objectives: Sequence[Objective]
    budget: Budget
    constraints: Sequence[Constraint] = ()
    seed: int = 0
    executor: Executor = field(default_factory=SerialExecutor)
    callbacks: list[Callback] = field(default_factory=list)
    retries: int = 0
    services: Services | None = None
    #: consecutive repeated proposals (answered free) before the loop stops a stuck strategy
    max_repeats: int = _MAX_REPEATS
    #: what the time budget counts: ``wall``, ``cpu`` or ``simulated`` (:mod:`nasforge.experiment.clock`)
    clock: str = "wall"

    def __post_init__(self) -> None:
        check_objectives(self.objectives)
        if not isinstance(self.retries, int) or self.retries < 0:
            raise ValueError(f"retries must be an integer >= 0, got {self.retries!r}")
        self._failures: dict[int, int] = {}  # trial number -> failed attempts so far
        self._queued: list[int] = []  # trials to (re)submit as slots free up
        self.strategy.setup(self.space, self.objectives, self.constraints, self.seed, self.services)
        scores = getattr(self.strategy, "scores", None)
        if isinstance(scores, ScoreCache):  # proxy scores live in the run: computed once, resumed
            scores.attach(self.storage.score_store(scores.name))
        self._done: dict[str, Trial] = {}
        self._counted = 0
        self._clock = Clock(self.clock, float(self.storage.get_meta("elapsed_seconds", 0.0)),
                            in_process=self.executor.in_process)
        self.exhausted = False

    # ------------------------------------------------------------------ clock
    def elapsed(self) -> float:
        """Seconds on the run's clock so far, over every session of this run."""
        return self._clock.now()

    def counted(self) -> int:
        """Trials that count towards the budget."""
        return self._counted

    # ------------------------------------------------------------------- loop
    def run(self) -> list[Trial]:
        """Run (or resume) to the budget; returns all trials."""
        resubmit = self._replay()
        self.executor.start(self.evaluator)
        archs: dict[int, Arch] = {}
        try:
            for trial in resubmit:
                self.storage.restart_trial(trial.number)
                archs[trial.number] = trial.arch
                self._queued.append(trial.number)
            while True:
                while self._queued and self.executor.free_slots() > 0:  # resumed and retried trials first
                    number = self._queued.pop(0)
                    self.executor.submit(number, archs[number])
                self._fill(archs)
                if self.executor.running() == 0:
                    break
                for number, result in self.executor.wait():
                    if not self._retried(number, archs[number], result):
                        self._finish(number, archs.pop(number), result)
        finally:
            self.executor.close()
            self.storage.set_meta("elapsed_seconds", self.elapsed())
        return self.trials()

    def trials(self) -> list[Trial]:
        return self.storage.trials(self.space.parse)

    def _may_ask(self) -> bool:
        if self.exhausted:
            return False
        in_flight = self.executor.running() + len(self._queued)
        return (self.budget.trials_left(self._counted + in_flight) > 0
                and self.budget.time_left(self.elapsed()) > 0)

    def _fill(self, archs: dict[int, Arch]) -> None:
        repeats = 0
        while self.executor.free_slots() > 0 and self._may_ask():
            arch = self.strategy.ask()
            if arch is None:
                self.exhausted = True
                log.info("strategy has nothing left to propose; stopping early")
                return
            earlier = self._done.get(arch.key)
            if earlier is not None or arch.key in {a.key for a in archs.values()}:
                repeats += 1
                if repeats > self.max_repeats:
                    self.exhausted = True
                    return
                self._answer_repeat(arch, earlier)
                continue
            number = self.storage.add_trial(arch)
            archs[number] = arch
            self.executor.submit(number, arch)

    def _answer_repeat(self, arch: Arch, earlier: Trial | None) -> None:
        """A repeated proposal is answered from the earlier trial: free and not counted."""
        metrics = dict(earlier.metrics) if earlier is not None else {}
        status_error = None if earlier is not None else "repeat of a running trial"
        self.storage.add_trial(arch, status=CACHED, metrics=metrics, error=status_error)
        self.strategy.tell(arch, metrics if earlier is not None and earlier.status != "failed" else None)

    def _retried(self, number: int, arch: Arch, result: EvalResult) -> bool:
        """Submit a failed trial again if it has retries (and search time) left."""
        reason = failure_reason(result)
        failures = self._failures.get(number, 0)
        if reason is None or failures >= self.retries or self.budget.time_left(self.elapsed()) <= 0:
            return False
        self._clock.record(result)  # a retried attempt was spent all the same
        self.storage.retry_trial(number, result.status, reason, result.error, result.cost_seconds)
        self._failures[number] = failures + 1
        log.warning("trial %d (%s) failed (%s): %s; retry %d of %d", number, arch.key, reason, result.error,
                    failures + 1, self.retries)
        self._queued.append(number)
        return True

    def _finish(self, number: int, arch: Arch, result: EvalResult) -> None:
        self._clock.record(result)
        counted = self._counted + 1
        info = dict(result.info)
        reason = failure_reason(result)
        if reason is not None:
            info["reason"] = reason
        now = self.elapsed()
        self.storage.finish_trial(
            number, result.status, dict(result.metrics), result.error, result.cost_seconds,
            info, meta={"elapsed_seconds": now, "counted": counted}, clock=now)
        self._counted = counted
        trial = Trial(number, arch, result.status, dict(result.metrics), result.error, result.cost_seconds,
                      info=info, clock=now)
        self._done[arch.key] = trial
        self.strategy.tell(arch, trial.strategy_view())
        if result.status != COMPLETE:
            # infeasible is routine in a constrained search; a failure deserves attention
            level = logging.INFO if result.status == INFEASIBLE else logging.WARNING
            log.log(level, "trial %d (%s) %s: %s", number, arch.key, result.status, result.error)
        for callback in self.callbacks:
            callback(self, trial)

    def _replay(self) -> list[Trial]:
        """Replay stored asks/tells into the strategy; returns trials to evaluate again."""
        trials = self.trials()
        for attempt in self.storage.attempts():
            if attempt["status"] == FAILED:
                self._failures[attempt["number"]] = self._failures.get(attempt["number"], 0) + 1
        for _seq, kind, trial in iter_events(trials):
            if kind == "ask":
                asked = self.strategy.ask()
                if asked is None or asked.key != trial.arch.key:
                    log.warning("replay: strategy proposed %s where the run had %s; continuing with the stored "
                                "trial", None if asked is None else asked.key, trial.arch.key)
                    self.strategy.asked.add(trial.arch.key)
            else:
                self.strategy.tell(trial.arch, trial.strategy_view())
                if trial.status != CACHED:
                    self._done[trial.arch.key] = trial
                    self._counted += 1
        return [t for t in trials if t.status == RUNNING]
