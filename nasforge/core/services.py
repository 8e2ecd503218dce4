"""What a run lends its strategy: callables that need torch, data or a fitted model.

A strategy imports only ``space/`` and the core, so whatever needs more reaches it through a
:class:`Services` given to ``Strategy.setup(..., services=...)``: the run (or the benchmark
harness) builds one for its space, task and seed. Every field is optional; a strategy that
needs a missing one says so by name (:meth:`Services.need`).

- ``scorer(name, settings) -> score(arch) -> float``: a zero-cost proxy (or another registered
  scorer) computed on the run's task with the run's seed; higher = predicted better.
- ``predictor(name, **settings)``: a new performance predictor (``pretrain`` / ``fit`` /
  ``predict`` over feature rows, see ``nasforge.estimate.predictors``).
- ``featurizer(space)``: feature rows of archs of ``space`` for those predictors, with free
  statistics (params, FLOPs) when the space can build networks for the run's task.
- ``cost(metric) -> cost(arch) -> float``: a cost metric of an arch without training
  (``params``, ``flops``, ``latency_ms`` from the run's cost source, ...).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

Scorer = Callable[[Any], float]


@dataclass(frozen=True)
class Services:
    """See the module docstring."""

    scorer: Callable[[str, Mapping[str, Any]], Scorer] | None = None
    predictor: Callable[..., Any] | None = None
    featurizer: Callable[[Any], Any] | None = None
    cost: Callable[[str], Callable[[Any], float]] | None = None

    def need(self, field: str, who: str) -> Callable[..., Any]:
        """The service ``field``, or a clear error naming ``who`` needs it."""
        value = getattr(self, field)
        if value is None:
            raise ServiceMissingError(
                f"{who} needs a {field} service, which this run does not provide; run it through "
                f"nasforge.search / Experiment (they lend one for the run's task), or pass a callable")
        return value


class ServiceMissingError(ValueError):
    """A strategy needs a service the caller did not provide."""


NO_SERVICES = Services()
