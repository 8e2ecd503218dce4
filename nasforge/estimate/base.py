"""Evaluator: turns an Arch into metrics at some fidelity and cost.

Lifecycle: construct with settings (kwargs only), then ``evaluate(arch)`` any number of times,
from any process (evaluators are picklable; heavy state such as data is loaded lazily on first
use in each process). ``evaluate`` never raises for a bad architecture: failures come back as
an :class:`EvalResult` with ``status="failed"`` and the error text, so the search goes on.

Chosen by name in a run (``evaluator: {name: tabular, settings: {...}}``): every registered
evaluator class declares, as class attributes and class methods, what a run needs to know
before anything is loaded or built:

- ``Settings``: a Pydantic model of the user-facing settings (unknown names, wrong types and
  out-of-range values are refused there);
- ``check_space(space, settings)``: raise :class:`IncompatibleError` for a space it cannot
  evaluate (the message names both and the spaces it can);
- ``reports(settings, space)``: the metrics it reports, so objectives and constraints are
  checked first; ``default_objectives(settings, space)``;
- ``needs_task``: whether it reads the run's data (a tabular lookup does not), and
  ``task_shape(settings, space)``: the input shape and classes of the networks when it needs no task;
- ``finalise``: what the run does with the selected architecture: ``"retrain"`` (train it from
  scratch on train+validation, test it, export it) or ``"table"`` (report the table's truth);
- ``for_run(run, settings, constraints)``: the evaluator itself, for a :class:`RunContext`.
"""

from __future__ import annotations

import math
import time
import traceback
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict

from nasforge.core.records import COMPLETE, FAILED, EvalResult
from nasforge.core.registry import Registry
from nasforge.space.arch import Arch


class NonFiniteMetricError(ValueError):
    """An evaluation produced NaN or infinite values (e.g. a diverged training loss)."""


class IncompatibleError(ValueError):
    """An evaluator (or cost source) that cannot work with the run's space or task; the message
    names the incompatibility and what would work."""


class NoSettings(BaseModel):
    """Settings of an evaluator that has none."""

    model_config = ConfigDict(extra="forbid")


@dataclass(frozen=True)
class RunContext:
    """What a run hands the evaluator it builds: the space, the task (a Task, or ``None`` for an
    evaluator that reads no data), the run's seed and device (``cpu``, ``cuda``, ``cuda:N``)."""

    space: Any
    task: Any = None
    seed: int = 0
    device: str = "cpu"


class Evaluator:
    """Base class; subclasses implement :meth:`_evaluate` returning metrics (or an EvalResult).

    The class-level declarations a run reads are described in the module docstring; the
    defaults suit an evaluator that trains or scores a network of any buildable space.
    """

    Settings: ClassVar[type[BaseModel]] = NoSettings
    needs_task: ClassVar[bool] = True
    finalise: ClassVar[str] = "retrain"

    @classmethod
    def check_space(cls, space: Any, settings: Any) -> None:
        """Raise :class:`IncompatibleError` if this evaluator cannot evaluate ``space``."""
        if not getattr(space, "can_build", False):
            raise IncompatibleError(f"space {space.name!r} has no model builder, which this evaluator needs")

    @classmethod
    def reports(cls, settings: Any, space: Any) -> list[str]:
        """The metrics this evaluator reports with ``settings`` on ``space``."""
        return []

    @classmethod
    def default_objectives(cls, settings: Any, space: Any) -> list[str]:
        """Objectives of a run that names none."""
        return [f"{cls.reports(settings, space)[0]}:max"]

    @classmethod
    def default_task(cls, settings: Any, space: Any) -> str | None:
        """The data a run uses when it names none (``None``: the space's default)."""
        return None

    @classmethod
    def task_shape(cls, settings: Any, space: Any) -> Any:
        """Input shape and classes of the networks (a ``TaskShape``) when ``needs_task`` is false."""
        return None

    @classmethod
    def for_run(cls, run: RunContext, settings: Any, constraints: Sequence[Any] = ()) -> Evaluator:
        """The evaluator for ``run`` with validated ``settings``."""
        raise NotImplementedError(f"{cls.__name__} cannot be chosen by name in a run")

    def evaluate(self, arch: Arch) -> EvalResult:
        """Evaluate ``arch``; exceptions and non-finite metrics become a failed result."""
        start, cpu = time.perf_counter(), time.process_time()
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
                cpu_seconds=time.process_time() - cpu,
            )
        if result.cost_seconds == 0.0:
            result = replace(result, cost_seconds=time.perf_counter() - start)
        return replace(result, cpu_seconds=time.process_time() - cpu)

    def _evaluate(self, arch: Arch) -> Mapping[str, float] | EvalResult:
        raise NotImplementedError

    def metric_names(self) -> list[str]:
        """Metrics this evaluator reports (used to validate objectives before a search)."""
        return []


EVALUATORS: Registry[type[Evaluator]] = Registry(
    "evaluator",
    # the supernet evaluator is the one-shot layer's entry: a plugin name, not an import
    modules=("nasforge.estimate.train", "nasforge.estimate.tabular", "nasforge.estimate.proxies.evaluator",
             "nasforge.estimate.predictors.evaluator", "nasforge.oneshot.evaluator",
             "nasforge.oneshot.lm.evaluator"),
)
register_evaluator = EVALUATORS.register
