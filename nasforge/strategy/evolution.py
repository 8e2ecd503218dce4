"""Regularized (aging) evolution (Real et al. 2019, "Regularized Evolution for Image
Classifier Architecture Search").

The population is the ``population_size`` most recently told results. Until it is full, asks
are random. Then each ask runs a tournament: ``sample_size`` members drawn uniformly, the best
(by constrained Pareto rank and crowding, which is plain "highest metric" for one objective)
is mutated by one edit. Oldest members leave as new results arrive. Asynchronous by nature:
asks do not wait for outstanding results.
"""

from __future__ import annotations

from collections import deque

from nasforge.space.arch import Arch
from nasforge.strategy.base import Metrics, Strategy, register_strategy


@register_strategy("evolution")
class RegularizedEvolution(Strategy):
    """Aging evolution with tournament selection and one-edit mutation."""

    def __init__(self, population_size: int = 16, sample_size: int = 4) -> None:
        self.population_size = population_size
        self.sample_size = sample_size

    def setup(self, *args, **kwargs) -> None:
        if self.population_size < 2 or not 1 <= self.sample_size <= self.population_size:
            raise ValueError(
                f"evolution: need population_size >= 2 and 1 <= sample_size <= population_size, "
                f"got {self.population_size} and {self.sample_size}"
            )
        super().setup(*args, **kwargs)
        self.population: deque[tuple[Arch, Metrics]] = deque(maxlen=self.population_size)

    def _propose(self) -> Arch:
        if len(self.population) < self.population_size:
            return self.space.sample(self.rng)
        return self.space.mutate(self._tournament_winner(), self.rng)

    def _tournament_winner(self) -> Arch:
        """The best of ``sample_size`` members drawn uniformly from the (full) population."""
        members = list(self.population)
        picks = self.rng.choice(len(members), size=self.sample_size, replace=False)
        contenders = [members[i] for i in picks]
        return contenders[self.best_first(contenders)[0]][0]

    def _observe(self, arch: Arch, metrics: Metrics) -> None:
        self.population.append((arch, metrics))
