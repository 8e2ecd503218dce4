"""Local search with random restarts (White et al. 2020, "Local Search is State of the Art for
Neural Architecture Search Benchmarks").

Start from the best of ``n_init`` random architectures. Propose its one-edit neighbours
(``space.neighbours``) in random order; as soon as one scores better, move there and start on
its neighbours (first improvement). When every neighbour has been told and none is better,
the current architecture is a local optimum: restart from ``n_init`` fresh random ones.
Scores are the first objective (see :mod:`nasforge.strategy.scoring`).

Asynchronous use: while all neighbours of the current architecture are asked but some are not
told yet, asks are random architectures (which may become the new current one if they win).
"""

from __future__ import annotations

from typing import Any

from nasforge.space.arch import Arch
from nasforge.strategy.base import Metrics, Strategy, register_strategy
from nasforge.strategy.scoring import score


@register_strategy("local")
class LocalSearch(Strategy):
    """First-improvement hill climbing over one-edit neighbours, with random restarts."""

    def __init__(self, n_init: int = 10, restart_init: int = 1) -> None:
        self.n_init = n_init
        self.restart_init = restart_init

    def setup(self, *args: Any, **kwargs: Any) -> None:
        if self.n_init < 1 or self.restart_init < 1:
            raise ValueError(f"local: n_init and restart_init must be >= 1, got {self.n_init}, {self.restart_init}")
        super().setup(*args, **kwargs)
        self._init_left = self.n_init  # random asks before climbing (after a restart: restart_init)
        self._best: tuple[Arch, float] | None = None  # best since the last restart
        self._current: tuple[Arch, float] | None = None
        self._queue: list[Arch] = []
        self._told: set[str] = set()

    def ask(self) -> Arch | None:
        arch = self._next()
        if arch is not None:
            self.asked.add(arch.key)
        return arch

    def _next(self) -> Arch | None:
        if self._init_left > 0 or (self._current is None and self._best is None):
            self._init_left = max(0, self._init_left - 1)
            return self._random()
        if self._current is None:
            self._move(self._best)  # type: ignore[arg-type]
        while self._queue:
            arch = self._queue.pop()
            if arch.key not in self.asked:
                return arch
        if any(n.key not in self._told for n in self.space.neighbours(self._current[0])):  # type: ignore[index]
            return self._random()  # neighbours still running: explore meanwhile
        # A local optimum: restart.
        self._best = self._current = None
        self._init_left = self.restart_init - 1
        return self._random()

    def _random(self) -> Arch | None:
        return self._unique(lambda: self.space.sample(self.rng))

    def _move(self, to: tuple[Arch, float]) -> None:
        self._current = to
        order = self.rng.permutation(len(neighbours := self.space.neighbours(to[0])))
        self._queue = [neighbours[i] for i in order]

    def _observe(self, arch: Arch, metrics: Metrics) -> None:
        self._told.add(arch.key)
        value = score(metrics, self.objectives, self.constraints)
        if value is None:
            return
        if self._best is None or value > self._best[1]:
            self._best = (arch, value)
        if self._current is not None and value > self._current[1]:
            self._move((arch, value))
