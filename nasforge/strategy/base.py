"""Strategy: proposes architectures and learns from results, through ``ask`` and ``tell``.

Lifecycle (the whole contract; implementations document only what differs):

1. ``s = SomeStrategy(**settings)`` stores its keyword arguments and nothing else
   (``get_params()`` returns them; ``type(s)(**s.get_params())`` is an equal strategy).
2. ``s.setup(space, objectives, constraints, seed, services)`` once, before anything else. All
   randomness flows from ``self.rng``, a ``numpy.random.Generator`` seeded here. ``services``
   (:class:`~nasforge.core.services.Services`) lends what needs torch or data: proxy scorers,
   performance predictors, cost models; a strategy that needs one and lacks it says so.
3. Any interleaving of ``arch = s.ask()`` and ``s.tell(arch, metrics)``: several asks may be
   outstanding (asynchronous parallel workers); results may come back in any order.
   ``metrics`` is the evaluation's metrics, or ``None`` for a failed evaluation. ``ask`` returns
   ``None`` when the space has nothing new left to propose.

A strategy never imports torch nor runs an evaluation. Its whole state is a function of the
seed and the sequence of ask/tell calls, so replaying a stored run's calls rebuilds it exactly
(this is how ``resume`` works). By default a strategy does not propose an architecture it has
already proposed.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from nasforge.core.objectives import Constraint, Objective
from nasforge.core.pareto import rank_order
from nasforge.core.registry import Registry
from nasforge.core.services import NO_SERVICES, Services
from nasforge.space.arch import Arch
from nasforge.space.space import Space

Metrics = Mapping[str, float] | None

_PROPOSE_TRIES = 50
_ENUMERATE_LIMIT = 200_000


class Strategy:
    """Base class of all strategies; see the module docstring for the lifecycle."""

    def get_params(self) -> dict[str, Any]:
        """The constructor's keyword arguments (scikit-learn's convention)."""
        names = [p for p in inspect.signature(type(self).__init__).parameters if p != "self"]
        return {name: getattr(self, name) for name in names}

    def setup(
        self,
        space: Space,
        objectives: Sequence[Objective],
        constraints: Sequence[Constraint] = (),
        seed: int = 0,
        services: Services | None = None,
    ) -> None:
        """Bind the space, objectives, constraints and services; seed the generator."""
        self.services = services or NO_SERVICES
        self.space = space
        self.objectives = tuple(objectives)
        self.constraints = tuple(constraints)
        self.seed = seed
        self.rng = np.random.default_rng(seed)
        self.asked: set[str] = set()
        self.history: list[tuple[Arch, Metrics]] = []

    def ask(self) -> Arch | None:
        """The next architecture to evaluate, or ``None`` when nothing new is left."""
        arch = self._unique(self._propose)
        if arch is not None:
            self.asked.add(arch.key)
        return arch

    def tell(self, arch: Arch, metrics: Metrics) -> None:
        """Learn from one result (``None`` = failed)."""
        self.history.append((arch, metrics))
        self._observe(arch, metrics)

    # --------------------------------------------------------- for implementations
    def _propose(self) -> Arch:
        """One candidate (may be a duplicate; :meth:`ask` retries and deduplicates)."""
        return self.space.sample(self.rng)

    def _observe(self, arch: Arch, metrics: Metrics) -> None:
        """Update the strategy's model with one result (default: nothing)."""

    def _unique(self, propose: Callable[[], Arch]) -> Arch | None:
        for _ in range(_PROPOSE_TRIES):
            arch = propose()
            if arch.key not in self.asked:
                return arch
        for _ in range(_PROPOSE_TRIES):  # fall back to uniform sampling
            arch = self.space.sample(self.rng)
            if arch.key not in self.asked:
                return arch
        if self.space.size <= _ENUMERATE_LIMIT:
            unseen = [a for a in self.space.enumerate(_ENUMERATE_LIMIT) if a.key not in self.asked]
            return unseen[int(self.rng.integers(len(unseen)))] if unseen else None
        raise RuntimeError(f"{type(self).__name__}: could not find an unevaluated architecture")

    def best_first(self, items: Sequence[tuple[Arch, Metrics]]) -> list[int]:
        """Indices of ``items`` ordered best first (constrained Pareto rank, then crowding)."""
        return [int(i) for i in rank_order([m for _, m in items], self.objectives, self.constraints)]


STRATEGIES: Registry[type[Strategy]] = Registry(
    "strategy",
    modules=("nasforge.strategy.random_search", "nasforge.strategy.evolution", "nasforge.strategy.tpe",
             "nasforge.strategy.proxy_search", "nasforge.strategy.hyperband", "nasforge.strategy.asha",
             "nasforge.strategy.local_search", "nasforge.strategy.bananas", "nasforge.strategy.nsga2", "nasforge.strategy.reinforce",
             "nasforge.strategy.fbnetv3", "nasforge.strategy.given"),
    prefixes={"optuna:": ("nasforge.strategy.optuna_sampler:resolve",
                          "optuna:SAMPLER (any Optuna sampler, e.g. optuna:GPSampler, optuna:NSGAIISampler, "
                          "or optuna:my_pkg.module:MySampler)")},
)
register_strategy = STRATEGIES.register


def get_strategy(name: str, **settings: Any) -> Strategy:
    """A new strategy ``name`` with ``settings``; unknown settings are named in the error."""
    return STRATEGIES.create(name, **settings)  # type: ignore[return-value]
