"""The registry of built-in tasks and ``load_task("name[:argument]")``.

A loader is registered as ``@register_task("name")`` on a function
``loader(argument: str | None, *, seed: int, val_fraction: float) -> Task``; the argument is the
text after the first colon of the spec (``"npz:/data/mine.npz"`` -> ``"/data/mine.npz"``).
"""

from __future__ import annotations

from typing import Protocol

from nasforge.core.registry import Registry
from nasforge.task.task import Task


class TaskLoader(Protocol):
    def __call__(self, argument: str | None, /, *, seed: int, val_fraction: float) -> Task: ...


TASKS: Registry[TaskLoader] = Registry(
    "task",
    modules=(
        "nasforge.task.mnist1d",
        "nasforge.task.digits",
        "nasforge.task.cifar10",
        "nasforge.task.npz",
        "nasforge.task.text",
    ),
)

register_task = TASKS.register


def load_task(spec: str | Task, *, seed: int = 0, val_fraction: float = 0.2) -> Task:
    """The task named by ``spec`` (``"mnist1d"``, ``"cifar10:/path"``, ``"npz:file.npz"`` ...).

    ``seed`` draws the validation split where the data has none. A :class:`Task` is returned as
    is, and a bare path ending in ``.npz`` means ``npz:PATH``.
    """
    if isinstance(spec, Task):
        return spec
    name, argument = parse_task_spec(spec)
    return TASKS.get(name)(argument, seed=seed, val_fraction=val_fraction)


def parse_task_spec(spec: str) -> tuple[str, str | None]:
    """``(name, argument)`` of a spec: ``"npz:/a.npz"`` -> ``("npz", "/a.npz")``; ``"/a.npz"`` too.

    The name is not checked here; ``TASKS.get(name)`` raises with the valid names.
    """
    if not isinstance(spec, str):
        raise TypeError(f"task spec must be a string or a Task, got {type(spec).__name__}")
    name, _, argument = spec.partition(":")
    if name not in TASKS and spec.endswith(".npz"):
        return "npz", spec
    return name.strip(), argument or None


def no_argument(name: str, argument: str | None) -> None:
    """Raise for a spec like ``"digits:x"`` whose loader takes no argument."""
    if argument is not None:
        raise ValueError(f"task {name!r} takes no argument, got {name}:{argument}")
