"""Shared machinery of the multi-fidelity strategies (successive halving, Hyperband, ASHA).

The fidelity is a decision of the space (see :class:`~nasforge.space.joint.JointSpace`): a space
with a ``fidelity`` attribute naming one of its decisions, whose options in order are the rungs
(e.g. ``epochs`` in ``(1, 3, 9)``). A *config* is an arch with its fidelity decision set to the
lowest rung; evaluating it at rung ``r`` is asking the same arch with the decision set to
``rungs[r]`` — a new key, so every promotion is its own stored trial at its fidelity. On a space
without a fidelity there is one rung and these strategies reduce to random search.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from nasforge.space.arch import Arch
from nasforge.strategy.base import _ENUMERATE_LIMIT, _PROPOSE_TRIES, Metrics, Strategy


class FidelityStrategy(Strategy):
    """Base of strategies that evaluate configs at increasing rungs of a fidelity decision."""

    def setup(self, *args: Any, **kwargs: Any) -> None:
        super().setup(*args, **kwargs)
        eta = getattr(self, "eta", 3)
        if not isinstance(eta, int | float) or eta <= 1:
            raise ValueError(f"{type(self).__name__}: eta must be > 1, got {eta!r}")
        self.fidelity: str | None = getattr(self.space, "fidelity", None)
        self.rungs: tuple[Any, ...] = (self.space.choice(self.fidelity).options if self.fidelity else (None,))
        self.configs: dict[str, Arch] = {}  # every config sampled so far (at rung 0), by key
        self.results: dict[tuple[str, int], Metrics] = {}  # (config key, rung) -> metrics
        self._exhausted = False

    # ---------------------------------------------------------------- helpers
    def at_rung(self, arch: Arch, rung: int) -> Arch:
        """``arch`` with its fidelity decision at ``rungs[rung]``."""
        if self.fidelity is None:
            return arch
        return self.space.arch({**arch.to_dict(), self.fidelity: self.rungs[rung]})

    def locate(self, arch: Arch) -> tuple[str, int]:
        """``(config key, rung index)`` of an asked arch."""
        if self.fidelity is None:
            return arch.key, 0
        return self.at_rung(arch, 0).key, self.rungs.index(arch[self.fidelity])

    def new_config(self) -> Arch | None:
        """A config never sampled before (at rung 0), or ``None`` when the space is used up."""
        if self._exhausted:
            return None
        for _ in range(2 * _PROPOSE_TRIES):
            arch = self.at_rung(self.space.sample(self.rng), 0)
            if arch.key not in self.configs:
                self.configs[arch.key] = arch
                return arch
        if self.space.size <= _ENUMERATE_LIMIT:
            unseen = sorted({a.key: a for a in (self.at_rung(x, 0) for x in self.space.enumerate(_ENUMERATE_LIMIT))
                             if a.key not in self.configs}.items())
            if unseen:
                arch = unseen[int(self.rng.integers(len(unseen)))][1]
                self.configs[arch.key] = arch
                return arch
            self._exhausted = True
            return None
        raise RuntimeError(f"{type(self).__name__}: could not find an unsampled configuration")

    def best_configs(self, configs: Sequence[str], rung: int, k: int) -> list[str]:
        """The ``k`` best of ``configs`` by their result at ``rung`` (failed ones never)."""
        told = [(c, self.results[(c, rung)]) for c in configs if self.results.get((c, rung)) is not None]
        if not told or k <= 0:
            return []
        order = self.best_first([(self.configs.get(c) or self.space.parse(c), m) for c, m in told])
        return [told[i][0] for i in order[:k]]

    def _emit(self, config: str, rung: int) -> Arch:
        arch = self.at_rung(self.configs.get(config) or self.space.parse(config), rung)
        self.asked.add(arch.key)
        return arch

    def _observe(self, arch: Arch, metrics: Metrics) -> None:
        config, rung = self.locate(arch)
        self.results[(config, rung)] = metrics
        self._on_result(config, rung)

    def _on_result(self, config: str, rung: int) -> None:
        """Hook for subclasses (bracket bookkeeping)."""
