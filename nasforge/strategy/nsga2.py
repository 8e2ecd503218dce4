"""NSGA-II (Deb et al. 2002, "A Fast and Elitist Multiobjective Genetic Algorithm: NSGA-II").

Generational, with asynchronous asks: the first ``population_size`` asks are random. After
that each ask breeds a child from the current population: two binary tournaments (lower
non-dominated front wins, then larger crowding distance), uniform crossover of the parents'
decisions with probability ``crossover``, then each decision mutates with probability
``1 / decisions`` (at least one edit if the child equals a parent). Whenever
``population_size`` children have been told, parents and children are merged and the best
``population_size`` survive by non-dominated sorting and crowding distance (pymoo, through
:func:`nasforge.experiment.pareto.rank_order`, which also applies Deb's constrained domination).
"""

from __future__ import annotations

from typing import Any

from nasforge.space.arch import Arch
from nasforge.strategy.base import Metrics, Strategy, register_strategy


@register_strategy("nsga2")
class NSGA2(Strategy):
    """Non-dominated sorting genetic algorithm II over the space's decisions."""

    def __init__(self, population_size: int = 20, crossover: float = 0.9) -> None:
        self.population_size = population_size
        self.crossover = crossover

    def setup(self, *args: Any, **kwargs: Any) -> None:
        if self.population_size < 2:
            raise ValueError(f"nsga2: population_size must be >= 2, got {self.population_size}")
        super().setup(*args, **kwargs)
        self.population: list[tuple[Arch, Metrics]] = []
        self._children: list[tuple[Arch, Metrics]] = []
        self._rank: dict[str, int] = {}  # arch key -> position in the population's order

    def _propose(self) -> Arch:
        if len(self.population) < self.population_size:
            return self.space.sample(self.rng)
        a, b = self._tournament(), self._tournament()
        values = dict(a)
        if self.rng.random() < self.crossover:
            values = {n: (a[n] if self.rng.random() < 0.5 else b[n]) for n in values}
        rate = 1.0 / len(self.space.choices)
        for c in self.space.choices:
            if self.rng.random() < rate:
                values[c.name] = c.options[int(self.rng.integers(len(c)))]
        try:
            child = self.space.arch(values)
        except ValueError:  # an illegal combination: fall back to mutating a parent
            child = a
        if child.key in (a.key, b.key):
            child = self.space.mutate(child, self.rng)
        return child

    def _tournament(self) -> Arch:
        i, j = self.rng.choice(len(self.population), size=2, replace=False)
        first, second = self.population[int(i)][0], self.population[int(j)][0]
        return first if self._rank[first.key] <= self._rank[second.key] else second

    def _observe(self, arch: Arch, metrics: Metrics) -> None:
        if len(self.population) < self.population_size:
            self.population.append((arch, metrics))
            if len(self.population) == self.population_size:
                self._survive([])
            return
        self._children.append((arch, metrics))
        if len(self._children) >= self.population_size:
            self._survive(self._children)
            self._children = []

    def _survive(self, children: list[tuple[Arch, Metrics]]) -> None:
        merged = self.population + children
        order = self.best_first(merged)[: self.population_size]
        self.population = [merged[i] for i in order]
        self._rank = {arch.key: r for r, (arch, _) in enumerate(self.population)}
