"""A small, deterministic supervised trainer shared by the training evaluator and retraining.

Recipe: AdamW or SGD with a one-cycle learning-rate schedule, label smoothing and optional
random-shift augmentation, mixup (Zhang et al. 2018), dropout before the classifier, an
exponential moving average of the weights (EMA) and a training-data fraction (a fidelity).
These are the recipe decisions FBNetV3 searches jointly with the architecture (Dai et al.
2021). Everything random flows from ``recipe.seed`` through a ``torch.Generator``; results are
reproducible on the same machine and thread count. ``fit(..., on_epoch=fn)`` calls
``fn(epoch, model)`` after every epoch; a true return value stops training (learning-curve
early stopping, :mod:`nasforge.estimate.curves`).

Sequence tasks (next-token prediction, :mod:`nasforge.task.text`) train the same way: targets
``(N, T)``, logits ``(N, T, V)``, the loss the mean cross-entropy over every token; mixup and
random shifts would corrupt token ids or misalign targets, so they are refused there.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from nasforge.estimate.base import NonFiniteMetricError
from nasforge.estimate.recipe import Recipe


def as_tensors(x: np.ndarray, y: np.ndarray) -> tuple[Tensor, Tensor]:
    """Float inputs and int64 labels as torch tensors (no copy where possible)."""
    return torch.from_numpy(np.ascontiguousarray(x)), torch.from_numpy(np.ascontiguousarray(y))


def _random_shift(xb: Tensor, max_shift: int, gen: torch.Generator) -> Tensor:
    """Roll each batch along its last axis by up to ``max_shift`` positions."""
    if max_shift <= 0:  # -1 ("task default") is resolved by the evaluator before training
        return xb
    shift = int(torch.randint(-max_shift, max_shift + 1, (1,), generator=gen))
    return torch.roll(xb, shifts=shift, dims=-1)


def _classifier_dropout(model: nn.Module, p: float) -> Any:
    """Dropout on the input of the model's last ``nn.Linear`` (a hook: the state dict is unchanged)."""
    linears = [m for m in model.modules() if isinstance(m, nn.Linear)]
    if p <= 0 or not linears:
        return None
    return linears[-1].register_forward_pre_hook(
        lambda mod, args: (nn.functional.dropout(args[0], p, mod.training), *args[1:]))


def fit(model: nn.Module, x: Tensor, y: Tensor, recipe: Recipe,
        on_epoch: Callable[[int, nn.Module], bool] | None = None) -> float:
    """Train ``model`` in place; returns the mean training loss of the last epoch.

    Raises :class:`NonFiniteMetricError` as soon as the loss becomes NaN or infinite. With
    ``recipe.ema`` the model ends with the averaged weights (and ``on_epoch`` sees the raw ones).
    """
    if y.dim() == 2 and (recipe.mixup > 0 or recipe.shift > 0):
        raise ValueError(f"a sequence (next-token) task cannot train with mixup={recipe.mixup} or shift={recipe.shift}: "
                         "mixing or shifting token ids corrupts them; set both to 0")
    torch.manual_seed(recipe.seed)
    gen = torch.Generator().manual_seed(recipe.seed)
    if recipe.data_fraction < 1:
        keep = torch.randperm(len(x), generator=torch.Generator().manual_seed(recipe.seed + 1))
        keep = keep[:max(2, round(recipe.data_fraction * len(x)))]
        x, y = x[keep], y[keep]
    mix_rng = np.random.default_rng(recipe.seed) if recipe.mixup > 0 else None
    hook = _classifier_dropout(model, recipe.dropout)
    ema = _EMA(model, recipe.ema) if recipe.ema > 0 else None
    params = [p for p in model.parameters() if p.requires_grad]
    if recipe.optimizer == "adamw":
        opt: torch.optim.Optimizer = torch.optim.AdamW(params, lr=recipe.lr, weight_decay=recipe.weight_decay)
    else:
        opt = torch.optim.SGD(params, lr=recipe.lr, momentum=0.9, nesterov=True, weight_decay=recipe.weight_decay)
    steps_per_epoch = math.ceil(len(x) / recipe.batch_size)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=recipe.lr, total_steps=recipe.epochs * steps_per_epoch)
    loss_fn = token_loss(nn.CrossEntropyLoss(label_smoothing=recipe.label_smoothing))
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
            if mix_rng is None:
                loss = loss_fn(model(xb), y[idx])
            else:
                lam = float(mix_rng.beta(recipe.mixup, recipe.mixup))
                perm = torch.randperm(len(idx), generator=gen)
                out = model(lam * xb + (1 - lam) * xb[perm])
                loss = lam * loss_fn(out, y[idx]) + (1 - lam) * loss_fn(out, y[idx][perm])
            if not torch.isfinite(loss):
                raise NonFiniteMetricError(f"training loss became {loss.item()} at epoch {epoch + 1}")
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            if ema is not None:
                ema.update()
            total += loss.item() * len(idx)
            count += len(idx)
        last = total / max(count, 1)
        if on_epoch is not None and on_epoch(epoch + 1, model):
            break
    if hook is not None:
        hook.remove()
    if ema is not None:
        ema.copy_to_model()
    return last


def token_loss(loss_fn: Callable[[Tensor, Tensor], Tensor]) -> Callable[[Tensor, Tensor], Tensor]:
    """``loss_fn`` that also takes sequence logits ``(N, T, V)`` with targets ``(N, T)`` (every
    token counts once)."""
    def loss(logits: Tensor, target: Tensor) -> Tensor:
        if logits.dim() == 3:
            return loss_fn(logits.flatten(0, 1), target.flatten())
        return loss_fn(logits, target)

    return loss


class _EMA:
    """Moving average of a model's floating-point parameters and buffers, with the usual warm-up
    ``decay_t = min(decay, (1 + t) / (10 + t))`` so short trainings are not pulled to the init."""

    def __init__(self, model: nn.Module, decay: float) -> None:
        self.decay = decay
        self.steps = 0
        self.live = [t for t in [*model.parameters(), *model.buffers()] if t.is_floating_point()]
        self.avg = [t.detach().clone() for t in self.live]

    @torch.no_grad()
    def update(self) -> None:
        decay = min(self.decay, (1 + self.steps) / (10 + self.steps))
        self.steps += 1
        for avg, live in zip(self.avg, self.live, strict=True):
            avg.lerp_(live.detach(), 1 - decay)

    @torch.no_grad()
    def copy_to_model(self) -> None:
        for live, avg in zip(self.live, self.avg, strict=True):
            live.copy_(avg)


@torch.no_grad()
def accuracy(forward: Callable[[Tensor], Tensor], x: Tensor, y: Tensor, batch_size: int = 1024) -> tuple[float, float]:
    """(accuracy, mean cross-entropy loss) of ``forward`` (a model or any callable) on ``x, y``,
    in batches of ``batch_size``. The model's mode is the caller's: set ``eval()`` first for
    running BN statistics (a supernet scored with batch statistics keeps ``train()``). For a
    sequence task (``y`` shaped ``(N, T)``) both are per token: next-token accuracy and the mean
    token cross-entropy, whose exponential is the perplexity."""
    correct, loss_sum = 0, 0.0
    for start in range(0, len(x), batch_size):
        logits = forward(x[start:start + batch_size])
        target = y[start:start + batch_size]
        if logits.dim() == 3:
            logits, target = logits.flatten(0, 1), target.flatten()
        correct += int((logits.argmax(1) == target).sum())
        loss_sum += float(nn.functional.cross_entropy(logits, target, reduction="sum"))
    return correct / y.numel(), loss_sum / y.numel()
