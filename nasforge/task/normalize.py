"""Per-channel input normalisation: a small frozen record, fitted on the train split."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

_CHUNK = 2048  # rows per chunk when fitting, so large uint8 datasets are never copied whole to float64


@dataclass(frozen=True)
class Normalization:
    """``x -> (x * scale - mean[c]) / std[c]`` along the channel axis (axis 1, channels first).

    A one-element ``mean``/``std`` applies to every channel; ``Normalization()`` is the identity.
    Kept on the :class:`~nasforge.task.Task` so exported models can preprocess new inputs alike.
    """

    scale: float = 1.0
    mean: tuple[float, ...] = (0.0,)
    std: tuple[float, ...] = (1.0,)

    def __post_init__(self) -> None:
        if len(self.mean) != len(self.std) or not self.mean:
            raise ValueError(f"mean {self.mean} and std {self.std} need the same, non-zero length")
        if not all(np.isfinite(v) for v in (self.scale, *self.mean, *self.std)):
            raise ValueError(f"scale, mean and std must be finite numbers, got {self.scale}, {self.mean}, {self.std}")
        if min(self.std) <= 0:
            raise ValueError(f"std must be positive, got {self.std}")

    @classmethod
    def fit(cls, x: np.ndarray, scale: float = 1.0) -> Normalization:
        """Per-channel mean/std of ``x * scale`` (channels-first ``x``); a constant channel gets std 1."""
        axes = (0, *range(2, x.ndim))
        count = x.size // x.shape[1]
        mean = x.mean(axis=axes, dtype=np.float64) * scale
        squares = np.zeros(x.shape[1])
        centre = mean.reshape((1, -1) + (1,) * (x.ndim - 2))
        for start in range(0, len(x), _CHUNK):
            part = x[start:start + _CHUNK].astype(np.float64) * scale - centre
            squares += np.square(part).sum(axis=axes)
        std = np.sqrt(squares / count)
        std[std < 1e-8] = 1.0
        return cls(scale=float(scale), mean=tuple(mean.tolist()), std=tuple(std.tolist()))

    def apply(self, x: np.ndarray) -> np.ndarray:
        """A new C-contiguous float32 array: ``x`` (channels first) normalised."""
        if len(self.mean) not in (1, x.shape[1]):
            raise ValueError(f"normalisation has {len(self.mean)} channels, input has {x.shape[1]}")
        shape = (1, -1) + (1,) * (x.ndim - 2)
        out = np.array(x, dtype=np.float32, order="C", copy=True)
        if self.scale != 1.0:
            out *= np.float32(self.scale)
        out -= np.asarray(self.mean, dtype=np.float32).reshape(shape)
        out /= np.asarray(self.std, dtype=np.float32).reshape(shape)
        return out
