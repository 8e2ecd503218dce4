"""ASHA, asynchronous successive halving (Li et al. 2020, "A System for Massively Parallel
Hyperparameter Tuning"), over the fidelity decision of the space
(:mod:`nasforge.strategy.fidelity`).

Each ask promotes, from the highest rung down, a config that is in the top ``1/eta`` of the
results so far at its rung and has not been promoted yet; if there is none, it starts a new
config at the lowest rung. No rung ever waits for stragglers, so workers are never idle.
"""

from __future__ import annotations

from nasforge.space.arch import Arch
from nasforge.strategy.base import register_strategy
from nasforge.strategy.fidelity import FidelityStrategy


@register_strategy("asha")
class ASHA(FidelityStrategy):
    """Asynchronous promotions of the top ``1/eta`` at each rung."""

    def __init__(self, eta: int = 3) -> None:
        self.eta = eta

    def setup(self, *args, **kwargs) -> None:
        super().setup(*args, **kwargs)
        self.told_at: list[list[str]] = [[] for _ in self.rungs]  # configs with a result, per rung
        self.promoted: set[tuple[str, int]] = set()
        self._told: set[tuple[str, int]] = set()

    def ask(self) -> Arch | None:
        for rung in range(len(self.rungs) - 2, -1, -1):
            done = self.told_at[rung]
            for config in self.best_configs(done, rung, int(len(done) // self.eta)):
                if (config, rung) not in self.promoted:
                    self.promoted.add((config, rung))
                    return self._emit(config, rung + 1)
        config = self.new_config()
        return None if config is None else self._emit(config.key, 0)

    def _on_result(self, config: str, rung: int) -> None:
        if config in self.configs and (config, rung) not in self._told:
            self._told.add((config, rung))
            self.told_at[rung].append(config)
