"""Tiny spaces and tasks shared by the one-shot tests (8x8 inputs, a few channels; ``gpt`` on
8-token windows of a 6-token vocabulary)."""

from __future__ import annotations

import numpy as np

from nasforge.space.registry import get_space
from nasforge.task.task import Task


def tiny_spaces() -> dict[str, object]:
    return {
        "nb201": get_space("nb201", channels=4, cells=1),
        "macro": get_space("macro", stem=4, head=8),
        "mbconv": get_space("mbconv", widths=(8, 8), strides=(1, 2), depths=(1, 2), stem=8, head=8),
        "vit": get_space("vit", embed_dims=(8, 16), patch_sizes=(2, 4), depths=(1, 2), heads=(1, 2),
                         mlp_ratios=(1, 2), head_dim=4),
        "gpt": get_space("gpt", embed_dims=(8, 16), max_depth=2, heads=(1, 2), mlp_ratios=(1, 2), head_dim=4),
    }


def tiny_task_for(space: str) -> Task:
    """The tiny task of a space of :func:`tiny_spaces`: token windows for ``gpt``, images otherwise."""
    return tiny_text_task() if space == "gpt" else tiny_task()


def tiny_text_task(n: int = 48, context: int = 8, vocab: int = 6, seed: int = 0) -> Task:
    """Next-token windows of a stream that steps +1 or +2 (mod ``vocab``) at random: learnable."""
    rng = np.random.default_rng(seed)
    stream = np.cumsum(rng.integers(1, 3, size=n * context + 1)) % vocab
    x = np.stack([stream[i * context:(i + 1) * context] for i in range(n)]).astype(np.int64)
    y = np.stack([stream[i * context + 1:(i + 1) * context + 1] for i in range(n)]).astype(np.int64)
    half = n // 2
    return Task("tiny-text", x[:half], y[:half], x[half:], y[half:], x[:4], y[:4], vocab, kind="sequence")


def tiny_task(n: int = 48, hw: int = 8, classes: int = 3, seed: int = 0) -> Task:
    rng = np.random.default_rng(seed)
    templates = rng.standard_normal((classes, 3, hw, hw)).astype(np.float32)
    y = (np.arange(n) % classes).astype(np.int64)
    x = (templates[y] + rng.standard_normal((n, 3, hw, hw))).astype(np.float32)
    half = n // 2
    return Task("tiny", x[:half], y[:half], x[half:], y[half:], x[:4], y[:4], classes)
