"""MNIST-1D (Greydanus 2020), generated offline by the ``mnist1d`` package.

4,000 train / 1,000 test signals of length 40, 10 classes, shaped ``(N, 1, 40)``. The generation
seed defaults to the package's own (42), which reproduces the dataset used in the literature;
``"mnist1d:SEED"`` draws another instance. ``seed`` only draws the validation split.
"""

from __future__ import annotations

import functools
import random

import numpy as np

from nasforge.task.arrays import task_from_arrays
from nasforge.task.registry import register_task
from nasforge.task.task import Task

MNIST1D_SEED = 42  # mnist1d.data.get_dataset_args()["seed"]; kept for comparability


@functools.lru_cache(maxsize=4)
def generate_mnist1d(generation_seed: int = MNIST1D_SEED) -> tuple[np.ndarray, ...]:
    """Read-only ``(x_train, y_train, x_test, y_test)`` from ``make_dataset`` (cached; ~1-2 s).

    ``make_dataset`` reseeds the global ``random`` and ``numpy.random`` state; both are restored.
    """
    from mnist1d.data import get_dataset_args, make_dataset  # make_dataset never downloads

    args = get_dataset_args()
    args.seed = generation_seed
    numpy_state, python_state = np.random.get_state(), random.getstate()
    try:
        data = make_dataset(args)
    finally:
        np.random.set_state(numpy_state)
        random.setstate(python_state)
    arrays = (data["x"], data["y"], data["x_test"], data["y_test"])
    for array in arrays:
        array.setflags(write=False)
    return arrays


@register_task("mnist1d")
def load_mnist1d(argument: str | int | None = None, *, seed: int = 0, val_fraction: float = 0.2) -> Task:
    """MNIST-1D; ``argument`` is the generation seed (default :data:`MNIST1D_SEED`)."""
    try:
        generation_seed = MNIST1D_SEED if argument is None else int(argument)
    except ValueError:
        raise ValueError(f"mnist1d:{argument}: the argument must be an integer generation seed") from None
    x, y, x_test, y_test = generate_mnist1d(generation_seed)
    name = "mnist1d" if generation_seed == MNIST1D_SEED else f"mnist1d:{generation_seed}"
    return task_from_arrays(
        x, y, x_test=x_test, y_test=y_test, name=name, num_classes=10,
        class_names=[str(i) for i in range(10)], seed=seed, val_fraction=val_fraction, layout="NL",
    )
