"""A space's decisions as Optuna distributions and parameters, both ways.

Used by the Optuna adapter (:mod:`nasforge.strategy.optuna_sampler`) and by the export of a run
into an Optuna storage. Each decision becomes one Optuna parameter of the same name:

- a decision whose options are integers in arithmetic progression (``[8, 16, 24]``) becomes an
  ``IntDistribution(low, high, step)`` when ``ordered`` is set, with the option itself as value;
- any other decision whose options are all numbers becomes, when ``ordered`` is set, an
  ``IntDistribution(0, k - 1)`` over the options sorted by value (the parameter is the rank);
- everything else, and every decision when ``ordered`` is not set, is a
  ``CategoricalDistribution`` of the options, in the space's order.

Numbers are not always quantities (NAS-Bench-Macro's ``0, 1, 2`` name operations), so the
ordered encoding is a choice of the caller, never a guess.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from nasforge.space.choice import Choice
from nasforge.space.space import Space


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


class OptunaParams:
    """The Optuna encoding of ``space``'s decisions (see the module docstring)."""

    def __init__(self, space: Space, ordered: bool = False) -> None:
        from optuna.distributions import CategoricalDistribution, IntDistribution

        self.space = space
        self.distributions: dict[str, Any] = {}
        self._ranked: dict[str, list[Any]] = {}  # decision -> options by value (rank-encoded ones)
        for choice in space.choices:
            numbers = len(choice) > 1 and all(_is_number(o) for o in choice.options)
            if ordered and numbers and _progression(choice):
                values = sorted(int(o) for o in choice.options)
                self.distributions[choice.name] = IntDistribution(values[0], values[-1], step=values[1] - values[0])
            elif ordered and numbers:
                self._ranked[choice.name] = sorted(choice.options)
                self.distributions[choice.name] = IntDistribution(0, len(choice) - 1)
            else:
                self.distributions[choice.name] = CategoricalDistribution(list(choice.options))

    def params(self, values: Mapping[str, Any]) -> dict[str, Any]:
        """Optuna parameters of an architecture's decision values."""
        out = {}
        for choice in self.space.choices:
            value = choice.options[choice.index(values[choice.name])]
            ranked = self._ranked.get(choice.name)
            out[choice.name] = ranked.index(value) if ranked is not None else value
        return out

    def values(self, params: Mapping[str, Any]) -> dict[str, Any]:
        """Decision values of Optuna parameters (inverse of :meth:`params`); ``space.arch`` validates them."""
        out = {}
        for name, param in params.items():
            ranked = self._ranked.get(name)
            out[name] = ranked[int(param)] if ranked is not None else param
        return out


def _progression(choice: Choice) -> bool:
    """Whether the options are integers in arithmetic progression (in any given order)."""
    if not all(isinstance(o, int) and not isinstance(o, bool) for o in choice.options):
        return False
    values = sorted(int(o) for o in choice.options)  # type: ignore[arg-type]
    steps = {b - a for a, b in zip(values, values[1:], strict=False)}
    return len(steps) == 1
