"""Trial: the frozen record of one evaluation, as stored."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from nasforge.space.arch import Arch

RUNNING = "running"
COMPLETE = "complete"
FAILED = "failed"
INFEASIBLE = "infeasible"
CACHED = "cached"  # a repeated proposal answered from an earlier trial: free, not counted

FINISHED = (COMPLETE, FAILED, INFEASIBLE)


@dataclass(frozen=True)
class Trial:
    """One row of a run's storage.

    ``asked_seq`` / ``told_seq`` place the trial's ask and tell in the run's event order, which
    is what a resume replays into a fresh strategy. ``attempt`` counts evaluations of the trial
    (a resumed or retried one has more than one).
    """

    number: int
    arch: Arch
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

    @property
    def finished_ok(self) -> bool:
        return self.status == COMPLETE

    @property
    def counts_for_budget(self) -> bool:
        return self.status in FINISHED

    def strategy_view(self) -> Mapping[str, float] | None:
        """What a strategy is told: the metrics, or ``None`` for a failed trial."""
        return None if self.status == FAILED else dict(self.metrics)
