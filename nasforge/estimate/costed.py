"""Cost metrics around any evaluator: what an objective or constraint names and the evaluator
does not report is computed from the network without training, before the evaluation.

:class:`CostedEvaluator` wraps the run's evaluator. For each architecture it builds the network
once for the task's input shape and computes the static metrics asked for (``params``,
``flops``, ``macs``, ``memory_mb``, ``size_mb``; :mod:`nasforge.hardware.metrics`) and, when
latency is asked for, ``latency_ms`` from the run's cost source: measured (PyTorch or ONNX
Runtime, :class:`~nasforge.hardware.latency.LatencySettings`), a lookup table or a fitted
predictor (any :class:`~nasforge.hardware.cost.CostModel`). An architecture that breaks a
constraint on these metrics is ``infeasible`` and the wrapped evaluator never sees it;
otherwise the wrapped evaluator's metrics are merged in (its own values win).
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any

from nasforge.core.objectives import Constraint
from nasforge.core.records import INFEASIBLE, EvalResult
from nasforge.estimate.base import Evaluator
from nasforge.hardware.metrics import LATENCY_METRICS, STATIC_METRICS
from nasforge.space.arch import Arch


class CostedEvaluator(Evaluator):
    """``inner`` plus cost metrics (see the module docstring).

    ``shape`` is the ``TaskShape`` the networks are built for; ``static`` the static metrics to
    compute; ``latency`` the settings of a measured latency (``None``: not measured);
    ``models`` maps further metrics to fitted cost models (e.g. ``latency_ms`` -> a latency
    predictor); ``constraints`` those checked before ``inner`` runs.
    """

    def __init__(self, inner: Evaluator, space: Any, shape: Any, static: Sequence[str] = (),
                 latency: Any = None, models: Mapping[str, Any] | None = None,
                 constraints: Sequence[Constraint] = ()) -> None:
        unknown = [m for m in static if m not in STATIC_METRICS]
        if unknown:
            raise ValueError(f"unknown static cost metric(s) {unknown}; valid: {list(STATIC_METRICS)}")
        self.inner = inner
        self.space = space
        self.shape = shape
        self.static = tuple(static)
        self.latency = latency
        self.models = dict(models or {})
        self.constraints = tuple(constraints)

    def metric_names(self) -> list[str]:
        measured = list(LATENCY_METRICS) if self.latency is not None else []
        return [*self.inner.metric_names(), *self.static, *measured, *self.models]

    def costs(self, arch: Arch) -> dict[str, float]:
        """The cost metrics of ``arch`` (no training)."""
        out: dict[str, float] = {}
        which = [*self.static, *(LATENCY_METRICS if self.latency is not None else ())]
        if which:
            import torch

            from nasforge.hardware.metrics import hardware_metrics

            with torch.random.fork_rng(devices=[]):
                model = self.space.build(arch, self.shape)
            out.update(hardware_metrics(model, tuple(self.shape.input_shape), which, latency=self.latency))
        for metric, model in self.models.items():
            out[metric] = float(model.predict(arch))
        return out

    def _evaluate(self, arch: Arch) -> EvalResult:
        start = time.perf_counter()
        costs = self.costs(arch)
        broken = [str(c) for c in self.constraints if c.metric in costs and not c.satisfied(costs)]
        if broken:
            return EvalResult(costs, status=INFEASIBLE, error=f"violates {', '.join(broken)}",
                              cost_seconds=time.perf_counter() - start)
        result = self.inner.evaluate(arch)
        info = {**dict(result.info), "cost_seconds": time.perf_counter() - start - result.cost_seconds}
        return replace(result, metrics={**costs, **dict(result.metrics)}, info=info)
