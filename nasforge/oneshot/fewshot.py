"""Few-shot NAS: a supernet split on chosen decisions into sub-supernets.

Zhao et al. 2021 ("Few-shot Neural Architecture Search") split the one-shot supernet on one or
more decisions into sub-supernets, one per option (the *exhaustive* split); Hu et al. 2022
("Generalizing Few-Shot NAS with Gradient Matching", GM-NAS) group the options of a decision
whose gradients on the shared weights agree, so options that pull the shared weights the same
way keep sharing them.

Training (methods ``fewshot`` and ``fewshot-gm``), one SGD step per batch as in SPOS: the
run's whole budget is ``T = epochs x steps_per_epoch`` steps. The first ``W =
round(warmup_fraction x T)`` steps train the shared supernet by uniform path sampling; then it
is split (each sub-supernet a copy of it, momentum included) and the remaining ``T - W`` steps
go round-robin to the ``K`` sub-supernets, each training uniform paths of the architectures it
owns. So the total number of weight updates equals a one-shot run's of the same settings, and
the learning rate follows the one cosine schedule over ``T`` steps.

- ``split_on``: decisions to split on (default: the space's first decision); each must be
  active in every architecture. Several decisions split on the product of their groups.
- ``fewshot``: one sub-supernet per option combination of ``split_on`` (``groups`` unused).
- ``fewshot-gm``: at the split, per decision and per option the gradient of the training loss
  on the weights every option's path uses, averaged over ``calib_batches`` batches (the same
  batches and the same other decisions for every option); the options are split into
  ``groups`` (default 2) groups of balanced sizes that maximise the summed cosine similarity
  within groups (equivalently, the minimum cut of the similarity graph, as GM-NAS does).

:class:`FewShotSupernet` holds the sub-supernets and routes each architecture to the one that
owns it, both for ``supernet(x, arch)`` and for ``extract(arch)``, so the ``supernet``
evaluator and every strategy work on it unchanged; its file (``save_supernet``) holds every
sub-supernet and the partition.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterator, Sequence
from dataclasses import replace
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from nasforge.oneshot.base import (
    EpochRecord,
    OneShotResult,
    OneShotSettings,
    TrainingState,
    register_method,
)
from nasforge.oneshot.data import SplitTensors, batches, flat, setup_torch, steps_per_epoch
from nasforge.oneshot.spos import WeightSharingMethod
from nasforge.oneshot.supernet import Supernet, build_supernet
from nasforge.space.arch import Arch

#: a group: for each split decision, the options it owns (JSON-like, saved in supernet files)
Group = list[list[Any]]


class FewShotSupernet(Supernet):
    """Sub-supernets of one space; ``groups[k]`` lists, per decision of ``split_on``, the options
    sub-supernet ``k`` owns (the groups partition every combination of options)."""

    def __init__(self, space: Any, task: Any, split_on: Sequence[str], groups: Sequence[Group],
                 subnets: Sequence[Supernet] | None = None, **config: Any) -> None:
        super().__init__(space, task)
        self.split_on = tuple(split_on)
        self.groups: list[Group] = [[list(options) for options in g] for g in groups]
        check_partition(space, self.split_on, self.groups)
        made = list(subnets) if subnets is not None else [build_supernet(space, task, **config) for _ in groups]
        if len(made) != len(self.groups):
            raise ValueError(f"{len(made)} sub-supernets for {len(self.groups)} groups")
        self.subnets = nn.ModuleList(made)
        self.capabilities = frozenset({"paths"})
        self.config = {**made[0].config, "fewshot": {"split_on": list(self.split_on), "groups": self.groups}}

    def owner(self, arch: Arch) -> int:
        """Index of the sub-supernet that owns ``arch``."""
        self._check(arch)
        for k, group in enumerate(self.groups):
            if all(arch[d] in options for d, options in zip(self.split_on, group, strict=True)):
                return k
        raise ValueError(f"no sub-supernet owns {arch.key!r}")  # unreachable after check_partition

    def forward(self, x: Tensor, arch: Arch | None = None) -> Tensor:
        if arch is None:
            raise ValueError("a few-shot supernet runs one arch at a time: call supernet(x, arch)")
        return self.subnets[self.owner(arch)](x, arch)

    def extract(self, arch: Arch) -> nn.Module:
        return self.subnets[self.owner(arch)].extract(arch)

    def extremes(self) -> tuple[Arch, Arch]:
        return self.subnets[0].extremes()


def check_partition(space: Any, split_on: Sequence[str], groups: Sequence[Group]) -> None:
    """Raise unless ``groups`` partition the option combinations of ``split_on`` in ``space``."""
    options = [space.choice(d).options for d in split_on]
    seen: dict[tuple[Any, ...], int] = {}
    for k, group in enumerate(groups):
        if len(group) != len(split_on):
            raise ValueError(f"group {k} has {len(group)} option lists for {len(split_on)} split decisions")
        for d, opts, allowed in zip(split_on, group, options, strict=True):
            bad = [o for o in opts if o not in allowed]
            if bad or not opts:
                raise ValueError(f"group {k}: options {bad or opts} are not options of decision {d!r} {allowed}")
        for combo in itertools.product(*group):
            if combo in seen:
                raise ValueError(f"option combination {combo} is in groups {seen[combo]} and {k}")
            seen[combo] = k
    missing = [c for c in itertools.product(*options) if c not in seen]
    if missing:
        raise ValueError(f"option combinations {missing[:3]} of {list(split_on)} belong to no group")


def split_decisions(space: Any, settings: OneShotSettings) -> tuple[str, ...]:
    """``settings.split_on`` (default: the first decision), checked against ``space``: every
    decision exists and is active in every architecture (tried on 64 random ones)."""
    names = settings.split_on or (space.choices[0].name,)
    unknown = [d for d in names if d not in {c.name for c in space.choices}]
    if unknown:
        raise ValueError(f"split_on: space {space.name!r} has no decision(s) {unknown}; decisions: "
                         f"{[c.name for c in space.choices][:12]}...")
    if len(set(names)) != len(names):
        raise ValueError(f"split_on names a decision twice: {list(names)}")
    rng = np.random.default_rng(0)
    for _ in range(64):
        arch = space.sample(rng)
        inactive = [d for d in names if d not in space.active(dict(arch))]
        if inactive:
            raise ValueError(f"split_on: decision(s) {inactive} are inactive in {arch.key} (a split decision "
                             "must matter in every architecture)")
    return tuple(names)


def sample_owned(space: Any, split_on: Sequence[str], group: Group, rng: np.random.Generator) -> Arch:
    """A random architecture whose split decisions take options of ``group`` (uniform per decision)."""
    for _ in range(100):
        values = dict(space.sample(rng))
        for d, options in zip(split_on, group, strict=True):
            values[d] = options[int(rng.integers(len(options)))]
        if space.is_valid(space.canonical(values)):
            return space.arch(values)
    raise RuntimeError(f"found no valid architecture of space {space.name!r} with {dict(zip(split_on, group, strict=True))}")


# ------------------------------------------------------------------ gradient matching
def balanced_partitions(n: int, k: int) -> Iterator[list[list[int]]]:
    """Every partition of ``range(n)`` into ``k`` non-empty blocks whose sizes differ by at most 1
    (blocks ordered by their first element)."""
    sizes = {n // k, -(-n // k)}

    def grow(i: int, blocks: list[list[int]]) -> Iterator[list[list[int]]]:
        if i == n:
            if len(blocks) == k and {len(b) for b in blocks} <= sizes:
                yield [list(b) for b in blocks]
            return
        for b in blocks:
            if len(b) < max(sizes):
                b.append(i)
                yield from grow(i + 1, blocks)
                b.pop()
        if len(blocks) < k:
            blocks.append([i])
            yield from grow(i + 1, blocks)
            blocks.pop()

    yield from grow(0, [])


def best_partition(similarity: np.ndarray, k: int) -> list[list[int]]:
    """The balanced partition into ``min(k, n)`` blocks with the largest within-block similarity
    (the smallest cut); ties go to the first enumerated."""
    n = len(similarity)
    best, score = None, -math.inf
    for blocks in balanced_partitions(n, min(k, n)):
        total = sum(similarity[i, j] for b in blocks for i, j in itertools.combinations(b, 2))
        if total > score + 1e-12:
            best, score = blocks, total
    assert best is not None
    return best


def option_gradients(supernet: Supernet, decision: str, x_batches: Sequence[tuple[Tensor, Tensor]],
                     archs: Sequence[Arch]) -> np.ndarray:
    """Cosine similarities between the options of ``decision``: per option, the mean gradient of
    the loss over ``x_batches`` (batch ``b`` runs ``archs[b]`` with ``decision`` set to the option)
    on the parameters every option's path uses. Weights and BN statistics are left as they were."""
    space = supernet.space
    options = space.choice(decision).options
    saved = {k: v.clone() for k, v in supernet.state_dict().items()}
    params = supernet.weight_parameters()
    grads: list[dict[int, Tensor]] = []
    supernet.train()
    for option in options:
        total: dict[int, Tensor] = {}
        for (x, y), arch in zip(x_batches, archs, strict=True):
            supernet.zero_grad(set_to_none=True)
            F.cross_entropy(*flat(supernet(x, space.arch({**dict(arch), decision: option})), y)).backward()
            for i, p in enumerate(params):
                if p.grad is not None:
                    total[i] = total.get(i, 0) + p.grad.detach().clone()
        grads.append(total)
    supernet.zero_grad(set_to_none=True)
    supernet.load_state_dict(saved)
    shared = sorted(set.intersection(*(set(g) for g in grads)))
    if not shared:
        raise RuntimeError(f"the options of {decision!r} share no weights: nothing to match gradients on")
    vectors = torch.stack([torch.cat([g[i].flatten() for i in shared]) for g in grads]).double()
    vectors = vectors / vectors.norm(dim=1, keepdim=True).clamp_min(1e-12)
    return (vectors @ vectors.T).cpu().numpy()


