"""The proxy-guided strategies: ``proxy-warmstart``, ``proxy-evolution``, ``proxy-local`` (see
:mod:`nasforge.strategy.guided` for the scorer contract)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from nasforge.space.arch import Arch
from nasforge.strategy.base import Metrics, Strategy, get_strategy, register_strategy
from nasforge.strategy.evolution import RegularizedEvolution
from nasforge.strategy.guided import Scorer, score_cache, top_of_pool
from nasforge.strategy.local_search import LocalSearch

DEFAULT_SCORER = "synflow"


def _check_sizes(name: str, pool_size: int, warm_start: int) -> None:
    if pool_size < 1 or not 0 <= warm_start <= pool_size:
        raise ValueError(f"{name}: need pool_size >= 1 and 0 <= warm_start <= pool_size, "
                         f"got {pool_size} and {warm_start}")


@register_strategy("proxy-warmstart")
class ProxyWarmStart(Strategy):
    """Seed any strategy's first queries with the top of a proxy-scored random pool.

    The first ``warm_start`` asks are the best ``warm_start`` of ``pool_size`` random archs by
    the scorer; then ``strategy`` (with ``strategy_settings``) proposes, having been told the
    warm-start results as if it had asked for them.
    """

    def __init__(self, strategy: str = "evolution", strategy_settings: Mapping[str, Any] | None = None,
                 scorer: str | Scorer = DEFAULT_SCORER, scorer_settings: Mapping[str, Any] | None = None,
                 pool_size: int = 256, warm_start: int = 16) -> None:
        self.strategy = strategy
        self.strategy_settings = strategy_settings
        self.scorer = scorer
        self.scorer_settings = scorer_settings
        self.pool_size = pool_size
        self.warm_start = warm_start

    def setup(self, space: Any, objectives: Any, constraints: Any = (), seed: int = 0,
              services: Any = None) -> None:
        _check_sizes("proxy-warmstart", self.pool_size, self.warm_start)
        super().setup(space, objectives, constraints, seed, services)
        self.inner = get_strategy(self.strategy, **dict(self.strategy_settings or {}))
        inner_seed = int(np.random.default_rng([seed, 1]).integers(2**31))
        self.inner.setup(space, objectives, constraints, inner_seed, services)
        self.scores = score_cache(self.scorer, self.scorer_settings, self.services, "strategy proxy-warmstart")
        self._queue: list[Arch] | None = None

    def ask(self) -> Arch | None:
        if self._queue is None:
            self._queue = top_of_pool(self.space, self.scores, self.rng, self.pool_size,
                                      self.warm_start, set(self.asked))
        while self._queue:
            arch = self._queue.pop(0)
            if arch.key not in self.asked:
                self.asked.add(arch.key)
                self.inner.asked.add(arch.key)
                return arch
        arch = self.inner.ask()
        if arch is not None:
            self.asked.add(arch.key)
        return arch

    def _observe(self, arch: Arch, metrics: Metrics) -> None:
        self.inner.tell(arch, metrics)


@register_strategy("proxy-evolution")
class ProxyGuidedEvolution(RegularizedEvolution):
    """Regularized evolution with a proxy-picked first population and proxy pre-screening.

    The first ``warm_start`` asks (default: the population size) are the top of a
    ``pool_size`` random pool by the scorer. Each later ask mutates the tournament winner into
    up to ``candidates`` distinct unasked mutants and proposes the best-scored one.
    """

    def __init__(self, population_size: int = 16, sample_size: int = 4,
                 scorer: str | Scorer = DEFAULT_SCORER, scorer_settings: Mapping[str, Any] | None = None,
                 pool_size: int = 256, warm_start: int | None = None, candidates: int = 8) -> None:
        super().__init__(population_size, sample_size)
        self.scorer = scorer
        self.scorer_settings = scorer_settings
        self.pool_size = pool_size
        self.warm_start = warm_start
        self.candidates = candidates

    def setup(self, space: Any, objectives: Any, constraints: Any = (), seed: int = 0,
              services: Any = None) -> None:
        warm = self.population_size if self.warm_start is None else self.warm_start
        _check_sizes("proxy-evolution", self.pool_size, warm)
        if self.candidates < 1:
            raise ValueError(f"proxy-evolution: candidates must be >= 1, got {self.candidates}")
        super().setup(space, objectives, constraints, seed, services)
        self.scores = score_cache(self.scorer, self.scorer_settings, self.services, "strategy proxy-evolution")
        self._warm = warm
        self._queue: list[Arch] | None = None

    def _propose(self) -> Arch:
        if self._queue is None:
            self._queue = top_of_pool(self.space, self.scores, self.rng, self.pool_size,
                                      self._warm, set(self.asked))
        while self._queue:
            arch = self._queue.pop(0)
            if arch.key not in self.asked:
                return arch
        if len(self.population) < self.population_size:
            return self.space.sample(self.rng)
        parent = self._tournament_winner()
        mutants: dict[str, Arch] = {}
        for _ in range(4 * self.candidates):
            if len(mutants) >= self.candidates:
                break
            child = self.space.mutate(parent, self.rng)
            if child.key not in self.asked:
                mutants.setdefault(child.key, child)
        if not mutants:
            return self.space.mutate(parent, self.rng)  # ask() falls back to sampling
        return self.scores.best_first(list(mutants.values()))[0]


@register_strategy("proxy-local")
class ProxyGuidedLocalSearch(LocalSearch):
    """Local search whose start is the top of a proxy-scored pool and whose neighbours are
    evaluated best-scored first (pre-screening: the proxy orders, the evaluation decides).

    The first ``n_init`` asks are the best ``n_init`` of ``pool_size`` random archs by the
    scorer (restarts likewise take the best of a fresh pool of ``pool_size``).
    """

    def __init__(self, n_init: int = 10, restart_init: int = 1, scorer: str | Scorer = DEFAULT_SCORER,
                 scorer_settings: Mapping[str, Any] | None = None, pool_size: int = 256) -> None:
        super().__init__(n_init, restart_init)
        self.scorer = scorer
        self.scorer_settings = scorer_settings
        self.pool_size = pool_size

    def setup(self, space: Any, objectives: Any, constraints: Any = (), seed: int = 0,
              services: Any = None) -> None:
        _check_sizes("proxy-local", self.pool_size, min(self.n_init, self.pool_size))
        super().setup(space, objectives, constraints, seed, services)
        self.scores = score_cache(self.scorer, self.scorer_settings, self.services, "strategy proxy-local")
        self._starts: list[Arch] = []

    def _random(self) -> Arch | None:
        while True:
            if not self._starts:
                top = self.n_init if not self.history else self.restart_init
                self._starts = top_of_pool(self.space, self.scores, self.rng, self.pool_size, top,
                                           set(self.asked))
                if not self._starts:
                    return super()._random()
            arch = self._starts.pop(0)
            if arch.key not in self.asked:
                return arch

    def _move(self, to: tuple[Arch, float]) -> None:
        self._current = to
        ranked = self.scores.best_first(self.space.neighbours(to[0]))
        self._queue = ranked[::-1]  # popped from the end: best-scored first
