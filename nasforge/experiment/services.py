"""The :class:`~nasforge.core.services.Services` a run lends its strategy, built for its space,
task and seed: proxy scorers on the run's own task, performance predictors, features with free
statistics, and the run's cost sources (see :mod:`nasforge.core.services`)."""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from typing import Any

from nasforge.core.services import Scorer, Services


def run_services(space: Any, task: Any, seed: int = 0,
                 cost: Callable[[str], Callable[[Any], float]] | None = None, shape: Any = None,
                 device: str = "cpu") -> Services:
    """Services for a run of ``space`` on ``task`` (a Task, a task spec, or ``None`` when the
    run has no data: scorers then fail with a clear message) with ``seed``; proxy scorers run on
    the run's ``device``. ``shape`` (input shape and classes) sizes the networks whose free
    statistics feed predictors; default: the task's."""

    def scorer(name: str, settings: Mapping[str, Any]) -> Scorer:
        from nasforge.estimate.proxies.scorer import SCORERS

        factory = SCORERS.get(name)
        params = inspect.signature(factory).parameters
        open_ended = any(p.kind is p.VAR_KEYWORD for p in params.values())
        run = {k: v for k, v in (("task", task), ("seed", seed), ("device", device)) if open_ended or k in params}
        return factory(space, **{**run, **dict(settings)})

    def predictor(name: str, **settings: Any) -> Any:
        from nasforge.estimate.predictors import get_predictor

        return get_predictor(name, **settings)

    def featurizer(of: Any = None) -> Any:
        from nasforge.estimate.predictors.features import Featurizer
        from nasforge.estimate.predictors.stats import FreeStats

        size = shape if shape is not None else (task if not isinstance(task, str) else
                                                _task_shape(task, seed) if task else None)
        target = of if of is not None else space
        if not getattr(target, "can_build", False) or size is None:
            return Featurizer(target)
        return Featurizer(target, FreeStats(target, tuple(size.input_shape), int(size.num_classes)))

    return Services(scorer=scorer, predictor=predictor, featurizer=featurizer, cost=cost)


def _task_shape(spec: str, seed: int) -> Any:
    from nasforge.task import load_task

    return load_task(spec, seed=seed)
