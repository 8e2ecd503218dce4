"""Wiring one run from its validated :class:`~nasforge.run.config.SearchConfig`: the space, the
data, the evaluator chosen by name (wrapped with the run's cost sources), the services the
strategy borrows, the executor and the :class:`~nasforge.experiment.experiment.Experiment`.

Nothing here decides anything the config has not: it only resolves names through the
registries, so any strategy x any evaluator x any space combine the same way from YAML, the
CLI and Python.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from nasforge.estimate.base import Evaluator, IncompatibleError, RunContext
from nasforge.estimate.costed import CostedEvaluator
from nasforge.experiment.budget import Budget
from nasforge.experiment.executors import executor_from_settings
from nasforge.experiment.experiment import Callback, Experiment
from nasforge.experiment.services import run_services
from nasforge.experiment.storage import Storage
from nasforge.hardware.metrics import LATENCY_METRICS, STATIC_METRICS
from nasforge.run.config import SearchConfig
from nasforge.space.registry import get_space
from nasforge.strategy.base import get_strategy

log = logging.getLogger(__name__)

#: the run directory's folder of latency measurements and tables (per device and backend)
LATENCY_DIR = "latency"


def make_space(config: SearchConfig, space: Any = None) -> Any:
    """The run's space: the object given from Python, else the registered one."""
    return space if space is not None else get_space(config.space, **config.space_settings)


def needs_data(config: SearchConfig) -> bool:
    """Whether the run loads its task up front: its evaluator reads data, or the selected
    architecture is retrained at the end."""
    cls = config.evaluator.cls()
    return cls.needs_task or (config.final_retrain and cls.finalise == "retrain")


def load_data(config: SearchConfig, task: Any = None) -> Any:
    """The run's Task (the object given from Python, else loaded from its spec), or ``None``
    for a run that reads no data (a tabular lookup)."""
    if task is not None or not needs_data(config):
        return task
    from nasforge.task import load_task

    return load_task(config.task, seed=config.seed)


def task_shape(config: SearchConfig, space: Any, task: Any) -> Any:
    """Input shape and classes of the run's networks: the task's, else the evaluator's (a
    benchmark's networks), else the space's defaults; ``None`` if nothing says."""
    from nasforge.hardware.metrics import TaskShape

    if task is not None:
        return TaskShape(tuple(task.input_shape), int(task.num_classes))
    shape = config.evaluator.cls().task_shape(config.evaluator.parsed(), space)
    if shape is not None:
        return shape
    default = getattr(space, "default_input_shape", None)
    return TaskShape(tuple(default), int(getattr(space, "default_num_classes", 10))) if default else None


def latency_settings(config: SearchConfig) -> Any:
    """The measurement settings of the run's latency source."""
    from nasforge.hardware.latency import LatencySettings

    lat = config.latency
    device = "cuda" if config.device.startswith("cuda") else "cpu"
    return LatencySettings(backend=lat.backend, device=device, batch_size=lat.batch_size, threads=lat.threads,
                           warmup=lat.warmup, repeats=lat.repeats, clock=lat.clock, seq_len=lat.seq_len)


def cost_plan(config: SearchConfig, reported: Sequence[str]) -> tuple[list[str], bool]:
    """``(static metrics, whether latency is needed)``: the cost metrics that objectives and
    constraints name and the evaluator does not report."""
    needed = [m for m in config.metrics_used() if m not in reported]
    static = [m for m in needed if m in STATIC_METRICS]
    return static, any(m in LATENCY_METRICS for m in needed)


def latency_model(config: SearchConfig, space: Any, shape: Any, run_dir: Path | None,
                  progress: Callable[[int, int], None] | None = None) -> Any:
    """The cost model of ``latency_ms`` for ``lut`` and ``predictor`` sources (``None`` for
    ``measured``, which times every network). Measurements are cached in ``run_dir/latency``."""
    source = config.latency.source
    if source == "measured":
        return None
    settings = latency_settings(config)
    folder = Path(run_dir) / LATENCY_DIR if run_dir is not None else None
    tag = f"{settings.device}-{settings.backend}"
    if source == "lut":
        from nasforge.hardware.table import LatencyTable

        path = str(folder / f"lut-{tag}.json") if folder is not None else None
        return LatencyTable(settings, path=path).setup(space, shape.input_shape, shape.num_classes)
    from nasforge.hardware.predictor import fit_latency_predictor

    cache = folder / f"measured-{tag}.json" if folder is not None else None
    log.info("fitting the latency predictor on %d measured architectures", config.latency.samples)
    return fit_latency_predictor(space, shape.input_shape, shape.num_classes, config.latency.samples,
                                 settings, seed=config.seed, cache=cache, progress=progress)


