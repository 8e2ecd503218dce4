"""The frozen records every layer shares: the status of a trial, the result of one evaluation
(:class:`EvalResult`) and a stored trial (:class:`Trial`).

Free of torch and of every other nasforge folder: an arch is any value with a ``key`` (in
practice :class:`nasforge.space.arch.Arch`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import Enum
from typing import Any


class Status(str, Enum):
    """Where a trial stands. Members compare equal to their strings (``Status.COMPLETE ==
    "complete"``), which is how they are stored."""

    RUNNING = "running"
    COMPLETE = "complete"
    FAILED = "failed"
    INFEASIBLE = "infeasible"
    #: a repeated proposal answered from an earlier trial: free, not counted
    CACHED = "cached"

    def __str__(self) -> str:
        return self.value

    def __format__(self, spec: str) -> str:
        return format(self.value, spec)


RUNNING = Status.RUNNING.value
COMPLETE = Status.COMPLETE.value
FAILED = Status.FAILED.value
INFEASIBLE = Status.INFEASIBLE.value
CACHED = Status.CACHED.value

#: statuses that count towards a trial budget
FINISHED = (COMPLETE, FAILED, INFEASIBLE)


@dataclass(frozen=True)
class EvalResult:
    """Metrics of one evaluation.

    ``cost_seconds`` is what the evaluation cost: real seconds for training, the benchmark's
    recorded (simulated) time for a tabular lookup; a run's ``simulated`` clock adds these up.
    ``cpu_seconds`` is the CPU time of the process that evaluated (a ``cpu`` clock counts it
    for evaluations run in other processes).
    """

    metrics: Mapping[str, float] = field(default_factory=dict)
    status: str = COMPLETE
    error: str | None = None
    cost_seconds: float = 0.0
    info: Mapping[str, Any] = field(default_factory=dict)
    cpu_seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return self.status == COMPLETE


@dataclass(frozen=True)
class Trial:
    """One row of a run's storage.

    ``asked_seq`` / ``told_seq`` place the trial's ask and tell in the run's event order, which
    is what a resume replays into a fresh strategy. ``attempt`` counts evaluations of the trial
    (a resumed or retried one has more than one). ``clock`` is the run's clock reading (seconds
    of the run's clock: wall, CPU or simulated) when the trial finished.
    """

    number: int
    arch: Any
    status: str
    metrics: Mapping[str, float] = field(default_factory=dict)
    error: str | None = None
    cost_seconds: float = 0.0
    started: float | None = None
    finished: float | None = None
    asked_seq: int = 0
    told_seq: int | None = None
    attempt: int = 1
    info: Mapping[str, Any] = field(default_factory=dict)
    clock: float | None = None

    @property
    def finished_ok(self) -> bool:
        return self.status == COMPLETE

    @property
    def counts_for_budget(self) -> bool:
        return self.status in FINISHED

    def strategy_view(self) -> Mapping[str, float] | None:
        """What a strategy is told: the metrics, or ``None`` for a failed trial."""
        return None if self.status == FAILED else dict(self.metrics)
