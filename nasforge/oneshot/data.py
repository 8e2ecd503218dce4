"""Data plumbing shared by the one-shot methods: tensors, seeded batches, optimisers, accuracy.

Weights train on the task's train split, architecture parameters and selection use its
validation split; the test split is never read. Training batches get random horizontal flips
(images only, drawn from the method's generator).

Devices: the splits stay on the CPU and every random draw comes from the method's CPU
generator, so a run draws the same batches on any device; each batch is moved to the run's
``device`` as it is yielded (``Tensor.to`` returns the tensor itself when it is already there,
so CPU runs are unchanged).
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch
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
        return self.scored("val", limit)

    def scored(self, split: str = "val", limit: int = 0) -> tuple[Tensor, Tensor]:
        """The samples a supernet's archs are scored on (:data:`EVAL_SPLITS`): the validation
        split (``val``), or it followed by the training split (``train+val``); the first ``limit``
        of them (all if 0)."""
        if split == "val":
            x, y = self.x_val, self.y_val
        elif split == "train+val":
            x, y = torch.cat([self.x_val, self.x_train]), torch.cat([self.y_val, self.y_train])
        else:
            raise ValueError(f"split must be one of {EVAL_SPLITS}, got {split!r}")
        n = len(x) if limit <= 0 else min(limit, len(x))
        return x[:n], y[:n]


#: what :meth:`SplitTensors.scored` can score on
EVAL_SPLITS = ("val", "train+val")


def setup_torch(settings: OneShotSettings) -> torch.Generator:
    """Seed torch, pin threads if asked, and return the method's generator."""
    if settings.threads:
        torch.set_num_threads(settings.threads)
    torch.manual_seed(settings.seed)
    return torch.Generator().manual_seed(settings.seed)


def batches(x: Tensor, y: Tensor, batch_size: int, gen: torch.Generator, fraction: float = 1.0,
            flip: bool = True, device: str | torch.device = "cpu") -> Iterator[tuple[Tensor, Tensor]]:
    """One epoch of shuffled batches on ``device`` (a ``fraction`` of them; no batch smaller than 2)."""
    order = torch.randperm(len(x), generator=gen)
    count = max(1, math.ceil(fraction * math.ceil(len(x) / batch_size)))
    for b in range(count):
        idx = order[b * batch_size:(b + 1) * batch_size]
        if len(idx) < 2:
            return
        yield (_flipped(x[idx], gen) if flip else x[idx]).to(device), y[idx].to(device)


class Cycle:
    """Endless shuffled batches (the validation stream of bilevel methods): :func:`batches`
    epoch after epoch, drawing from ``gen`` exactly as chaining them would, with a state
    (``state_dict`` / ``load_state_dict``) so a resumed run continues mid-permutation; batches
    come on ``device``."""

    def __init__(self, x: Tensor, y: Tensor, batch_size: int, gen: torch.Generator,
                 device: str | torch.device = "cpu") -> None:
        self.x, self.y, self.batch_size, self.gen, self.device = x, y, batch_size, gen, device
        self.order: Tensor | None = None  # the current permutation; drawn on the first batch
        self.index = 0

    def __iter__(self) -> Cycle:
        return self

    def __next__(self) -> tuple[Tensor, Tensor]:
        while True:
            if self.order is None:
                self.order = torch.randperm(len(self.x), generator=self.gen)
                self.index = 0
            idx = self.order[self.index * self.batch_size:(self.index + 1) * self.batch_size]
            self.index += 1
            if len(idx) < 2:  # past the end (or a last batch of one): the next permutation
                self.order = None
                continue
            return _flipped(self.x[idx], self.gen).to(self.device), self.y[idx].to(self.device)

    def state_dict(self) -> dict[str, object]:
        return {"order": self.order, "index": self.index}

    def load_state_dict(self, state: dict[str, object]) -> None:
        self.order, self.index = state["order"], int(state["index"])  # type: ignore[assignment, arg-type]


def _flipped(xb: Tensor, gen: torch.Generator) -> Tensor:
    """Images flipped horizontally at random (one draw per image from ``gen``); others as given."""
    if xb.dim() != 4:
        return xb
    mask = torch.rand(len(xb), generator=gen) < 0.5
    return torch.where(mask[:, None, None, None], xb.flip(-1), xb)


def calibration_batches(x: Tensor, count: int, batch_size: int, seed: int,
                        device: str | torch.device = "cpu") -> list[Tensor]:
    """The same ``count`` training batches for every arch (fair BN recalibration), on ``device``."""
    order = torch.randperm(len(x), generator=torch.Generator().manual_seed(seed))
    return [x[order[i * batch_size:(i + 1) * batch_size]].to(device) for i in range(count)
            if len(order[i * batch_size:(i + 1) * batch_size]) > 1]


def weight_optimizer(params: list[nn.Parameter], settings: OneShotSettings,
                     steps: int) -> tuple[torch.optim.Optimizer, torch.optim.lr_scheduler.LRScheduler]:
    """SGD with Nesterov-free momentum (DARTS, SPOS), or AdamW with ``settings.optimizer ==
    "adamw"`` (AutoFormer's transformer supernets), and a cosine schedule over ``steps``."""
    if getattr(settings, "optimizer", "sgd") == "adamw":
        opt: torch.optim.Optimizer = torch.optim.AdamW(params, lr=settings.lr, weight_decay=settings.weight_decay)
    else:
        opt = torch.optim.SGD(params, lr=settings.lr, momentum=settings.momentum, weight_decay=settings.weight_decay)
    return opt, torch.optim.lr_scheduler.CosineAnnealingLR(opt, max(1, steps), eta_min=settings.lr * 0.01)


def device_of(module: nn.Module) -> torch.device:
    """The device of ``module``'s parameters (the CPU for a module without any)."""
    return next((p.device for p in module.parameters()), torch.device("cpu"))


def steps_per_epoch(n: int, settings: OneShotSettings) -> int:
    """Batches per epoch under ``settings.data_fraction``."""
    return max(1, math.ceil(settings.data_fraction * math.ceil(n / settings.batch_size)))


def flat(logits: Tensor, y: Tensor) -> tuple[Tensor, Tensor]:
    """Logits and targets as ``(samples, classes)`` and ``(samples,)``: a sequence task's
    ``(N, T, V)`` logits and ``(N, T)`` next tokens become one sample per token (classification
    unchanged), so the one-shot losses and hit counts take both kinds of task."""
    if logits.dim() == 3:
        return logits.flatten(0, 1), y.flatten()
    return logits, y
