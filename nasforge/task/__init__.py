"""Tasks: datasets with fixed train / validation / test splits for training evaluators.

``load_task("mnist1d")``, ``load_task("digits")``, ``load_task("cifar10")``,
``load_task("npz:/path/data.npz")`` or ``task_from_arrays(x, y, ...)``. Importing this package
does not import torch.
"""

from __future__ import annotations

from nasforge.task.arrays import task_from_arrays
from nasforge.task.normalize import Normalization
from nasforge.task.registry import TASKS, load_task, parse_task_spec, register_task
from nasforge.task.task import Task, TaskDataError

__all__ = [
    "TASKS",
    "Normalization",
    "Task",
    "TaskDataError",
    "load_task",
    "parse_task_spec",
    "register_task",
    "task_from_arrays",
]
