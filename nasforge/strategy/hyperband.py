"""Successive halving (Jamieson & Talwalkar 2016, "Non-stochastic Best Arm Identification and
Hyperparameter Optimization") and Hyperband (Li et al. 2017, "Hyperband: A Novel Bandit-Based
Approach to Hyperparameter Optimization"), over the fidelity decision of the space
(:mod:`nasforge.strategy.fidelity`).

A bracket starts ``n`` new configs at some rung, waits for all their results, promotes the best
``1/eta`` of them to the next rung, and so on to the top rung. ``successive_halving`` runs
brackets that start at the lowest rung with ``n_initial`` configs (default ``eta**(rungs-1)``);
``hyperband`` cycles through its brackets ``s = s_max .. 0``: bracket ``s`` starts
``ceil((s_max + 1) / (s + 1) * eta**s)`` configs at rung ``s_max - s``. Brackets are synchronous
inside, but the strategy never blocks: while a bracket waits for results (several workers), the
next asks open the next bracket.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from nasforge.space.arch import Arch
from nasforge.strategy.base import register_strategy
from nasforge.strategy.fidelity import FidelityStrategy


@dataclass
class Bracket:
    """One synchronous bracket: ``sizes[i]`` configs at rung ``start + i``."""

    start: int
    sizes: list[int]
    level: int = 0
    members: list[list[str]] = field(default_factory=list)  # configs asked at each level
    queue: list[str] = field(default_factory=list)  # promotions waiting to be asked

    def done(self) -> bool:
        return self.level >= len(self.sizes)


class _Brackets(FidelityStrategy):
    def setup(self, *args, **kwargs) -> None:
        super().setup(*args, **kwargs)
        self.brackets: list[Bracket] = []
        self._owner: dict[str, Bracket] = {}
        self._count = 0

    def _next_bracket(self) -> Bracket:
        raise NotImplementedError

    def ask(self) -> Arch | None:
        for bracket in self.brackets:
            arch = self._job(bracket)
            if arch is not None:
                return arch
        if self._exhausted:
            return None
        bracket = self._next_bracket()
        self._count += 1
        self.brackets.append(bracket)
        arch = self._job(bracket)
        if arch is None and bracket in self.brackets:  # the space has no new config left
            self.brackets.remove(bracket)
        return arch

    def _job(self, b: Bracket) -> Arch | None:
        if b.done():
            return None
        while len(b.members) <= b.level:
            b.members.append([])
        if b.level == 0 and len(b.members[0]) < b.sizes[0]:
            config = self.new_config()
            if config is None:
                b.sizes[0] = len(b.members[0])  # the space is used up: a smaller bracket
                self._advance(b)
                return self._job(b) if not b.done() and b.queue else None
            b.members[0].append(config.key)
            self._owner[config.key] = b
            return self._emit(config.key, b.start)
        if b.queue:
            config = b.queue.pop(0)
            b.members[b.level].append(config)
            return self._emit(config, b.start + b.level)
        return None

    def _on_result(self, config: str, rung: int) -> None:
        b = self._owner.get(config)
        if b is not None and not b.done() and rung == b.start + b.level:
            self._advance(b)

    def _advance(self, b: Bracket) -> None:
        """Close the current level once every member has a result; queue the promotions."""
        if b.level >= len(b.members):
            return
        rung = b.start + b.level
        members = b.members[b.level]
        if len(members) < b.sizes[b.level] or b.queue or any((c, rung) not in self.results for c in members):
            return
        b.level += 1
        if b.done():
            self.brackets.remove(b)
            return
        b.queue = self.best_configs(members, rung, b.sizes[b.level])
        b.sizes[b.level] = len(b.queue)
        if not b.queue:  # nothing promotable (all failed)
            b.level = len(b.sizes)
            self.brackets.remove(b)


@register_strategy("successive_halving")
class SuccessiveHalving(_Brackets):
    """Repeated brackets of ``n_initial`` configs from the lowest rung, keeping the best ``1/eta``."""

    def __init__(self, eta: int = 3, n_initial: int | None = None) -> None:
        self.eta = eta
        self.n_initial = n_initial

    def _next_bracket(self) -> Bracket:
        levels = len(self.rungs)
        n = self.n_initial or round(self.eta ** (levels - 1))
        return Bracket(0, _halving(n, self.eta, levels))


@register_strategy("hyperband")
class Hyperband(_Brackets):
    """Hyperband's brackets ``s = s_max .. 0`` in turn, then again."""

    def __init__(self, eta: int = 3) -> None:
        self.eta = eta

    def _next_bracket(self) -> Bracket:
        s_max = len(self.rungs) - 1
        s = s_max - self._count % (s_max + 1)
        n = math.ceil((s_max + 1) / (s + 1) * self.eta**s)
        return Bracket(s_max - s, _halving(n, self.eta, s + 1))


def _halving(n: int, eta: float, levels: int) -> list[int]:
    """Configs per level: ``n, n/eta, n/eta^2, ...`` (at least one each)."""
    if n < 1:
        raise ValueError(f"a bracket needs at least one config, got n_initial={n}")
    return [max(1, math.floor(n / eta**i)) for i in range(levels)]
