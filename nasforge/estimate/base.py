"""Evaluator: turns an Arch into metrics at some fidelity and cost.

Lifecycle: construct with settings (kwargs only), then ``evaluate(arch)`` any number of times,
from any process (evaluators are picklable; heavy state such as data is loaded lazily on first
use in each process). ``evaluate`` never raises for a bad architecture: failures come back as
an :class:`EvalResult` with ``status="failed"`` and the error text, so the search goes on.
"""

from __future__ import annotations

import math
import time
import traceback
from collections.abc import Mapping

from nasforge.core.records import COMPLETE, FAILED, EvalResult
from nasforge.core.registry import Registry
from nasforge.space.arch import Arch


class NonFiniteMetricError(ValueError):
    """An evaluation produced NaN or infinite values (e.g. a diverged training loss)."""


class Evaluator:
    """Base class; subclasses implement :meth:`_evaluate` returning metrics (or an EvalResult)."""

    def evaluate(self, arch: Arch) -> EvalResult:
        """Evaluate ``arch``; exceptions and non-finite metrics become a failed result."""
        start = time.perf_counter()
        try:
            out = self._evaluate(arch)
            result = out if isinstance(out, EvalResult) else EvalResult(metrics=dict(out))
            bad = [k for k, v in result.metrics.items() if not math.isfinite(float(v))]
            if bad and result.status == COMPLETE:
                raise NonFiniteMetricError(f"non-finite metric(s) {bad} for {arch.key}")
        except Exception as exc:  # noqa: BLE001 - a failing trial is data, not a crash
            return EvalResult(
                status=FAILED,
                error=f"{type(exc).__name__}: {exc}",
                cost_seconds=time.perf_counter() - start,
                info={"traceback": traceback.format_exc(limit=8)},
            )
        if result.cost_seconds == 0.0:
            result = EvalResult(result.metrics, result.status, result.error,
                                time.perf_counter() - start, result.info)
        return result

    def _evaluate(self, arch: Arch) -> Mapping[str, float] | EvalResult:
        raise NotImplementedError

    def metric_names(self) -> list[str]:
        """Metrics this evaluator reports (used to validate objectives before a search)."""
        return []


EVALUATORS: Registry[type[Evaluator]] = Registry(
    "evaluator",
    modules=("nasforge.estimate.train", "nasforge.estimate.tabular", "nasforge.oneshot.evaluator",
             "nasforge.estimate.proxies.evaluator"),
)
register_evaluator = EVALUATORS.register
