"""The Python entry point: ``nasforge.search(...)``, the same search as the CLI's."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from nasforge.run.config import load_config
from nasforge.run.runner import SearchResult, start_search
from nasforge.space.space import Space
from nasforge.task.task import Task


def search(
    task: str | Task = "mnist1d",
    space: str | Space = "conv1d",
    strategy: str = "evolution",
    *,
    evaluator: str | dict[str, Any] | None = None,
    evaluator_settings: dict[str, Any] | None = None,
    objectives: list[str] | None = None,
    constraints: list[str] | None = None,
    trials: int | None = None,
    minutes: float | None = None,
    run_dir: str | Path | None = None,
    seed: int = 0,
    config: str | Path | None = None,
    progress: bool = False,
    **settings: Any,
) -> SearchResult:
    """Run a search and return its :class:`SearchResult` (``.trials``, ``.pareto_front``, ``.best``).

    ``task`` and ``space`` are registered names or objects (a :class:`Task`, e.g. from
    ``task_from_arrays``; a :class:`Space`, e.g. ``Space({...}, build=fn)``). ``evaluator`` is a
    registered evaluator's name (``train``, ``tabular``, ``proxy``, ``supernet``, ``predictor``)
    with ``evaluator_settings``, or a dict ``{"name": ..., "settings": {...}}``. Further keyword
    arguments are config fields: ``strategy_settings``, ``space_settings``, ``latency``,
    ``clock``, ``device``, ``executor``, ``workers``, ``final_retrain``, ...
    """
    if isinstance(evaluator, str) or evaluator_settings is not None:
        name = evaluator if isinstance(evaluator, str) else (evaluator or {}).get("name")
        evaluator = {k: v for k, v in {"name": name, "settings": evaluator_settings}.items() if v is not None}
    task_obj = task if isinstance(task, Task) else None
    space_obj = space if isinstance(space, Space) else None
    budget = None
    if trials is not None or minutes is not None:
        budget = {"trials": trials, "minutes": minutes}
    cfg = load_config(
        config, context={"space": space_obj, "task": task_obj},
        task=task_obj.name if task_obj else task, space=space_obj.name if space_obj else space,
        strategy=strategy, objectives=objectives, constraints=constraints, budget=budget, seed=seed,
        evaluator=evaluator, **settings)
    if not progress:
        return start_search(cfg, run_dir, space=space_obj, task=task_obj)
    from nasforge.run.progress import SearchProgress

    with SearchProgress(cfg.budget.trials, cfg.budget.minutes, cfg.objectives[0]) as bar:
        return start_search(cfg, run_dir, space=space_obj, task=task_obj, callbacks=[bar.callback])
