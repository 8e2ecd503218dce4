"""Weight-sharing supernet training and search with inherited weights.

Training (:func:`train_supernet`), one SGD step per batch:

- ``uniform`` sampling (SPOS, Guo et al. 2020): one arch drawn uniformly from the space per
  step, cross-entropy on its path;
- ``sandwich`` sampling (BigNAS, Yu et al. 2020; OFA, Cai et al. 2020): per step the largest
  arch (cross-entropy), the smallest and ``num_random`` random archs, whose loss is the KL
  divergence to the largest's (detached) predictions when ``distill`` is on (in-place
  distillation), else cross-entropy; gradients of all paths add up before the step;
- ``fair`` sampling (FairNAS, Chu et al. 2021; :mod:`nasforge.oneshot.fair`): per step as many
  paths as the widest decision has options, together taking every option of every decision
  once, cross-entropy on each; gradients add up before the step.

Search: the trained supernet becomes a :class:`~nasforge.oneshot.evaluator.SupernetEvaluator`
and any ask/tell strategy (``search_strategy``) runs ``search_trials`` trials over it through the
ordinary experiment loop; the loop lives above this layer, so the caller passes it in as
``search`` (:func:`nasforge.run.oneshot.search_supernet`). The methods: ``spos`` (uniform + evolution), ``sandwich`` (sandwich + evolution) and ``random-ws``
(uniform + random search: Li & Talwalkar 2019's random search with weight sharing) and ``fairnas``
(fair + evolution).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from nasforge.oneshot.base import (
    EpochRecord,
    OneShotMethod,
    OneShotResult,
    OneShotSettings,
    TrainingState,
    register_method,
)
from nasforge.oneshot.data import (
    SplitTensors,
    batches,
    flat,
    setup_torch,
    steps_per_epoch,
    weight_optimizer,
)
from nasforge.oneshot.supernet import Supernet, build_supernet

#: ``search(supernet, task, settings, strategy) -> (best arch, trials)``: a search over the
#: trained supernet with inherited weights (strategy ``None``: ``settings.search_strategy``).
SupernetSearch = Callable[[Supernet, Any, OneShotSettings, "str | None"], "tuple[Any, list[Any]]"]


def _step_paths(supernet: Supernet, settings: OneShotSettings, rng: np.random.Generator,
                draw: Callable[[np.random.Generator], Any] | None = None) -> list[Any]:
    draw = draw or supernet.space.sample
    if settings.sampling == "uniform":
        return [draw(rng)]
    if settings.sampling == "fair":
        from nasforge.oneshot.fair import fair_paths

        return fair_paths(supernet.space, rng)
    largest, smallest = supernet.extremes()
    return [largest, smallest, *(draw(rng) for _ in range(settings.num_random))]


class SupernetState(TrainingState):
    """A weight-sharing method's state: the supernet, its optimiser and schedule, the path sampler."""

    def __init__(self, *args: Any, opt: Any, sched: Any, rng: np.random.Generator,
                 draw: Callable[[np.random.Generator], Any] | None = None, decayed: list[Any] | None = None) -> None:
        super().__init__(*args)
        self.opt, self.sched, self.rng = opt, sched, rng
        self.draw = draw  # random paths (default: space.sample); see nasforge.oneshot.heuristics
        self.decayed = decayed  # decay_scope "largest": the weights the largest path decays

    def state_dict(self) -> dict[str, Any]:
        return {**super().state_dict(), "opt": self.opt.state_dict(), "sched": self.sched.state_dict(),
                "rng": self.rng.bit_generator.state}

    def load_state_dict(self, state: Any) -> None:
        super().load_state_dict(state)
        self.opt.load_state_dict(state["opt"])
        self.sched.load_state_dict(state["sched"])
        self.rng.bit_generator.state = state["rng"]


def begin_supernet(space: Any, task: Any, settings: OneShotSettings, device: str = "cpu") -> SupernetState:
    """A supernet of ``space`` for ``task`` on ``device``, ready for path-sampling training (seeded)."""
    gen = setup_torch(settings)
    rng = np.random.default_rng(settings.seed)
    supernet = build_supernet(space, task, bn_affine=settings.bn_affine).to(device)
    supernet.generator = gen
    data = SplitTensors.of(task)
    steps = steps_per_epoch(len(data.x_train), settings)
    draw, decayed, opt_settings = _heuristics(supernet, settings)
    opt, sched = weight_optimizer(supernet.weight_parameters(), opt_settings, settings.epochs * steps)
    return SupernetState(space, task, settings, supernet, data, gen, device, opt=opt, sched=sched, rng=rng,
                         draw=draw, decayed=decayed)


