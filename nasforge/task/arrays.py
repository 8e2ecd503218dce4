"""Build a Task from in-memory arrays: the one code path for shapes, labels, splits and scaling.

Every built-in loader ends here, so all tasks follow the same rules:

- inputs become channels first by the layout rule of :mod:`nasforge.task.shapes`;
- uint8 inputs are scaled to [0, 1]; then every input is standardised per channel with the mean
  and std of the train split (a 1-D signal has one channel, so one mean/std), unless a fixed
  :class:`Normalization` is given. The statistics are taken after any test split is carved off
  and before the validation split is drawn, so they never see test data and do not vary with
  ``seed``;
- inputs must be finite and fit in float32; labels must be integers in ``[0, num_classes)`` (an
  integral float array is accepted); ``num_classes`` defaults to the largest label + 1, which
  may not exceed the number of labelled rows (a larger label is not a class index); train must
  hold at least two classes;
- a missing test split is carved from train first: a stratified ``TEST_FRACTION`` drawn with the
  fixed ``TEST_SEED``, so the test set does not move with the search seed; a missing validation
  split is then a stratified ``val_fraction`` of what is left, drawn from ``seed``. Every split
  must end with at least ``MIN_SPLIT_ROWS`` rows.

Bad data is refused here, before any network is built, with a message naming the array.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from nasforge.task.normalize import Normalization
from nasforge.task.shapes import infer_layout, to_channels_first
from nasforge.task.split import stratified_split
from nasforge.task.task import MIN_SPLIT_ROWS, Task, TaskDataError, check_num_classes

TEST_FRACTION = 0.2
TEST_SEED = 0
_SPLITS = ("train", "val", "test")
_FLOAT32_MAX = float(np.finfo(np.float32).max)


def task_from_arrays(
    x_train: Any,
    y_train: Any,
    x_val: Any = None,
    y_val: Any = None,
    x_test: Any = None,
    y_test: Any = None,
    *,
    name: str = "arrays",
    num_classes: int | None = None,
    class_names: tuple[str, ...] | list[str] = (),
    seed: int = 0,
    val_fraction: float = 0.2,
    layout: str | None = None,
    normalization: Normalization | None = None,
) -> Task:
    """A :class:`Task` from NumPy arrays or torch tensors (see the module docstring for the rules).

    ``layout`` (``"NL"``, ``"NCL"``, ``"NHW"``, ``"NCHW"``, ``"NHWC"``) overrides the inferred input
    layout; ``normalization`` replaces the train-split statistics (``Normalization()`` leaves the
    values as they are). Bad input raises :class:`TaskDataError` naming the array.
    """

    def fail(message: str) -> TaskDataError:
        return TaskDataError(f"task {name!r}: {message}")

    if not 0.0 < val_fraction < 1.0:
        raise ValueError(f"val_fraction must be in (0, 1), got {val_fraction}")
    if num_classes is not None:
        check_num_classes(num_classes, name)
    given = {"train": (x_train, y_train), "val": (x_val, y_val), "test": (x_test, y_test)}
    xs: dict[str, np.ndarray] = {}
    ys: dict[str, np.ndarray] = {}
    for split, (x, y) in given.items():
        if x is None and y is None:
            continue
        if x is None or y is None:
            have, lack = ("x", "y") if y is None else ("y", "x")
            raise fail(f"{have}_{split} is given without {lack}_{split}")
        xs[split] = _inputs(_to_numpy(x, f"x_{split}", fail), f"x_{split}", fail)
        ys[split] = _labels(_to_numpy(y, f"y_{split}", fail), f"y_{split}", fail)
        if len(xs[split]) != len(ys[split]):
            raise fail(f"x_{split} has {len(xs[split])} rows but y_{split} has {len(ys[split])}")
        if len(xs[split]) == 0:
            raise fail(f"x_{split} is empty")

    try:
        layout = layout or infer_layout(xs["train"].shape)
    except ValueError as error:
        raise fail(f"x_train {error}") from None
    for split, x in xs.items():
        try:
            xs[split] = to_channels_first(x, layout)
        except ValueError as error:
            raise fail(f"x_{split} {error}") from None
        if xs[split].shape[1:] != xs["train"].shape[1:]:
            raise fail(f"x_{split} has input shape {xs[split].shape[1:]}, x_train has {xs['train'].shape[1:]}")
        if (x.dtype == np.uint8) != (xs["train"].dtype == np.uint8):
            raise fail(f"x_{split} is {x.dtype} but x_train is {xs['train'].dtype}; give all splits one dtype")

    top = max(int(y.max()) for y in ys.values())
    present = np.unique(ys["train"])
    if len(present) < 2:
        raise fail(f"y_train holds a single class ({present[0]}); a classifier needs examples of at least 2 classes")
    if num_classes is None:
        rows = sum(len(y) for y in ys.values())
        if top >= rows:
            split = next(s for s in _SPLITS if s in ys and ys[s].max() == top)
            distinct = len(np.unique(np.concatenate(list(ys.values()))))
            raise fail(f"y_{split} has label {top}, but the {rows} labelled rows hold {distinct} distinct labels: "
                       f"the class count would be {top + 1:,} (the largest label + 1). Labels must be class "
                       "indices 0..K-1; np.unique(y, return_inverse=True)[1] renumbers them")
        num_classes = top + 1
    elif top >= num_classes:
        split = next(s for s in _SPLITS if s in ys and ys[s].max() == top)
        raise fail(f"y_{split} has label {top}, outside [0, {num_classes - 1}] for num_classes={num_classes}")
    class_names = tuple(str(c) for c in class_names)
    if class_names and len(class_names) != num_classes:
        raise fail(f"{len(class_names)} class_names for num_classes={num_classes}")

    rows_given = len(xs["train"])
    if "test" not in xs:
        _carve(xs, ys, "test", TEST_FRACTION, TEST_SEED, fail)
    if normalization is None:  # fitted before the val split is drawn, so it does not vary with seed
        scale = 1 / 255 if xs["train"].dtype == np.uint8 else 1.0
        normalization = Normalization.fit(xs["train"], scale)
    if "val" not in xs:
        _carve(xs, ys, "val", val_fraction, seed, fail)
    if any(len(xs[split]) < MIN_SPLIT_ROWS for split in _SPLITS):
        sizes = ", ".join(f"{split} {len(xs[split])}" for split in _SPLITS)
        carved = [name for split, name in (("test", "test"), ("val", "validation")) if given[split][0] is None]
        if carved:
            raise fail(f"too few rows: x_train's {rows_given} rows make {sizes} once the {' and '.join(carved)} "
                       f"split{'s are' if len(carved) > 1 else ' is'} held out; each split needs at least "
                       f"{MIN_SPLIT_ROWS} rows (give more rows, or x_val and x_test)")
        raise fail(f"too few rows: {sizes}; each split needs at least {MIN_SPLIT_ROWS} rows")
    try:
        out = {split: normalization.apply(xs[split]) for split in _SPLITS}
    except ValueError as error:
        raise fail(f"x_train {error}") from None
    return Task(
        name=name,
        x_train=out["train"], y_train=ys["train"],
        x_val=out["val"], y_val=ys["val"],
        x_test=out["test"], y_test=ys["test"],
        num_classes=num_classes, class_names=class_names, normalization=normalization,
    )


def _carve(xs: dict[str, np.ndarray], ys: dict[str, np.ndarray], split: str, fraction: float,
           seed: int, fail: Any) -> None:
    """Move a stratified ``fraction`` of the train rows into ``split``."""
    try:
        keep, held = stratified_split(ys["train"], fraction, seed=seed)
    except ValueError as error:
        raise fail(f"x_train is too small to split off a {split} set: {error}") from None
    xs[split], ys[split] = xs["train"][held], ys["train"][held]
    xs["train"], ys["train"] = xs["train"][keep], ys["train"][keep]


def _to_numpy(value: Any, key: str, fail: Any) -> np.ndarray:
    """``value`` as a NumPy array; torch is imported only when ``value`` comes from it."""
    if type(value).__module__.split(".")[0] == "torch":
        import torch

        if isinstance(value, torch.Tensor):
            value = value.detach().cpu()
            if value.dtype == torch.bfloat16:
                value = value.float()
            return value.numpy()
    try:
        return np.asarray(value)
    except (TypeError, ValueError) as error:
        raise fail(f"{key} is not an array: {error}") from None


def _inputs(x: np.ndarray, key: str, fail: Any) -> np.ndarray:
    if x.dtype.kind not in "biuf":
        raise fail(f"{key} has dtype {x.dtype}; expected numbers (uint8 images or floats)")
    if x.ndim < 2:
        raise fail(f"{key} has shape {x.shape}; expected (N, *input_shape)")
    if x.dtype.kind == "f" and not np.isfinite(x).all():
        raise fail(f"{key} contains {int((~np.isfinite(x)).sum())} NaN or infinite values")
    if x.size and x.dtype.kind == "f" and x.dtype.itemsize > 4:
        largest = float(np.abs(x).max())
        if largest > _FLOAT32_MAX:
            raise fail(f"{key} holds values up to {largest:.3g} in magnitude, beyond float32's "
                       f"{_FLOAT32_MAX:.3g}; rescale the inputs")
    return x


def _labels(y: np.ndarray, key: str, fail: Any) -> np.ndarray:
    if y.ndim != 1:
        hint = " (one-hot? pass y.argmax(1))" if y.ndim == 2 and y.shape[1] > 1 else ""
        raise fail(f"{key} has shape {y.shape}; expected 1-D integer class labels{hint}")
    if y.dtype.kind == "f":
        bad = ~np.isfinite(y) | (y != np.round(y))
        if bad.any():
            raise fail(f"{key} holds non-integer labels (e.g. {y[bad][0]}); expected integers in [0, K)")
    elif y.dtype.kind not in "biu":
        raise fail(f"{key} has dtype {y.dtype}; expected integer class labels in [0, K)")
    if len(y) and y.min() < 0:
        raise fail(f"{key} has negative labels (min {y.min()}); expected integers in [0, K)")
    return y.astype(np.int64)
