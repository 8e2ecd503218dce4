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
ordinary :class:`~nasforge.experiment.experiment.Experiment` loop (in-memory storage). The
methods: ``spos`` (uniform + evolution), ``sandwich`` (sandwich + evolution) and ``random-ws``
(uniform + random search: Li & Talwalkar 2019's random search with weight sharing).
"""

from __future__ import annotations

import time
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


def search_supernet(supernet: Supernet, task: Any, settings: OneShotSettings,
                    strategy: str | None = None) -> tuple[Any, list[Any]]:
    """Run ``strategy`` over the supernet evaluator; returns (best arch, trials)."""
    from nasforge.experiment.budget import Budget
    from nasforge.experiment.experiment import Experiment
    from nasforge.experiment.objectives import Objective
    from nasforge.experiment.storage import Storage
    from nasforge.oneshot.evaluator import SupernetEvaluator
    from nasforge.strategy.base import get_strategy

    evaluator = SupernetEvaluator(supernet, task, settings.bn_mode, settings.calib_batches,
                                  max(settings.batch_size, 64), settings.eval_images, settings.seed)
    storage = Storage(":memory:")
    try:
        experiment = Experiment(space=supernet.space, strategy=get_strategy(strategy or settings.search_strategy),
                                evaluator=evaluator, storage=storage, objectives=[Objective("val_accuracy")],
                                budget=Budget(trials=settings.search_trials), seed=settings.seed)
        trials = experiment.run()
    finally:
        storage.close()
    done = [t for t in trials if t.status == "complete"]
    if not done:
        raise RuntimeError("no architecture could be evaluated on the supernet: "
                           + "; ".join(str(t.error) for t in trials[:3]))
    best = max(done, key=lambda t: (t.metrics["val_accuracy"], -t.number))
    return best.arch, trials


class WeightSharingMethod(OneShotMethod):
    """Train a supernet by path sampling, then search over it with inherited weights."""

    name = "spos"
    spaces = ("nb201", "macro", "mbconv")
    sampling: str | None = None
    strategy: str | None = None

    def __init__(self) -> None:
        pass

    def train(self, space: Any, task: Any, settings: OneShotSettings | None = None) -> OneShotResult:
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
        best, trials = search_supernet(supernet, task, settings, self.strategy)
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
