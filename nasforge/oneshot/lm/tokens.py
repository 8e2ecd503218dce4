"""Token windows of a sequence task, and the loss, perplexity and next-token accuracy of a model.

A sequence task (:mod:`nasforge.task.text`) holds int64 windows ``x`` ``(N, T)`` and their next
tokens ``y`` ``(N, T)``; a model here is any callable from ids ``(B, T)`` to logits
``(B, T, vocab)``. Perplexity is ``exp`` of the mean next-token cross-entropy over every
position of every window scored.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor


@dataclass(frozen=True)
class Windows:
    """Token windows ``x`` and next tokens ``y`` (int64 tensors ``(N, T)``)."""

    x: Tensor
    y: Tensor

    def head(self, n: int) -> Windows:
        """The first ``n`` windows (all when ``n`` is 0)."""
        return self if n <= 0 else Windows(self.x[:n], self.y[:n])

    def to(self, device: str | torch.device) -> Windows:
        return Windows(self.x.to(device), self.y.to(device))


def split_windows(task: Any, split: str, vocab_size: int | None = None) -> Windows:
    """The ``train``, ``val`` or ``test`` windows of a sequence task; ValueError for a task that
    is not one, or whose vocabulary is larger than the model's ``vocab_size``."""
    if getattr(task, "kind", None) != "sequence":
        raise ValueError(f"task {getattr(task, 'name', task)!r} is not a text (sequence) task; language-model "
                         "sub-networks need token windows, e.g. --task 'stdlib:level=byte'")
    if vocab_size is not None and int(task.num_classes) > vocab_size:
        raise ValueError(f"task {task.name!r} has {task.num_classes} tokens, more than the model's vocabulary of "
                         f"{vocab_size} (use level=byte for a byte-level model of 256 tokens)")
    x, y = getattr(task, f"x_{split}"), getattr(task, f"y_{split}")
    return Windows(torch.from_numpy(np.ascontiguousarray(x, dtype=np.int64)),
                   torch.from_numpy(np.ascontiguousarray(y, dtype=np.int64)))


def next_token_loss(logits: Tensor, targets: Tensor) -> Tensor:
    """Mean cross-entropy of ``logits`` ``(B, T, V)`` against ``targets`` ``(B, T)``."""
    return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1))


@torch.no_grad()
def score(model: Callable[[Tensor], Tensor], data: Windows, batch_size: int = 32) -> dict[str, float]:
    """``loss`` (mean next-token cross-entropy, nats), ``perplexity`` and ``accuracy`` (next
    token) of ``model`` over every position of ``data``."""
    total, correct, count = 0.0, 0, 0
    for start in range(0, len(data.x), batch_size):
        x, y = data.x[start: start + batch_size], data.y[start: start + batch_size]
        logits = model(x)
        total += float(F.cross_entropy(logits.reshape(-1, logits.shape[-1]), y.reshape(-1), reduction="sum"))
        correct += int((logits.argmax(-1) == y).sum())
        count += y.numel()
    if count == 0:
        raise ValueError("no windows to score")
    loss = total / count
    return {"loss": loss, "perplexity": math.exp(min(loss, 700.0)), "accuracy": correct / count}
