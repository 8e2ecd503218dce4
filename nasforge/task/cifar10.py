"""CIFAR-10: the official python batches when the user has them, else the bundled subset.

``cifar10`` reads ``data_batch_1..5`` and ``test_batch`` from the folder given as
``"cifar10:/path/to/cifar-10-batches-py"`` or by ``$NASFORGE_CIFAR10`` (50,000 / 10,000 images);
without either it falls back to ``cifar10-subset.npz`` in the data directory (see
:func:`nasforge.paths.data_file`), named ``cifar10-subset`` so results are never mistaken for full
CIFAR-10. ``cifar10-subset`` always loads the subset; ``cifar10-subset:16`` (or ``:8``) loads it
average-pooled to 16x16 (8x8) pixels, for CPU budgets (task name ``cifar10-subset-16px``).
Nothing is downloaded.

Images are ``(N, 3, 32, 32)``, scaled to [0, 1] and normalised with the usual CIFAR-10 channel
mean and std; the validation split is a stratified ``val_fraction`` of train, drawn from ``seed``.

The batches are pickles, read by :mod:`nasforge.task.safe_pickle`, which admits NumPy arrays and
plain values only: a crafted batch is refused before any of it runs. The subset is read with
``allow_pickle=False``.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from nasforge.core.paths import MissingDataError, data_file
from nasforge.task.arrays import task_from_arrays
from nasforge.task.normalize import Normalization
from nasforge.task.registry import register_task
from nasforge.task.safe_pickle import load_cifar_pickle
from nasforge.task.task import Task, TaskDataError

CIFAR10_ENV = "NASFORGE_CIFAR10"
CIFAR10_CLASSES = ("airplane", "automobile", "bird", "cat", "deer",
                   "dog", "frog", "horse", "ship", "truck")
CIFAR10_NORMALIZATION = Normalization(
    scale=1 / 255, mean=(0.4914, 0.4822, 0.4465), std=(0.2470, 0.2435, 0.2616)
)
_TRAIN_BATCHES = tuple(f"data_batch_{i}" for i in range(1, 6))


@register_task("cifar10")
def load_cifar10(argument: str | os.PathLike | None = None, *, seed: int = 0,
                 val_fraction: float = 0.2) -> Task:
    """Full CIFAR-10 from a batches folder (argument or ``$NASFORGE_CIFAR10``), else the subset."""
    folder = argument or os.environ.get(CIFAR10_ENV)
    if not folder:
        return load_cifar10_subset(seed=seed, val_fraction=val_fraction)
    x, y, x_test, y_test = read_cifar10_batches(folder)
    return _task("cifar10", x, y, x_test, y_test, seed, val_fraction)


@register_task("cifar10-subset")
def load_cifar10_subset(argument: str | None = None, *, seed: int = 0,
                        val_fraction: float = 0.2) -> Task:
    """The 4,660 / 846-image subset ``cifar10-subset.npz`` from the data directory; an argument
    (``16`` or ``8``) is the side its images are average-pooled to."""
    side = _pooled_side(argument)
    path = data_file("cifar10-subset.npz", "the cifar10 task (without $NASFORGE_CIFAR10)")
    try:
        with np.load(path, allow_pickle=False) as data:
            arrays = [data[key] for key in ("x_train", "y_train", "x_test", "y_test")]
    except (OSError, ValueError, KeyError) as error:  # object arrays need pickle, which is refused
        raise TaskDataError(f"{path} is not a readable CIFAR-10 subset: {error}") from None
    if side == 32:
        return _task("cifar10-subset", *arrays, seed, val_fraction)
    x, y, x_test, y_test = arrays
    return _task(f"cifar10-subset-{side}px", _pool(x, side), y, _pool(x_test, side), y_test, seed, val_fraction)


#: the sides ``cifar10-subset:SIDE`` accepts (32 / SIDE-pixel squares are averaged)
POOLED_SIDES = (8, 16, 32)


def _pooled_side(argument: str | None) -> int:
    if argument is None:
        return 32
    try:
        side = int(argument)
    except ValueError:
        side = -1
    if side not in POOLED_SIDES:
        raise ValueError(f"cifar10-subset:{argument}: the argument is the pooled image side, one of "
                         f"{', '.join(map(str, POOLED_SIDES))} (e.g. cifar10-subset:16)")
    return side


def _pool(x: np.ndarray, side: int) -> np.ndarray:
    """``(N, 3, 32, 32)`` images averaged over ``32 // side`` squares: ``(N, 3, side, side)`` float32."""
    f = 32 // side
    return np.ascontiguousarray(x.reshape(len(x), 3, side, f, side, f).astype(np.float32).mean((3, 5)))


