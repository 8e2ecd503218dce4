"""Budgets: a number of trials and/or minutes of search time."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Budget:
    """Stop asking after ``trials`` counted trials or ``minutes`` of search time, whichever first.

    Counted trials are finished ones (complete, failed, infeasible); cached repeats are free.
    At least one of the two must be set.
    """

    trials: int | None = None
    minutes: float | None = None

    def __post_init__(self) -> None:
        if self.trials is None and self.minutes is None:
            raise ValueError("budget: set trials, minutes or both")
        if self.trials is not None and self.trials < 1:
            raise ValueError(f"budget.trials must be >= 1, got {self.trials}")
        if self.minutes is not None and not self.minutes > 0:
            raise ValueError(f"budget.minutes must be > 0, got {self.minutes}")

    def trials_left(self, counted: int) -> float:
        return float("inf") if self.trials is None else self.trials - counted

    def time_left(self, elapsed_seconds: float) -> float:
        return float("inf") if self.minutes is None else self.minutes * 60.0 - elapsed_seconds
