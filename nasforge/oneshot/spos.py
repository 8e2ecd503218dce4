"""Weight-sharing supernet training and search with inherited weights.

Training (:func:`train_supernet`), one SGD step per batch:

- ``uniform`` sampling (SPOS, Guo et al. 2020): one arch drawn uniformly from the space per
  step, cross-entropy on its path;
- ``sandwich`` sampling (BigNAS, Yu et al. 2020; OFA, Cai et al. 2020): per step the largest
  arch (cross-entropy), the smallest and ``num_random`` random archs, whose loss is the KL
  divergence to the largest's (detached) predictions when ``distill`` is on (in-place
  distillation), else cross-entropy; gradients of all paths add up before the step.

Search: the trained supernet becomes a :class:`~nasforge.oneshot.evaluator.SupernetEvaluator`
and any ask/tell strategy (``search_strategy``) runs ``search_trials`` trials over it through the
ordinary experiment loop; the loop lives above this layer, so the caller passes it in as
``search`` (:func:`nasforge.run.oneshot.search_supernet`). The methods: ``spos`` (uniform + evolution), ``sandwich`` (sandwich + evolution) and ``random-ws``
(uniform + random search: Li & Talwalkar 2019's random search with weight sharing).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from nasforge.oneshot.base import (
    EpochRecord,
    OneShotMethod,
    OneShotResult,
    OneShotSettings,
    register_method,
)
from nasforge.oneshot.data import (
    SplitTensors,
    batches,
    setup_torch,
    steps_per_epoch,
    weight_optimizer,
)
from nasforge.oneshot.supernet import Supernet, build_supernet

#: ``search(supernet, task, settings, strategy) -> (best arch, trials)``: a search over the
#: trained supernet with inherited weights (strategy ``None``: ``settings.search_strategy``).
SupernetSearch = Callable[[Supernet, Any, OneShotSettings, "str | None"], "tuple[Any, list[Any]]"]


def _step_paths(supernet: Supernet, settings: OneShotSettings, rng: np.random.Generator) -> list[Any]:
    space = supernet.space
    if settings.sampling == "uniform":
        return [space.sample(rng)]
    largest, smallest = supernet.extremes()
    return [largest, smallest, *(space.sample(rng) for _ in range(settings.num_random))]


def train_supernet(supernet: Supernet, data: SplitTensors, settings: OneShotSettings,
                   gen: torch.Generator, rng: np.random.Generator) -> list[EpochRecord]:
    """Train ``supernet``'s weights by path sampling (see the module docstring)."""
    steps = steps_per_epoch(len(data.x_train), settings)
    opt, sched = weight_optimizer(supernet.weight_parameters(), settings, settings.epochs * steps)
    records, start = [], time.perf_counter()
    for epoch in range(settings.epochs):
        supernet.train()
        losses = []
        for x, y in batches(data.x_train, data.y_train, settings.batch_size, gen, settings.data_fraction):
            opt.zero_grad(set_to_none=True)
            teacher = None
            for i, arch in enumerate(_step_paths(supernet, settings, rng)):
                logits = supernet(x, arch)
                if i == 0 or teacher is None:
                    loss = F.cross_entropy(logits, y)
                    if settings.sampling == "sandwich" and settings.distill:
                        teacher = F.softmax(logits.detach(), dim=1)
                    losses.append(float(loss.detach()))
                else:
                    loss = F.kl_div(F.log_softmax(logits, dim=1), teacher, reduction="batchmean")
                if not torch.isfinite(loss):
                    raise FloatingPointError(f"supernet loss became {float(loss)} at epoch {epoch + 1}")
                loss.backward()
            torch.nn.utils.clip_grad_norm_(supernet.weight_parameters(), settings.grad_clip)
            opt.step()
            sched.step()
        records.append(EpochRecord(epoch + 1, float(np.mean(losses)), time.perf_counter() - start, ""))
    return records


class WeightSharingMethod(OneShotMethod):
    """Train a supernet by path sampling, then search over it with inherited weights."""

    name = "spos"
    spaces = ("nb201", "macro", "mbconv")
    sampling: str | None = None
    strategy: str | None = None

    def __init__(self) -> None:
        pass

    def train(self, space: Any, task: Any, settings: OneShotSettings | None = None,
              search: SupernetSearch | None = None) -> OneShotResult:
        if search is None:
            raise ValueError(f"one-shot method {self.name!r} searches its trained supernet through the experiment "
                             "loop: run it with nasforge.run.oneshot.train_method (or pass search=...)")
        settings = settings or OneShotSettings()
        if self.sampling:
            settings = replace(settings, sampling=self.sampling)
        self._check_space(space)
        gen = setup_torch(settings)
        rng = np.random.default_rng(settings.seed)
        supernet = build_supernet(space, task, bn_affine=settings.bn_affine)
        supernet.generator = gen
        start = time.perf_counter()
        records = train_supernet(supernet, SplitTensors.of(task), settings, gen, rng)
        train_seconds = time.perf_counter() - start
        best, trials = search(supernet, task, settings, self.strategy)
        info = {"train_seconds": train_seconds, "search_seconds": time.perf_counter() - start - train_seconds,
                "best_supernet_accuracy": max(t.metrics.get("val_accuracy", 0.0) for t in trials),
                "trials": len(trials)}
        return OneShotResult(self.name, best, tuple(records), time.perf_counter() - start, settings,
                             info, supernet)


@register_method("spos")
class SPOS(WeightSharingMethod):
    """SPOS (Guo et al. 2020): uniform single-path training (unless ``settings.sampling``
    says otherwise), then ``settings.search_strategy`` (evolution) over the supernet."""

    name = "spos"


@register_method("sandwich")
class Sandwich(WeightSharingMethod):
    """OFA/BigNAS sandwich rule with in-place distillation, then evolution over the supernet."""

    name = "sandwich"
    sampling = "sandwich"


@register_method("random-ws")
class RandomWeightSharing(WeightSharingMethod):
    """Random search with weight sharing (Li & Talwalkar 2019): uniform training, random search."""

    name = "random-ws"
    sampling = "uniform"
    strategy = "random"
