"""The clock of a run: what its time budget and every trial's ``clock`` reading count.

- ``wall``: elapsed real time (``time.perf_counter``);
- ``cpu``: CPU seconds: this process's (``time.process_time``, which covers evaluations run in
  it) plus the CPU seconds that evaluations run in other processes report (worker processes,
  Ray actors), so a budget means the same compute on a loaded machine;
- ``simulated``: the sum of what evaluations report as their cost (``cost_seconds``): real
  training seconds for training, a tabular benchmark's ``simulated_seconds`` per query, so a
  budget in minutes means the same thing on a table as on real training.

A run's clock continues across sessions: ``before`` is what earlier sessions used.
"""

from __future__ import annotations

import time

from nasforge.core.records import EvalResult

CLOCKS = ("wall", "cpu", "simulated")


class Clock:
    """Seconds of one run on the clock ``kind`` (see the module docstring)."""

    def __init__(self, kind: str = "wall", before: float = 0.0, in_process: bool = True) -> None:
        if kind not in CLOCKS:
            raise ValueError(f"clock must be one of {', '.join(CLOCKS)}, got {kind!r}")
        self.kind = kind
        self.before = float(before)
        self.in_process = in_process
        self._wall0 = time.perf_counter()
        self._cpu0 = time.process_time()
        self._reported = 0.0

    def record(self, result: EvalResult) -> None:
        """Count one finished evaluation (attempts that are retried count too: they were spent)."""
        if self.kind == "simulated":
            self._reported += float(result.cost_seconds)
        elif self.kind == "cpu" and not self.in_process:
            self._reported += float(result.cpu_seconds)

    def now(self) -> float:
        """Seconds on this clock over every session of the run."""
        if self.kind == "wall":
            return self.before + time.perf_counter() - self._wall0
        if self.kind == "cpu":
            return self.before + time.process_time() - self._cpu0 + self._reported
        return self.before + self._reported
