"""Data plumbing shared by the one-shot methods: tensors, seeded batches, optimisers, accuracy.

Weights train on the task's train split, architecture parameters and selection use its
validation split; the test split is never read. Training batches get random horizontal flips
(images only, drawn from the method's generator).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F
from torch import Tensor, nn

if TYPE_CHECKING:
    from nasforge.oneshot.base import OneShotSettings
    from nasforge.task.task import Task


@dataclass(frozen=True)
class SplitTensors:
    """Train and validation splits of a task as tensors."""

    x_train: Tensor
    y_train: Tensor
    x_val: Tensor
    y_val: Tensor

    @classmethod
    def of(cls, task: Task) -> SplitTensors:
        from nasforge.estimate.trainer import as_tensors

        return cls(*as_tensors(task.x_train, task.y_train), *as_tensors(task.x_val, task.y_val))

    def val(self, limit: int = 0) -> tuple[Tensor, Tensor]:
        """The validation split, or its first ``limit`` samples."""
        n = len(self.x_val) if limit <= 0 else min(limit, len(self.x_val))
        return self.x_val[:n], self.y_val[:n]


def setup_torch(settings: OneShotSettings) -> torch.Generator:
    """Seed torch, pin threads if asked, and return the method's generator."""
    if settings.threads:
        torch.set_num_threads(settings.threads)
    torch.manual_seed(settings.seed)
    return torch.Generator().manual_seed(settings.seed)


def batches(x: Tensor, y: Tensor, batch_size: int, gen: torch.Generator, fraction: float = 1.0,
            flip: bool = True) -> Iterator[tuple[Tensor, Tensor]]:
    """One epoch of shuffled batches (a ``fraction`` of them; no batch smaller than 2)."""
    order = torch.randperm(len(x), generator=gen)
    count = max(1, math.ceil(fraction * math.ceil(len(x) / batch_size)))
    for b in range(count):
        idx = order[b * batch_size:(b + 1) * batch_size]
        if len(idx) < 2:
            return
        xb = x[idx]
        if flip and xb.dim() == 4:
            mask = torch.rand(len(idx), generator=gen) < 0.5
            xb = torch.where(mask[:, None, None, None], xb.flip(-1), xb)
        yield xb, y[idx]


def cycle(x: Tensor, y: Tensor, batch_size: int, gen: torch.Generator) -> Iterator[tuple[Tensor, Tensor]]:
    """Endless shuffled batches (the validation stream of bilevel methods)."""
    while True:
        yield from batches(x, y, batch_size, gen)


def calibration_batches(x: Tensor, count: int, batch_size: int, seed: int) -> list[Tensor]:
    """The same ``count`` training batches for every arch (fair BN recalibration)."""
    order = torch.randperm(len(x), generator=torch.Generator().manual_seed(seed))
    return [x[order[i * batch_size:(i + 1) * batch_size]] for i in range(count)
            if len(order[i * batch_size:(i + 1) * batch_size]) > 1]


def weight_optimizer(params: list[nn.Parameter], settings: OneShotSettings,
                     steps: int) -> tuple[torch.optim.Optimizer, torch.optim.lr_scheduler.LRScheduler]:
    """SGD with Nesterov-free momentum and a cosine schedule over ``steps`` (DARTS, SPOS)."""
    opt = torch.optim.SGD(params, lr=settings.lr, momentum=settings.momentum,
                          weight_decay=settings.weight_decay)
    return opt, torch.optim.lr_scheduler.CosineAnnealingLR(opt, max(1, steps), eta_min=settings.lr * 0.01)


def steps_per_epoch(n: int, settings: OneShotSettings) -> int:
    """Batches per epoch under ``settings.data_fraction``."""
    return max(1, math.ceil(settings.data_fraction * math.ceil(n / settings.batch_size)))


@torch.no_grad()
def accuracy(forward: Callable[[Tensor], Tensor], x: Tensor, y: Tensor,
             batch_size: int = 256) -> tuple[float, float]:
    """(accuracy, mean cross-entropy) of ``forward`` on ``x, y``."""
    correct, loss = 0, 0.0
    for start in range(0, len(x), batch_size):
        logits = forward(x[start:start + batch_size])
        target = y[start:start + batch_size]
        correct += int((logits.argmax(1) == target).sum())
        loss += float(F.cross_entropy(logits, target, reduction="sum"))
    return correct / len(x), loss / len(x)
