"""Progressive shrinking (Cai et al. 2020, "Once-for-All: Train One Network and Specialize it for
Efficient Deployment"), method ``ofa``, on the weight-entangled supernets (``mbconv``, ``macro``).

The run's ``T = epochs x steps_per_epoch`` SGD steps are cut into stages (``stage_fractions``,
default equal shares), each opening more of the space while the rest stays at its largest:

- ``mbconv``: ``largest`` (the full network only), ``kernel`` (kernel sizes elastic), ``depth``
  (+ stage depths), ``width`` (+ expansion ratios and the width multiplier);
- ``macro``: ``largest`` (every layer k5e6), ``kernel`` (k3e3 opens: in this space a smaller
  kernel comes with a smaller expansion), ``depth`` (+ identity layers).

From the second stage on, each step trains ``max(1, num_random)`` subnets drawn uniformly from
the open part of the space, each on cross-entropy plus (``distill``) the KL divergence to a
frozen copy of the network as it ended the first stage (OFA's teacher: the trained largest
network). The learning rate restarts its cosine schedule at each stage. Before the first stage
that shrinks hidden widths, with ``sort_channels``, every elastic MBConv's hidden channels are
reordered by importance (L1 norm of the projection's input slice, OFA's channel sorting), so
narrower subnets keep the most important channels; the largest network computes the same
function afterwards (a permutation), and the optimiser's momentum is permuted with the weights.
Outer widths (the residual stream) are not sorted, as in OFA.

Elastic input resolution: with ``resolutions`` each step draws one input side (resizing the
batch bilinearly, aspect kept); evaluation with inherited weights uses the task's own size.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from nasforge.oneshot.base import EpochRecord, OneShotResult, TrainingState, register_method
from nasforge.oneshot.data import SplitTensors, batches, setup_torch, steps_per_epoch
from nasforge.oneshot.elastic import ElasticMBConv
from nasforge.oneshot.fewshot import cosine_lr
from nasforge.oneshot.spos import WeightSharingMethod
from nasforge.oneshot.supernet import Supernet, build_supernet
from nasforge.space.arch import Arch


@dataclass(frozen=True)
class Stage:
    """One stage: the options each decision may take, and whether hidden widths shrink in it."""

    name: str
    options: Mapping[str, tuple[Any, ...]]
    shrinks_width: bool


def _dimension(space: Any, decision: str) -> str:
    if space.name == "macro":
        return "macro"
    for prefix, dim in (("kernel_", "kernel"), ("depth_", "depth"), ("expand_", "width"), ("width", "width")):
        if decision.startswith(prefix):
            return dim
    raise ValueError(f"progressive shrinking does not know decision {decision!r} of space {space.name!r}")


def stage_plan(space: Any) -> list[Stage]:
    """The stages of progressive shrinking on ``space`` (see the module docstring)."""
    if space.name not in PLANNED:
        raise ValueError(f"progressive shrinking has a plan for spaces {sorted(PLANNED)}, not {space.name!r}")
    largest = {c.name: (max(c.options),) for c in space.choices}
    if space.name == "macro":
        opened = [("kernel", (1, 2), True), ("depth", (0, 1, 2), False)]
        stages = [Stage("largest", largest, False)]
        for name, options, shrinks in opened:
            stages.append(Stage(name, dict.fromkeys(largest, options), shrinks))
        return stages
    stages, current = [Stage("largest", largest, False)], dict(largest)
    for dim in ("kernel", "depth", "width"):
        for c in space.choices:
            if _dimension(space, c.name) == dim:
                current[c.name] = tuple(c.options)
        stages.append(Stage(dim, dict(current), dim == "width"))
    return stages


PLANNED = ("mbconv", "macro")


def sample_stage(space: Any, stage: Stage, rng: np.random.Generator) -> Arch:
    """A random architecture whose decisions take options open in ``stage`` (uniform per decision)."""
    values = {name: opts[int(rng.integers(len(opts)))] for name, opts in stage.options.items()}
    return space.arch(values)


def stage_bounds(total: int, fractions: Sequence[float]) -> list[int]:
    """Start step of every stage and the end: ``[0, ..., total]`` (cumulative rounded shares)."""
    cum = np.cumsum([0.0, *fractions])
    return [int(round(total * c / cum[-1])) for c in cum]


@torch.no_grad()
def sort_hidden_channels(layer: ElasticMBConv, opt: torch.optim.Optimizer | None = None) -> Tensor:
    """Reorder ``layer``'s hidden channels by decreasing importance (L1 norm of the projection's
    weights reading each channel) in place, momentum buffers of ``opt`` included; returns the
    permutation. The full-width layer computes the same function afterwards."""
    importance = layer.project.weight.abs().sum(dim=(0, 2, 3))
    perm = torch.argsort(importance, descending=True, stable=True)

    def permute(t: Tensor, dim: int) -> None:
        t.copy_(t.index_select(dim, perm))
        if opt is not None and isinstance(t, torch.nn.Parameter):
            buf = opt.state.get(t, {}).get("momentum_buffer")
            if buf is not None:
                buf.copy_(buf.index_select(dim, perm))

    permute(layer.expand.weight, 0)
    permute(layer.depthwise.weight, 0)
    permute(layer.project.weight, 1)
    for bn in (layer.bn1, layer.bn2):
        for t in (bn.weight, bn.bias, bn.running_mean, bn.running_var):
            if t is not None:
                permute(t, 0)
    return perm


def resize(x: Tensor, side: int) -> Tensor:
    """``x`` (N, C, H, W) resized bilinearly so its shorter side is ``side`` (aspect kept)."""
    h, w = x.shape[-2:]
    size = (side, max(1, round(side * w / h))) if h <= w else (max(1, round(side * h / w)), side)
    return x if tuple(size) == (h, w) else F.interpolate(x, size=size, mode="bilinear", align_corners=False)


class ProgressiveState(TrainingState):
    """The supernet, its optimiser, the stage plan and step, the teacher (from stage 2 on)."""

    def __init__(self, *args: Any, plan: list[Stage], bounds: list[int]) -> None:
        super().__init__(*args)
        s = self.settings
        self.plan, self.bounds = plan, bounds
        self.rng = np.random.default_rng(s.seed)
        self.opt = torch.optim.SGD(self.supernet.weight_parameters(), lr=s.lr, momentum=s.momentum,
                                   weight_decay=s.weight_decay)
        self.step = 0
        self.teacher: Supernet | None = None
        self.sorted = False
        self.stages_seen: list[str] = []  # the stage of every step taken (for tests and the record)

    @property
    def total_steps(self) -> int:
        return self.bounds[-1]

    def stage_index(self, step: int) -> int:
        return max(i for i in range(len(self.plan)) if self.bounds[i] <= step)

    def state_dict(self) -> dict[str, Any]:
        return {**super().state_dict(), "opt": self.opt.state_dict(), "rng": self.rng.bit_generator.state,
                "step": self.step, "sorted": self.sorted, "stages_seen": list(self.stages_seen),
                "teacher": None if self.teacher is None else self.teacher.state_dict()}

    def load_state_dict(self, state: Any) -> None:
        super().load_state_dict(state)
        self.opt.load_state_dict(state["opt"])
        self.rng.bit_generator.state = state["rng"]
        self.step, self.sorted = int(state["step"]), bool(state["sorted"])
        self.stages_seen = list(state["stages_seen"])
        if state["teacher"] is not None:
            self.teacher = copy.deepcopy(self.supernet)
            self.teacher.load_state_dict(state["teacher"])


@register_method("ofa")
class ProgressiveShrinking(WeightSharingMethod):
    """OFA progressive shrinking, then evolution over the supernet (see the module docstring)."""

    name = "ofa"
    fixed = {"sampling": "uniform"}
    sgd_only = True

    @classmethod
    def supported_spaces(cls) -> list[str]:
        from nasforge.oneshot.supernet import SUPERNETS

        return [name for name in SUPERNETS.list() if name in PLANNED]

    @classmethod
    def unsupported_reason(cls, space_name: str) -> str:
        from nasforge.oneshot.supernet import SUPERNETS

        if space_name not in SUPERNETS.list():
            return super().unsupported_reason(space_name)
        return f"progressive shrinking has a stage plan only for {sorted(PLANNED)}"

    def begin(self, space: Any, task: Any, device: str = "cpu") -> ProgressiveState:
        self.check_space(space)
        s = self.settings
        plan = stage_plan(space)
        fractions = s.stage_fractions or (1.0,) * len(plan)
        if len(fractions) != len(plan):
            raise ValueError(f"stage_fractions: {len(fractions)} shares for the {len(plan)} stages of space "
                             f"{space.name!r} ({', '.join(st.name for st in plan)})")
        gen = setup_torch(s)
        supernet = build_supernet(space, task, bn_affine=s.bn_affine).to(device)
        supernet.generator = gen
        data = SplitTensors.of(task)
        if s.resolutions:
            check_resolutions(supernet, data.x_train, s.resolutions, device)
        total = s.epochs * steps_per_epoch(len(data.x_train), s)
        return ProgressiveState(space, task, s, supernet, data, gen, device, plan=plan,
                                bounds=stage_bounds(total, fractions))

    def enter(self, state: ProgressiveState, index: int) -> None:
        """What happens as stage ``index`` starts: the teacher after the first, channel sorting."""
        if index >= 1 and state.teacher is None:
            state.teacher = copy.deepcopy(state.supernet)
            for p in state.teacher.parameters():
                p.requires_grad_(False)
        if state.plan[index].shrinks_width and state.settings.sort_channels and not state.sorted:
            if 1 not in getattr(state.space, "expansions", ()):  # expansion 1 skips the expand conv
                for layer in state.supernet.modules():
                    if isinstance(layer, ElasticMBConv):
                        sort_hidden_channels(layer, state.opt)
            state.sorted = True

    def epoch(self, state: ProgressiveState) -> EpochRecord:  # type: ignore[override]
        s = state.settings
        losses = []
        for x, y in batches(state.data.x_train, state.data.y_train, s.batch_size, state.gen, s.data_fraction,
                            device=state.device):
            if state.step >= state.total_steps:
                break
            index = state.stage_index(state.step)
            self.enter(state, index)
            stage = state.plan[index]
            start, end = state.bounds[index], state.bounds[index + 1]
            for group in state.opt.param_groups:
                group["lr"] = cosine_lr(state.step - start, end - start, s.lr)
            if s.resolutions:
                x = resize(x, s.resolutions[int(state.rng.integers(len(s.resolutions)))])
            state.supernet.train()
            state.opt.zero_grad(set_to_none=True)
            teacher = None
            if state.teacher is not None and s.distill:
                with torch.no_grad():
                    teacher = F.softmax(state.teacher(x, state.supernet.extremes()[0]), dim=1)
            count = 1 if index == 0 else max(1, s.num_random)
            for _ in range(count):
                logits = state.supernet(x, sample_stage(state.space, stage, state.rng))
                loss = F.cross_entropy(logits, y)
                losses.append(float(loss.detach()))
                if teacher is not None:
                    loss = loss + F.kl_div(F.log_softmax(logits, dim=1), teacher, reduction="batchmean")
                if not torch.isfinite(loss):
                    raise FloatingPointError(f"ofa loss became {float(loss)} at epoch {state.epochs_done + 1}")
                loss.backward()
            torch.nn.utils.clip_grad_norm_(state.supernet.weight_parameters(), s.grad_clip)
            state.opt.step()
            state.stages_seen.append(stage.name)
            state.step += 1
        index = state.stage_index(max(0, state.step - 1))  # the stage of the epoch's last step
        record = EpochRecord(state.epochs_done + 1, float(np.mean(losses)) if losses else float("nan"),
                             state.seconds(), "", info={"stage": float(index), "steps": float(state.step)})
        state.trajectory.append(record)
        return record

    def end(self, state: ProgressiveState, search: Any = None) -> OneShotResult:  # type: ignore[override]
        from dataclasses import replace

        result = super().end(state, search)
        stages = {st.name: state.bounds[i + 1] - state.bounds[i] for i, st in enumerate(state.plan)}
        return replace(result, info={**result.info, "stage_steps": stages, "channels_sorted": state.sorted})


def check_resolutions(supernet: Supernet, x: Tensor, resolutions: Sequence[int], device: str) -> None:
    """Raise, naming the side, unless the largest and smallest subnets run at every resolution."""
    was = supernet.training
    supernet.eval()
    try:
        with torch.no_grad():
            sample = x[:2].to(device)
            for side in resolutions:
                for arch in supernet.extremes():
                    try:
                        supernet(resize(sample, side), arch)
                    except RuntimeError as exc:
                        raise ValueError(f"resolutions: the {supernet.space.name!r} supernet cannot run "
                                         f"{arch.key} at side {side}: {exc}") from None
    finally:
        supernet.train(was)
