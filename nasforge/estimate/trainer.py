"""A small, deterministic supervised trainer shared by the training evaluator and retraining.

Recipe: AdamW or SGD with a one-cycle learning-rate schedule, label smoothing and optional
random-shift augmentation. Everything random flows from ``recipe.seed`` through a
``torch.Generator``; results are reproducible on the same machine and thread count.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor, nn

from nasforge.estimate.base import NonFiniteMetricError


@dataclass(frozen=True)
class Recipe:
    """Training settings. ``epochs`` is the fidelity of an evaluation."""

    epochs: int = 15
    batch_size: int = 128
    lr: float = 0.01
    weight_decay: float = 0.01
    optimizer: str = "adamw"
    label_smoothing: float = 0.05
    shift: int = 0
    seed: int = 0

    def __post_init__(self) -> None:
        if self.epochs < 1:
            raise ValueError(f"epochs must be >= 1, got {self.epochs}")
        if self.batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {self.batch_size}")
        if not self.lr > 0:
            raise ValueError(f"lr must be > 0, got {self.lr}")
        if self.shift < -1:
            raise ValueError(f"shift must be >= 0 (or -1 for the task's default), got {self.shift}")
        if self.optimizer not in ("adamw", "sgd"):
            raise ValueError(f"optimizer must be 'adamw' or 'sgd', got {self.optimizer!r}")


def as_tensors(x: np.ndarray, y: np.ndarray) -> tuple[Tensor, Tensor]:
    """Float inputs and int64 labels as torch tensors (no copy where possible)."""
    return torch.from_numpy(np.ascontiguousarray(x)), torch.from_numpy(np.ascontiguousarray(y))


def _random_shift(xb: Tensor, max_shift: int, gen: torch.Generator) -> Tensor:
    """Roll each batch along its last axis by up to ``max_shift`` positions."""
    if max_shift <= 0:  # -1 ("task default") is resolved by the evaluator before training
        return xb
    shift = int(torch.randint(-max_shift, max_shift + 1, (1,), generator=gen))
    return torch.roll(xb, shifts=shift, dims=-1)


def fit(model: nn.Module, x: Tensor, y: Tensor, recipe: Recipe) -> float:
    """Train ``model`` in place; returns the mean training loss of the last epoch.

    Raises :class:`NonFiniteMetricError` as soon as the loss becomes NaN or infinite.
    """
    torch.manual_seed(recipe.seed)
    gen = torch.Generator().manual_seed(recipe.seed)
    params = [p for p in model.parameters() if p.requires_grad]
    if recipe.optimizer == "adamw":
        opt: torch.optim.Optimizer = torch.optim.AdamW(params, lr=recipe.lr, weight_decay=recipe.weight_decay)
    else:
        opt = torch.optim.SGD(params, lr=recipe.lr, momentum=0.9, nesterov=True, weight_decay=recipe.weight_decay)
    steps_per_epoch = math.ceil(len(x) / recipe.batch_size)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=recipe.lr, total_steps=recipe.epochs * steps_per_epoch)
    loss_fn = nn.CrossEntropyLoss(label_smoothing=recipe.label_smoothing)
    last = float("nan")
    for epoch in range(recipe.epochs):
        model.train()
        order = torch.randperm(len(x), generator=gen)
        total, count = 0.0, 0
        for start in range(0, len(x), recipe.batch_size):
            idx = order[start:start + recipe.batch_size]
            if len(idx) < 2 and len(x) >= 2:
                continue  # a batch of one breaks BatchNorm
            xb = _random_shift(x[idx], recipe.shift, gen)
            loss = loss_fn(model(xb), y[idx])
            if not torch.isfinite(loss):
                raise NonFiniteMetricError(f"training loss became {loss.item()} at epoch {epoch + 1}")
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            total += loss.item() * len(idx)
            count += len(idx)
        last = total / max(count, 1)
    return last


@torch.no_grad()
def accuracy(model: nn.Module, x: Tensor, y: Tensor, batch_size: int = 1024) -> tuple[float, float]:
    """(accuracy, mean cross-entropy loss) of ``model`` on ``x, y`` in eval mode."""
    model.eval()
    correct, loss_sum = 0, 0.0
    for start in range(0, len(x), batch_size):
        logits = model(x[start:start + batch_size])
        target = y[start:start + batch_size]
        correct += int((logits.argmax(1) == target).sum())
        loss_sum += float(nn.functional.cross_entropy(logits, target, reduction="sum"))
    return correct / len(x), loss_sum / len(x)
