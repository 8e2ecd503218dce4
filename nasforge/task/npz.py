"""The user's own ``.npz``: ``npz:/path/to/data.npz``.

Required arrays ``x_train``, ``y_train``; optional ``x_val``/``y_val``, ``x_test``/``y_test`` and
``class_names``. Without a test split, a fixed stratified 20% of train becomes the test set (see
:mod:`nasforge.task.arrays`, which also gives the shape, label and normalisation rules); without a
validation split, ``val_fraction`` of the rest is drawn from ``seed``. The file is read with
``allow_pickle=False``.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import numpy as np

from nasforge.core.paths import MissingDataError
from nasforge.task.arrays import task_from_arrays
from nasforge.task.registry import register_task
from nasforge.task.task import Task, TaskDataError

NPZ_ARRAYS = ("x_train", "y_train", "x_val", "y_val", "x_test", "y_test")


@register_task("npz")
def load_npz(argument: str | os.PathLike | None, *, seed: int = 0, val_fraction: float = 0.2,
             layout: str | None = None, num_classes: int | None = None) -> Task:
    """The task stored in the ``.npz`` file ``argument`` (its path)."""
    if not argument:
        raise ValueError("the npz task needs a path: npz:/path/to/data.npz")
    path = Path(argument).expanduser()
    if not path.is_file():
        raise MissingDataError(f"npz task: no file at {path}")
    try:
        archive = np.load(path, allow_pickle=False)
    except Exception as error:  # noqa: BLE001 - zip, header or format errors alike
        raise TaskDataError(f"{path} is not a readable .npz file: {error}") from None
    with archive:
        found = list(archive.files)
        if "x_train" not in found or "y_train" not in found:
            raise TaskDataError(
                f"{path.name}: needs arrays 'x_train' and 'y_train'; found {found or 'none'}"
            )
        arrays = {key: _read(archive, key, path) for key in NPZ_ARRAYS if key in found}
        names = _read(archive, "class_names", path).tolist() if "class_names" in found else ()
    unused = sorted(set(found) - set(NPZ_ARRAYS) - {"class_names"})
    if unused:
        warnings.warn(f"{path.name}: ignoring arrays {unused}; known: {list(NPZ_ARRAYS)}", stacklevel=2)
    return task_from_arrays(
        **arrays, name=path.stem, num_classes=num_classes, class_names=names, seed=seed,
        val_fraction=val_fraction, layout=layout,
    )


def _read(archive: np.lib.npyio.NpzFile, key: str, path: Path) -> np.ndarray:
    try:
        return archive[key]
    except ValueError as error:  # object arrays need pickle, which is refused
        if "allow_pickle" not in str(error):
            raise TaskDataError(f"{path.name}: array {key!r} cannot be read: {error}") from None
        raise TaskDataError(
            f"refusing to load {path}: array {key!r} holds Python objects (dtype=object), which "
            "nasforge never unpickles; save it as a numeric (or, for class_names, string) array"
        ) from None