def _heuristics(supernet: Supernet, settings: OneShotSettings) -> tuple[Any, Any, OneShotSettings]:
    """Apply the BigNAS settings (:mod:`nasforge.oneshot.heuristics`): (path sampler, decayed
    weights, optimiser settings)."""
    from nasforge.oneshot import heuristics

    if settings.decay_scope == "largest" and settings.sampling != "sandwich":
        raise ValueError("decay_scope='largest' decays the largest child, which only the sandwich rule trains "
                         "every step: use the sandwich method (or sampling='sandwich')")
    if settings.complexity_sampling and settings.sampling == "fair":
        raise ValueError("complexity_sampling draws the random paths of uniform or sandwich sampling; fair "
                         "sampling draws none (every option once per step): turn one of them off")
    if settings.zero_init_last_bn:
        heuristics.zero_init_last_bn(supernet)
    draw = heuristics.ComplexitySampler(supernet.space, supernet.shape, settings.seed).sample \
        if settings.complexity_sampling else None
    if settings.decay_scope == "largest":
        return draw, heuristics.decayed_parameters(supernet), settings.replace(weight_decay=0.0)
    return draw, None, settings


def supernet_epoch(state: SupernetState) -> EpochRecord:
    """Train ``state.supernet``'s weights for one epoch by path sampling (see the module docstring)."""
    settings, supernet, data = state.settings, state.supernet, state.data
    supernet.train()
    losses = []
    for x, y in batches(data.x_train, data.y_train, settings.batch_size, state.gen, settings.data_fraction,
                        device=state.device):
        state.opt.zero_grad(set_to_none=True)
        teacher = None
        for i, arch in enumerate(_step_paths(supernet, settings, state.rng, state.draw)):
            logits, target = flat(supernet(x, arch), y)  # sequence logits: one sample per token
            if i == 0 or teacher is None:
                loss = F.cross_entropy(logits, target)
                if settings.sampling == "sandwich" and settings.distill:
                    teacher = F.softmax(logits.detach(), dim=1)
                losses.append(float(loss.detach()))
            else:
                loss = F.kl_div(F.log_softmax(logits, dim=1), teacher, reduction="batchmean")
            if not torch.isfinite(loss):
                raise FloatingPointError(f"supernet loss became {float(loss)} at epoch {state.epochs_done + 1}")
            loss.backward()
            if i == 0 and state.decayed is not None:  # BigNAS: decay only through the largest child
                from nasforge.oneshot.heuristics import add_decay

                add_decay(state.decayed, settings.weight_decay)
        torch.nn.utils.clip_grad_norm_(supernet.weight_parameters(), settings.grad_clip)
        state.opt.step()
        state.sched.step()
    record = EpochRecord(state.epochs_done + 1, float(np.mean(losses)), state.seconds(), "")
    state.trajectory.append(record)
    return record


class WeightSharingMethod(OneShotMethod):
    """Train a supernet by path sampling, then search over it with inherited weights."""

    name = "spos"
    searches = True
    strategy: str | None = None

    def begin(self, space: Any, task: Any, device: str = "cpu") -> SupernetState:
        self.check_space(space)
        return begin_supernet(space, task, self.settings, device)

    def epoch(self, state: SupernetState) -> EpochRecord:
        return supernet_epoch(state)

    def end(self, state: SupernetState, search: SupernetSearch | None = None) -> OneShotResult:
        if search is None:
            raise ValueError(f"one-shot method {self.name!r} searches its trained supernet through the experiment "
                             "loop: run it with nasforge search (or pass search=...)")
        train_seconds = state.seconds()
        best, trials = search(state.supernet, state.task, state.settings, self.strategy)
        info = {"train_seconds": train_seconds, "search_seconds": state.seconds() - train_seconds,
                "best_supernet_accuracy": max(t.metrics.get("val_accuracy", 0.0) for t in trials),
                "trials": len(trials)}
        return OneShotResult(self.name, best, tuple(state.trajectory), state.seconds(), state.settings,
                             info, state.supernet)


@register_method("spos")
class SPOS(WeightSharingMethod):
    """SPOS (Guo et al. 2020): uniform single-path training (unless ``sampling`` says otherwise),
    then ``search_strategy`` (evolution) over the supernet."""

    name = "spos"


@register_method("sandwich")
class Sandwich(WeightSharingMethod):
    """OFA/BigNAS sandwich rule with in-place distillation, then evolution over the supernet."""

    name = "sandwich"
    fixed = {"sampling": "sandwich"}


@register_method("fairnas")
class FairNAS(WeightSharingMethod):
    """FairNAS (Chu et al. 2021): strict-fairness training (every option of every decision once
    per step, :mod:`nasforge.oneshot.fair`), then evolution over the supernet."""

    name = "fairnas"
    fixed = {"sampling": "fair"}


@register_method("random-ws")
class RandomWeightSharing(WeightSharingMethod):
    """Random search with weight sharing (Li & Talwalkar 2019): uniform training, random search."""

    name = "random-ws"
    fixed = {"sampling": "uniform"}
    strategy = "random"