# ------------------------------------------------------------------ training
def cosine_lr(step: int, total: int, lr: float) -> float:
    """The cosine schedule of :func:`~nasforge.oneshot.data.weight_optimizer` at ``step`` of ``total``."""
    low = lr * 0.01
    return low + (lr - low) * (1 + math.cos(math.pi * min(step, total) / max(1, total))) / 2


class FewShotState(TrainingState):
    """The shared supernet, then (after the split) the :class:`FewShotSupernet`; one SGD
    optimiser over whichever is training; the global step; the step count of each sub-supernet."""

    def __init__(self, *args: Any, split_on: tuple[str, ...], total_steps: int, warmup_steps: int,
                 num_groups: int) -> None:
        super().__init__(*args)
        self.split_on = split_on
        self.total_steps, self.warmup_steps, self.num_groups = total_steps, warmup_steps, num_groups
        self.rng = np.random.default_rng(self.settings.seed)
        self.step = 0
        self.counts = [0] * num_groups
        self.similarity: dict[str, list[list[float]]] = {}
        self.opt = self.optimizer()

    def optimizer(self) -> torch.optim.SGD:
        s = self.settings
        return torch.optim.SGD(self.supernet.weight_parameters(), lr=s.lr, momentum=s.momentum,
                               weight_decay=s.weight_decay)

    @property
    def split(self) -> FewShotSupernet | None:
        return self.supernet if isinstance(self.supernet, FewShotSupernet) else None

    def become_split(self, split_on: Sequence[str], groups: Sequence[Group]) -> None:
        """Replace the shared supernet by copies of it, one per group (momentum copied too)."""
        import copy

        shared, old = self.supernet, self.opt
        subnets = [copy.deepcopy(shared) for _ in groups]
        split = FewShotSupernet(self.space, self.task, split_on, groups, subnets)
        split.generator = shared.generator
        for sub in subnets:
            sub.generator = shared.generator
        self.supernet = split
        self.opt = self.optimizer()
        for sub in subnets:
            for p_old, p_new in zip(shared.weight_parameters(), sub.weight_parameters(), strict=True):
                buf = old.state.get(p_old, {}).get("momentum_buffer")
                if buf is not None:
                    self.opt.state[p_new]["momentum_buffer"] = buf.clone()

    def state_dict(self) -> dict[str, Any]:
        split = self.split
        return {**super().state_dict(), "opt": self.opt.state_dict(), "rng": self.rng.bit_generator.state,
                "step": self.step, "counts": list(self.counts), "similarity": self.similarity,
                "split": None if split is None else {"split_on": list(split.split_on), "groups": split.groups}}

    def load_state_dict(self, state: Any) -> None:
        if state["split"] is not None and self.split is None:
            self.become_split(state["split"]["split_on"], state["split"]["groups"])
        super().load_state_dict(state)
        self.opt.load_state_dict(state["opt"])
        self.rng.bit_generator.state = state["rng"]
        self.step, self.counts = int(state["step"]), [int(c) for c in state["counts"]]
        self.similarity = {k: [list(r) for r in v] for k, v in state["similarity"].items()}


