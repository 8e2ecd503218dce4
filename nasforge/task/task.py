"""Task: a supervised classification problem with train / validation / test splits.

Arrays are NumPy. A task has one of two kinds:

- ``classification`` (the default): inputs float32 shaped ``(N, *input_shape)`` (channels
  first), one int64 label per row in ``[0, num_classes)``;
- ``sequence`` (next-token prediction, :mod:`nasforge.task.text`): inputs int64 token ids shaped
  ``(N, T)`` (``T`` the context length), targets int64 ``(N, T)``, the next token at every
  position, all in ``[0, num_classes)`` (``num_classes`` is the vocabulary size). A network
  maps ``(B, T)`` token ids to ``(B, T, num_classes)`` logits. ``class_names``, when given, is
  the vocabulary: the text of token ``i`` (empty for byte-level tokens, where token ``i`` is
  byte ``i``).

The test split is never used for selection: searches see train and validation; only the final
retrained model is scored on test.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from nasforge.task.normalize import Normalization

#: fewest rows a split may have (a training batch of one breaks BatchNorm; one row is no estimate)
MIN_SPLIT_ROWS = 2
#: most classes a task may have: a larger count comes from a label that is not a class index, and the
#: classifier layer grows with it (10**9 classes: hundreds of gigabytes)
MAX_CLASSES = 100_000
#: task kinds (``Task.kind``)
CLASSIFICATION = "classification"
SEQUENCE = "sequence"
KINDS = (CLASSIFICATION, SEQUENCE)


class TaskDataError(ValueError):
    """Data of the wrong shape, type or label range; the message names the array."""


def check_num_classes(k: object, name: str) -> None:
    """Refuse a class count that is not an integer in ``[2, MAX_CLASSES]``."""
    if isinstance(k, bool) or not isinstance(k, int | np.integer) or not 2 <= k <= MAX_CLASSES:
        raise TaskDataError(f"task {name!r}: num_classes={k!r}; expected an integer from 2 (a classifier needs two "
                            f"classes) to {MAX_CLASSES:,}")


@dataclass(frozen=True, eq=False)
class Task:
    """A classification or sequence task with fixed splits (see the module docstring).

    ``normalization``, when known, maps raw channels-first inputs to the arrays stored here, so a
    deployed model can preprocess new data the same way.
    """

    name: str
    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    num_classes: int
    class_names: tuple[str, ...] = field(default=())
    normalization: Normalization | None = None
    kind: str = CLASSIFICATION

    def __post_init__(self) -> None:
        check_num_classes(self.num_classes, self.name)
        if self.kind not in KINDS:
            raise TaskDataError(f"task {self.name!r}: kind={self.kind!r}; expected one of {', '.join(KINDS)}")
        splits = {"train": (self.x_train, self.y_train), "val": (self.x_val, self.y_val),
                  "test": (self.x_test, self.y_test)}
        for split, (x, y) in splits.items():
            if not isinstance(x, np.ndarray) or not isinstance(y, np.ndarray):
                raise TaskDataError(f"task {self.name!r}: x_{split} and y_{split} must be NumPy arrays")
        if self.kind == SEQUENCE:
            self._check_sequences(splits)
        else:
            self._check_classification(splits)
        if self.class_names and len(self.class_names) != self.num_classes:
            raise TaskDataError(
                f"task {self.name!r}: {len(self.class_names)} class_names for num_classes={self.num_classes}"
            )

    def _check_classification(self, splits: dict[str, tuple[np.ndarray, np.ndarray]]) -> None:
        shape = None
        for split, (x, y) in splits.items():
            if x.ndim < 2:
                raise TaskDataError(f"task {self.name!r}: x_{split} has shape {x.shape}; expected (N, *input_shape)")
            if y.ndim != 1 or len(y) != len(x):
                raise TaskDataError(
                    f"task {self.name!r}: y_{split} has shape {y.shape} but x_{split} has {len(x)} rows; "
                    "expected one integer label per row"
                )
            if len(x) == 0:
                raise TaskDataError(f"task {self.name!r}: split {split!r} is empty")
            if len(x) < MIN_SPLIT_ROWS:
                raise TaskDataError(f"task {self.name!r}: split {split!r} has {len(x)} row(s); each split needs "
                                    f"at least {MIN_SPLIT_ROWS}")
            if shape is None:
                shape = x.shape[1:]
            elif x.shape[1:] != shape:
                raise TaskDataError(f"task {self.name!r}: x_{split} has input shape {x.shape[1:]}, x_train has {shape}")
            if x.dtype != np.float32:
                raise TaskDataError(f"task {self.name!r}: x_{split} is {x.dtype}; expected float32")
            if y.dtype != np.int64:
                raise TaskDataError(f"task {self.name!r}: y_{split} is {y.dtype}; expected int64")
            if not np.isfinite(x).all():
                raise TaskDataError(f"task {self.name!r}: x_{split} contains NaN or infinite values")
            if y.min() < 0 or y.max() >= self.num_classes:
                raise TaskDataError(
                    f"task {self.name!r}: y_{split} has labels in [{y.min()}, {y.max()}], "
                    f"outside [0, {self.num_classes - 1}] for num_classes={self.num_classes}"
                )
        present = np.unique(self.y_train)
        if len(present) < 2:
            raise TaskDataError(f"task {self.name!r}: y_train holds a single class ({present[0]}); a classifier "
                                "needs examples of at least 2 classes")

    def _check_sequences(self, splits: dict[str, tuple[np.ndarray, np.ndarray]]) -> None:
        if self.normalization is not None:
            raise TaskDataError(f"task {self.name!r}: a sequence task's token ids take no normalization")
        length = None
        for split, (x, y) in splits.items():
            if x.ndim != 2:
                raise TaskDataError(f"task {self.name!r}: x_{split} has shape {x.shape}; a sequence task expects "
                                    "(N, T) token ids")
            if y.shape != x.shape:
                raise TaskDataError(f"task {self.name!r}: y_{split} has shape {y.shape} but x_{split} has {x.shape}; "
                                    "expected the next token at every position")
            if len(x) < MIN_SPLIT_ROWS:
                raise TaskDataError(f"task {self.name!r}: split {split!r} has {len(x)} window(s); each split needs "
                                    f"at least {MIN_SPLIT_ROWS}")
            if length is None:
                length = x.shape[1]
            elif x.shape[1] != length:
                raise TaskDataError(f"task {self.name!r}: x_{split} has context length {x.shape[1]}, x_train has "
                                    f"{length}")
            for array, what in ((x, f"x_{split}"), (y, f"y_{split}")):
                if array.dtype != np.int64:
                    raise TaskDataError(f"task {self.name!r}: {what} is {array.dtype}; a sequence task expects int64 "
                                        "token ids")
                if array.min() < 0 or array.max() >= self.num_classes:
                    raise TaskDataError(
                        f"task {self.name!r}: {what} has token ids in [{array.min()}, {array.max()}], outside "
                        f"[0, {self.num_classes - 1}] for a vocabulary of num_classes={self.num_classes}"
                    )
        if len(np.unique(self.y_train)) < 2:
            raise TaskDataError(f"task {self.name!r}: y_train holds a single token; next-token prediction needs "
                                "at least 2")

    @property
    def is_sequence(self) -> bool:
        """Whether this is a next-token (sequence) task rather than a classification task."""
        return self.kind == SEQUENCE

    @property
    def input_shape(self) -> tuple[int, ...]:
        """Shape of one input, channels first (e.g. ``(1, 40)`` or ``(3, 32, 32)``)."""
        return tuple(self.x_train.shape[1:])

    def __repr__(self) -> str:
        if self.is_sequence:
            return (f"Task({self.name!r}, sequence, context={self.input_shape[0]}, vocabulary={self.num_classes}, "
                    f"train={len(self.x_train)}, val={len(self.x_val)}, test={len(self.x_test)})")
        return (f"Task({self.name!r}, input_shape={self.input_shape}, classes={self.num_classes}, "
                f"train={len(self.x_train)}, val={len(self.x_val)}, test={len(self.x_test)})")