def build_evaluator(config: SearchConfig, space: Any, task: Any, run_dir: Path | None = None) -> Evaluator:
    """The evaluator named by the config, for this run, wrapped with the cost sources the
    objectives and constraints need (:func:`cost_wrapper`)."""
    cls, settings = config.evaluator.cls(), config.evaluator.parsed()
    evaluator = cls.for_run(RunContext(space, task, config.seed, config.device), settings,
                            config.parsed_constraints())
    wrap = cost_wrapper(config, space, task, run_dir, cls.reports(settings, space))
    return evaluator if wrap is None else wrap(evaluator)


def cost_wrapper(config: SearchConfig, space: Any, task: Any, run_dir: Path | None,
                 reported: Sequence[str]) -> Callable[[Evaluator], Evaluator] | None:
    """``evaluator -> evaluator with the run's cost sources`` for the cost metrics that objectives
    and constraints name and the evaluator does not report (``reported``); ``None`` when none is
    needed. Latency models are fitted (or read from ``run_dir``) here, once."""
    static, wants_latency = cost_plan(config, reported)
    if not static and not wants_latency:
        return None
    shape = task_shape(config, space, task)
    if shape is None:
        raise IncompatibleError(f"cost metrics {static} need the networks' input shape, and nothing gives it "
                                "(name a --task)")
    measured = latency_settings(config) if wants_latency and config.latency.source == "measured" else None
    models = {"latency_ms": latency_model(config, space, shape, run_dir)} if wants_latency and measured is None else {}
    return lambda inner: CostedEvaluator(inner, space, shape, static, measured, models, config.parsed_constraints())


def cost_service(evaluator: Evaluator, space: Any, shape: Any) -> Callable[[str], Callable[[Any], float]]:
    """``metric -> (arch -> value)``: a cost metric of an arch without training, from the run's
    cost sources where the run has them (a strategy's resource, e.g. FBNetV3's budgets)."""

    def cost(metric: str) -> Callable[[Any], float]:
        if isinstance(evaluator, CostedEvaluator) and metric in evaluator.models:
            return evaluator.models[metric].predict
        latency = evaluator.latency if isinstance(evaluator, CostedEvaluator) else None
        if metric not in STATIC_METRICS and not (metric in LATENCY_METRICS and latency is not None):
            raise ValueError(f"cost {metric!r} is not available to the strategy: the run computes "
                             f"{list(STATIC_METRICS)}" + (" and latency" if latency is not None else ""))
        if shape is None:
            raise ValueError(f"cost {metric!r} needs the networks' input shape; name a --task")
        counter = CostedEvaluator(evaluator, space, shape, [metric] if metric in STATIC_METRICS else (),
                                  latency if metric in LATENCY_METRICS else None)
        return lambda arch: counter.costs(arch)[metric]

    return cost


def build_experiment(config: SearchConfig, storage: Storage, space: Any = None, task: Any = None,
                     callbacks: Sequence[Callback] = (), run_dir: Path | None = None,
                     evaluator: Evaluator | None = None) -> Experiment:
    """Wire space, evaluator (unless given), strategy, services and executor from ``config``."""
    space = make_space(config, space)
    evaluator = evaluator if evaluator is not None else build_evaluator(config, space, task, run_dir)
    shape = task_shape(config, space, task)
    services = run_services(space, task if task is not None else config.task, config.seed,
                            cost=cost_service(evaluator, space, shape), shape=shape, device=config.device)
    return Experiment(
        space=space,
        strategy=get_strategy(config.strategy, **config.strategy_settings),
        evaluator=evaluator,
        storage=storage,
        objectives=config.parsed_objectives(),
        constraints=config.parsed_constraints(),
        budget=Budget(config.budget.trials, config.budget.minutes),
        seed=config.seed,
        executor=build_executor(config),
        callbacks=list(callbacks),
        retries=config.retries,
        services=services,
        clock=config.clock,
    )


def build_executor(config: SearchConfig) -> Any:
    """The executor named by the config, with its execution fields."""
    return executor_from_settings(
        config.executor, workers=config.workers, threads_per_worker=config.threads_per_worker,
        trial_timeout=config.trial_timeout, gpus_per_trial=config.gpus_per_trial, ray_address=config.ray_address,
        ray_token_file=config.ray_token_file)


def check_strategy(config: SearchConfig, space: Any, task: Any, bare: bool = False) -> None:
    """Set the strategy up once, so settings that only its ``setup`` can judge (sizes against
    the space, a scorer it needs) fail before the run directory exists. ``bare``: with no
    services but a zero cost, so nothing is built or loaded (a strategy that needs a service
    passes this check and is judged by the full one)."""
    from nasforge.core.services import ServiceMissingError, Services

    zero_cost = lambda metric: (lambda arch: 0.0)  # noqa: E731 - a check prices nothing
    services = Services(cost=zero_cost) if bare else run_services(
        space, task if task is not None else config.task, config.seed, cost=zero_cost,
        shape=task_shape(config, space, task), device=config.device)
    strategy = get_strategy(config.strategy, **config.strategy_settings)
    try:
        strategy.setup(space, config.parsed_objectives(), config.parsed_constraints(), config.seed, services)
    except ServiceMissingError:
        if not bare:
            raise