class FewShot(WeightSharingMethod):
    """Few-shot NAS with the exhaustive split (Zhao et al. 2021); see the module docstring."""

    name = "fewshot"
    fixed = {"sampling": "uniform"}
    sgd_only = True
    #: whether the split groups options by gradient matching (else one group per option)
    matches_gradients = False

    def __init__(self, **settings: Any) -> None:
        super().__init__(**settings)
        if self.settings.groups is not None and not self.matches_gradients:
            raise ValueError("groups: the exhaustive few-shot split has one sub-supernet per option; "
                             "set groups with fewshot-gm")

    def group_count(self, space: Any, split_on: Sequence[str]) -> int:
        per = [len(space.choice(d)) for d in split_on]
        if self.matches_gradients:
            per = [min(self.settings.groups or 2, n) for n in per]
        return math.prod(per)

    def begin(self, space: Any, task: Any, device: str = "cpu") -> FewShotState:
        self.check_space(space)
        s = self.settings
        split_on = split_decisions(space, s)
        gen = setup_torch(s)
        supernet = build_supernet(space, task, bn_affine=s.bn_affine).to(device)
        supernet.generator = gen
        data = SplitTensors.of(task)
        total = s.epochs * steps_per_epoch(len(data.x_train), s)
        warmup = round(s.warmup_fraction * total)
        groups = self.group_count(space, split_on)
        if total - warmup < groups:
            raise ValueError(f"few-shot: {total - warmup} steps after the warm-up ({total} in all) cannot train "
                             f"{groups} sub-supernets; raise epochs or data_fraction, or lower warmup_fraction")
        return FewShotState(space, task, s, supernet, data, gen, device, split_on=split_on, total_steps=total,
                            warmup_steps=warmup, num_groups=groups)

    def partition(self, state: FewShotState) -> list[Group]:
        """The groups at the split: every option combination on its own."""
        return [[[v] for v in combo] for combo in
                itertools.product(*(state.space.choice(d).options for d in state.split_on))]

    def epoch(self, state: FewShotState) -> EpochRecord:  # type: ignore[override]
        s = state.settings
        losses = []
        for x, y in batches(state.data.x_train, state.data.y_train, s.batch_size, state.gen, s.data_fraction,
                            device=state.device):
            if state.step >= state.total_steps:
                break
            if state.step == state.warmup_steps and state.split is None:
                state.become_split(state.split_on, self.partition(state))
            split = state.split
            if split is None:
                net, arch = state.supernet, state.space.sample(state.rng)
            else:
                k = (state.step - state.warmup_steps) % state.num_groups
                net = split.subnets[k]
                arch = sample_owned(state.space, split.split_on, split.groups[k], state.rng)
                state.counts[k] += 1
            for group in state.opt.param_groups:
                group["lr"] = cosine_lr(state.step, state.total_steps, s.lr)
            net.train()
            state.opt.zero_grad(set_to_none=True)
            loss = F.cross_entropy(*flat(net(x, arch), y))
            if not torch.isfinite(loss):
                raise FloatingPointError(f"few-shot loss became {float(loss)} at epoch {state.epochs_done + 1}")
            loss.backward()
            torch.nn.utils.clip_grad_norm_(net.weight_parameters(), s.grad_clip)
            state.opt.step()
            state.step += 1
            losses.append(float(loss.detach()))
        info = {"steps": float(state.step), "sub_supernets": float(len(state.split.groups) if state.split else 1)}
        record = EpochRecord(state.epochs_done + 1, float(np.mean(losses)) if losses else float("nan"),
                             state.seconds(), "", info=info)
        state.trajectory.append(record)
        return record

    def end(self, state: FewShotState, search: Any = None) -> OneShotResult:  # type: ignore[override]
        result = super().end(state, search)
        split = state.split
        info = {**result.info, "split_on": list(state.split_on), "groups": split.groups if split else [],
                "steps": state.step, "warmup_steps": state.warmup_steps, "sub_steps": list(state.counts),
                "similarity": state.similarity}
        return replace(result, info=info)


register_method("fewshot")(FewShot)


@register_method("fewshot-gm")
class FewShotGM(FewShot):
    """Few-shot NAS with the gradient-matching split (Hu et al. 2022 GM-NAS)."""

    name = "fewshot-gm"
    matches_gradients = True

    def partition(self, state: FewShotState) -> list[Group]:
        s, space = state.settings, state.space
        gen = torch.Generator().manual_seed(s.seed + 1)
        rng = np.random.default_rng(s.seed + 1)
        data = state.data
        per_decision = []
        for d in state.split_on:
            picked = list(itertools.islice(batches(data.x_train, data.y_train, s.batch_size, gen, 1.0,
                                                   device=state.device), s.calib_batches))
            archs = [space.sample(rng) for _ in picked]
            sim = option_gradients(state.supernet, d, picked, archs)
            state.similarity[d] = sim.tolist()
            options = space.choice(d).options
            per_decision.append([[options[i] for i in block] for block in best_partition(sim, s.groups or 2)])
        return [list(g) for g in itertools.product(*per_decision)]