def read_cifar10_batches(folder: str | os.PathLike) -> tuple[np.ndarray, ...]:
    """``(x_train, y_train, x_test, y_test)`` as uint8 ``(N, 3, 32, 32)`` and int64 labels."""
    folder = Path(folder).expanduser()
    names = (*_TRAIN_BATCHES, "test_batch")
    missing = [name for name in names if not (folder / name).is_file()]
    if missing:
        raise MissingDataError(
            f"CIFAR-10 folder {folder} lacks {', '.join(missing)}; point {CIFAR10_ENV} (or "
            "cifar10:PATH) at the extracted cifar-10-batches-py folder of the official python version"
        )
    parts = [_read_batch(folder / name) for name in names]
    x = np.concatenate([p[0] for p in parts[:-1]])
    y = np.concatenate([p[1] for p in parts[:-1]])
    return x, y, *parts[-1]


def _read_batch(path: Path) -> tuple[np.ndarray, np.ndarray]:
    # The official format is a pickle: read with an unpickler that admits only NumPy arrays and
    # plain values, so a crafted batch is refused before any of it runs (see safe_pickle).
    try:
        batch = load_cifar_pickle(path)
    except TaskDataError:
        raise
    except Exception as error:  # noqa: BLE001 - any failure means "not a CIFAR-10 batch"
        raise TaskDataError(f"{path} is not a CIFAR-10 python batch: {error}") from None
    return _check_batch(path, batch)


def _check_batch(path: Path, batch: object) -> tuple[np.ndarray, np.ndarray]:
    """``(x, y)`` of an unpickled batch: uint8 ``(N, 3, 32, 32)`` and int64 labels in [0, 10)."""
    def entry(key: str) -> object:
        for k in (key.encode(), key):
            if k in batch:
                return batch[k]
        raise TaskDataError(f"{path} is not a CIFAR-10 python batch: it has no {key!r} entry "
                            f"(found {sorted(map(repr, batch))})")

    if not isinstance(batch, dict):
        raise TaskDataError(f"{path} is not a CIFAR-10 python batch: it holds a {type(batch).__name__}, "
                            "not a dict with 'data' and 'labels'")
    data, labels = entry("data"), entry("labels")
    shape_ok = isinstance(data, np.ndarray) and data.ndim == 2 and data.shape[1] == 3 * 32 * 32
    if not shape_ok or data.dtype.kind not in "iu":
        what = (f"a {data.dtype} array of shape {data.shape}" if isinstance(data, np.ndarray)
                else f"a {type(data).__name__}")
        raise TaskDataError(f"{path}: 'data' is {what}; a CIFAR-10 batch holds uint8 images of shape (N, 3072)")
    if data.size and (data.min() < 0 or data.max() > 255):
        raise TaskDataError(f"{path}: 'data' holds values outside 0..255")
    if not isinstance(labels, (list, tuple, np.ndarray)) or not all(
            isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in labels):
        raise TaskDataError(f"{path}: 'labels' must be a list of integer class indices")
    if len(labels) != len(data):
        raise TaskDataError(f"{path}: {len(data)} images but {len(labels)} labels")
    outside = [int(v) for v in labels if not 0 <= v < len(CIFAR10_CLASSES)]
    if outside:
        raise TaskDataError(f"{path}: labels outside 0..9 (found {outside[:5]})")
    return data.astype(np.uint8).reshape(-1, 3, 32, 32), np.asarray(labels, dtype=np.int64).reshape(-1)


def _task(name: str, x: np.ndarray, y: np.ndarray, x_test: np.ndarray, y_test: np.ndarray,
          seed: int, val_fraction: float) -> Task:
    return task_from_arrays(
        x, y, x_test=x_test, y_test=y_test, name=name, num_classes=10, class_names=CIFAR10_CLASSES,
        seed=seed, val_fraction=val_fraction, layout="NCHW", normalization=CIFAR10_NORMALIZATION,
    )
