"""Which spaces build networks for which tasks, and the error that says so.

A run whose space cannot build a network for its task is refused with
:class:`SpaceTaskMismatchError`, whose message lists the registered spaces that do fit the task
and the built-in tasks that fit the space. For a built-in task the input shape is known without
loading it (:data:`TASK_SHAPES`), so the check runs before any data is loaded; for other data
(``npz:PATH``, a folder, a :class:`~nasforge.task.task.Task` from Python) it runs on the loaded
data, before the first trial.

"Fits" is tested, not declared: a space fits an input shape when the network of one sampled
architecture (seed 0) accepts a batch of that shape and returns one logit per class. No space
reinterprets data of another rank (``conv1d`` does not flatten images: a raster scan would
discard the 2-D neighbourhoods an image network is built on), so the message is the fix.
"""

from __future__ import annotations

from collections.abc import Sequence
from types import SimpleNamespace
from typing import Any

import numpy as np

from nasforge.run.config import ConfigError

#: input shape (channels first) and class count of the built-in tasks, known without loading
#: them (tests/test_first_run.py checks each against the loaded data)
TASK_SHAPES: dict[str, tuple[tuple[int, ...], int]] = {
    "mnist1d": ((1, 40), 10),
    "digits": ((1, 8, 8), 10),
    "cifar10": ((3, 32, 32), 10),
    "cifar10-subset": ((3, 32, 32), 10),
}


class SpaceTaskMismatchError(ConfigError):
    """The space cannot build a network for the task; the message names the spaces that can."""


def known_shape(task_spec: str | None) -> tuple[tuple[int, ...], int] | None:
    """Input shape and classes of a built-in task spec (``"digits"``, ``"cifar10:/data"``,
    ``"mnist1d:7"``) without loading it; ``None`` for data whose shape only its file tells."""
    if not isinstance(task_spec, str):
        return None
    return TASK_SHAPES.get(task_spec.partition(":")[0].strip())


def build_error(space: Any, input_shape: Sequence[int], num_classes: int,
                batch: np.ndarray | None = None) -> str | None:
    """Why ``space`` cannot build a network for inputs of ``input_shape`` with ``num_classes``
    classes (``Type: message``), or ``None`` when it can. ``batch``: real inputs to try
    (default: two rows of zeros). An integer ``batch`` holds token ids of a sequence task, whose
    network must return ``(num_classes,)`` logits at every position."""
    import torch

    shape = tuple(int(s) for s in input_shape)
    stand_in = SimpleNamespace(name="shape", input_shape=shape, num_classes=int(num_classes))
    x = np.zeros((2, *shape), dtype=np.float32) if batch is None else batch
    try:
        model = space.build(space.sample(np.random.default_rng(0)), stand_in).eval()
        with torch.no_grad():
            out = model(torch.from_numpy(np.ascontiguousarray(x)))
    except Exception as exc:  # noqa: BLE001 - any failure to build or run is the answer
        return f"{type(exc).__name__}: {exc}"
    per_token = np.issubdtype(x.dtype, np.integer)  # a sequence task: logits at every position
    expected = (len(x), *shape, int(num_classes)) if per_token else (len(x), int(num_classes))
    if tuple(out.shape) != expected:
        return f"it outputs shape {tuple(out.shape)[1:]}; expected {expected[1:]} logits"
    return None


def fitting_spaces(input_shape: Sequence[int], num_classes: int, batch: np.ndarray | None = None) -> list[str]:
    """The registered spaces (default settings) that build networks for this input shape
    (``batch``: real inputs to try, e.g. a sequence task's token ids)."""
    from nasforge.space.registry import SPACES, get_space

    out = []
    for name in SPACES.list():
        try:
            space = get_space(name)
        except Exception:  # noqa: BLE001 - a space that needs settings is not offered
            continue
        if getattr(space, "can_build", False) and build_error(space, input_shape, num_classes, batch) is None:
            out.append(name)
    return out


def fitting_tasks(space: Any) -> list[str]:
    """The built-in tasks ``space`` builds networks for (text tasks for a language-model space)."""
    if getattr(space, "task_kind", None) == "sequence":
        return ["stdlib", "text:PATH"]
    return [name for name, (shape, classes) in TASK_SHAPES.items() if build_error(space, shape, classes) is None]


def check_space_fits(space: Any, task_name: str, input_shape: Sequence[int], num_classes: int,
                     batch: np.ndarray | None = None) -> None:
    """Raise :class:`SpaceTaskMismatchError` unless ``space`` builds a network for the task."""
    reason = build_error(space, input_shape, num_classes, batch)
    if reason is None:
        return
    shape = tuple(int(s) for s in input_shape)
    spaces = [s for s in fitting_spaces(shape, num_classes, batch) if s != space.name]
    tasks = fitting_tasks(space)
    advice = (f"spaces that fit task {task_name!r}: {', '.join(spaces)}" if spaces else
              f"no registered space fits task {task_name!r}: define one for inputs shaped {shape} "
              "(nasforge.Space(..., build=fn), docs/guide.md)")
    advice += (f"; space {space.name!r} fits the built-in task(s) {', '.join(tasks)}" if tasks else
               f"; space {space.name!r} fits none of the built-in tasks ({', '.join(TASK_SHAPES)})")
    raise SpaceTaskMismatchError(f"space {space.name!r} cannot build a network for task {task_name!r} "
                                 f"(input shape {shape}): {reason}\n{advice}")


def check_task_spec_fits(space: Any, task_spec: str | None) -> None:
    """Before loading: refuse a built-in task whose known shape ``space`` cannot take (other
    data is checked once loaded, by :func:`check_space_fits`)."""
    known = known_shape(task_spec)
    if known is not None and getattr(space, "can_build", False):
        check_space_fits(space, str(task_spec).partition(":")[0].strip(), *known)
