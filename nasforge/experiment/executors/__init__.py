"""Executors run evaluations asynchronously: ``serial``, ``processes`` and ``ray``.

See :mod:`nasforge.experiment.executors.base` for the contract. Importing this package does
not import Ray (nor torch).
"""

from __future__ import annotations

import inspect
from typing import Any

from nasforge.experiment.executors.base import (
    EXECUTORS,
    TIMEOUT,
    WORKER_DIED,
    Executor,
    ExecutorError,
    failure_reason,
)
from nasforge.experiment.executors.processes import ProcessExecutor
from nasforge.experiment.executors.serial import SerialExecutor

__all__ = [
    "EXECUTORS",
    "TIMEOUT",
    "WORKER_DIED",
    "Executor",
    "ExecutorError",
    "ProcessExecutor",
    "SerialExecutor",
    "executor_from_settings",
    "failure_reason",
    "get_executor",
]


def get_executor(name: str, **settings: Any) -> Executor:
    """A new executor ``name`` (``serial``, ``processes`` or ``ray``) with its settings."""
    return EXECUTORS.get(name)(**settings)


def executor_from_settings(name: str, **settings: Any) -> Executor:
    """The executor ``name`` given a config's execution fields; each gets those its constructor takes.

    A setting that the executor does not take must be left at ``None`` / ``0`` (the config's
    validation says which executor a field needs).
    """
    cls = EXECUTORS.get(name)
    accepted = set(inspect.signature(cls.__init__).parameters)
    unused = sorted(k for k, v in settings.items() if k not in accepted and v)
    if unused:
        raise ValueError(f"the {name} executor does not take {unused}")
    return cls(**{k: v for k, v in settings.items() if k in accepted})
