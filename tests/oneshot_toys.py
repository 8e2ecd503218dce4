"""Tiny spaces and tasks shared by the one-shot tests (8x8 inputs, a few channels)."""

from __future__ import annotations

import numpy as np

from nasforge.space.registry import get_space
from nasforge.task.task import Task


def tiny_spaces() -> dict[str, object]:
    return {
        "nb201": get_space("nb201", channels=4, cells=1),
        "macro": get_space("macro", stem=4, head=8),
        "mbconv": get_space("mbconv", widths=(8, 8), strides=(1, 2), depths=(1, 2), stem=8, head=8),
    }


def tiny_task(n: int = 48, hw: int = 8, classes: int = 3, seed: int = 0) -> Task:
    rng = np.random.default_rng(seed)
    templates = rng.standard_normal((classes, 3, hw, hw)).astype(np.float32)
    y = (np.arange(n) % classes).astype(np.int64)
    x = (templates[y] + rng.standard_normal((n, 3, hw, hw))).astype(np.float32)
    half = n // 2
    return Task("tiny", x[:half], y[:half], x[half:], y[half:], x[:4], y[:4], classes)
