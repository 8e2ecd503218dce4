"""Gradient-based (differentiable) NAS on the NB201 supernet: DARTS, GDAS, FBNet, PC-DARTS,
ProxylessNAS. One bilevel loop; the methods differ in how the supernet combines candidates.

Each step: an architecture step on a validation batch (Adam on the architecture parameters,
weights frozen), then a weight step on a training batch (SGD, cosine schedule). The first
``warmup_epochs`` train weights only.

- ``darts`` (Liu et al. 2019): softmax mixture; ``settings.order = 2`` uses the unrolled
  second-order gradient with the finite-difference Hessian-vector product (the virtual step is
  plain SGD with weight decay, without momentum); ``darts2`` is the same with order 2 forced.
- ``gdas`` (Dong & Yang 2019): hard Gumbel-softmax, one sampled op per edge in both steps,
  temperature annealed linearly from ``tau_max`` to ``tau_min``.
- ``fbnet`` (Wu et al. 2019): soft Gumbel-softmax mixture, same annealing (no latency term).
- ``pcdarts`` (Xu et al. 2020): softmax mixture on 1/K of the channels + edge normalisation.
- ``proxyless`` (Cai et al. 2019): weights train one path sampled from ``softmax(alphas)``;
  the architecture step adds ``latency_weight * E[latency] / latency(largest arch)``, the
  expected latency from the latency lookup table (:mod:`nasforge.oneshot.latency`). On nb201
  the architecture step uses binary gates over two sampled paths. On macro and mbconv, whose
  supernets are weight-entangled, it uses the entangled relaxation instead (each layer runs once
  with mixed weights, as in TangleNAS): binary gates there would need a forward per candidate
  of every global decision (width, depth), and what they save -- running only two paths of a
  mixed op -- the entangled layer already gives.

The derived architecture is the arg-max operation of every edge; the trajectory records the
operation probabilities of every edge after each epoch. ``early_stop = "skip"`` ends training
after the first epoch whose derived arch has ``early_stop_skips`` skip connections (DARTS+,
Liang et al. 2019: the growth of parameter-free operations is the symptom of DARTS' collapse);
the result's ``info`` then names the criterion and the epoch.
"""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import replace
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from nasforge.oneshot.base import (
    EpochRecord,
    OneShotMethod,
    OneShotResult,
    OneShotSettings,
    TrainingState,
    register_method,
)
from nasforge.oneshot.data import (
    Cycle,
    SplitTensors,
    batches,
    flat,
    setup_torch,
    steps_per_epoch,
    weight_optimizer,
)
from nasforge.oneshot.supernet import Supernet

#: the operation DARTS+'s early-stopping criterion counts
SKIP = "skip_connect"


def skip_count(arch: Any) -> int:
    """How many decisions of ``arch`` chose a skip connection."""
    return sum(value == SKIP for value in arch.values())


@contextmanager
def frozen(params: list[nn.Parameter]):
    """Temporarily stop gradients into ``params`` (skips their gradient computation)."""
    flags = [p.requires_grad for p in params]
    for p in params:
        p.requires_grad_(False)
    try:
        yield
    finally:
        for p, flag in zip(params, flags, strict=True):
            p.requires_grad_(flag)


class GradientState(TrainingState):
    """A bilevel method's state: the supernet, both optimisers, the schedule, the validation stream."""

    def __init__(self, *args: Any, w_opt: Any, sched: Any, a_opt: Any, val_stream: Cycle,
                 extra: dict[str, Any]) -> None:
        super().__init__(*args)
        self.w_opt, self.sched, self.a_opt, self.val_stream = w_opt, sched, a_opt, val_stream
        self.extra = extra  # what the method's ``prepare`` measured (plain values)

    def state_dict(self) -> dict[str, Any]:
        return {**super().state_dict(), "w_opt": self.w_opt.state_dict(), "sched": self.sched.state_dict(),
                "a_opt": self.a_opt.state_dict(), "val_stream": self.val_stream.state_dict(), "extra": self.extra}

    def load_state_dict(self, state: Any) -> None:
        super().load_state_dict(state)
        self.w_opt.load_state_dict(state["w_opt"])
        self.sched.load_state_dict(state["sched"])
        self.a_opt.load_state_dict(state["a_opt"])
        self.val_stream.load_state_dict(state["val_stream"])
        self.extra = dict(state["extra"])


class GradientMethod(OneShotMethod):
    """The bilevel loop; subclasses set the supernet modes (see the module docstring)."""

    name = "darts"
    requires = frozenset({"mixed-op", "softmax"})
    stops_early = True
    weight_mode = "softmax"
    arch_mode = "softmax"
    anneal = False
    partial = False

    # -------------------------------------------------------------------- hooks
    def build(self, space: Any, task: Any, settings: OneShotSettings) -> Supernet:
        from nasforge.oneshot.supernet import build_supernet

        options = {"partial": settings.partial_channels, "edge_norm": True} if self.partial else {}
        return build_supernet(space, task, bn_affine=settings.bn_affine, **options)

    def extra_loss(self, supernet: Supernet) -> Tensor | None:
        return None

    def prepare(self, supernet: Supernet, space: Any, task: Any, settings: OneShotSettings) -> dict[str, Any]:
        """Called once before training (e.g. to profile latencies); returns what it measured as
        plain values, which the state keeps (a resumed run restores them through :meth:`resume`)."""
        return {}

    def resume(self, state: TrainingState) -> None:
        """Take back what :meth:`prepare` measured from a restored ``state``."""

    # --------------------------------------------------------------------- loop
    def begin(self, space: Any, task: Any, device: str = "cpu") -> GradientState:
        settings = self.settings
        self.check_space(space)
        if settings.early_stop == "skip" and not any(SKIP in c.options for c in space.choices):
            raise ValueError(f"invalid one-shot setting(s): early_stop: 'skip' counts {SKIP!r} operations, "
                             f"which space {space.name!r} does not have")
        gen = setup_torch(settings)
        data = SplitTensors.of(task)
        supernet = self.build(space, task, settings).to(device)
        supernet.generator = gen
        extra = self.prepare(supernet, space, task, settings)
        steps = steps_per_epoch(len(data.x_train), settings)
        w_opt, sched = weight_optimizer(supernet.weight_parameters(), settings, settings.epochs * steps)
        a_opt = torch.optim.Adam(supernet.arch_parameters(), lr=settings.arch_lr, betas=(0.5, 0.999),
                                 weight_decay=settings.arch_weight_decay)
        return GradientState(space, task, settings, supernet, data, gen, device, w_opt=w_opt, sched=sched,
                             a_opt=a_opt, val_stream=Cycle(data.x_val, data.y_val, settings.batch_size, gen, device),
                             extra=extra)

    def epoch(self, state: GradientState) -> EpochRecord:
        settings, supernet, data, epoch = state.settings, state.supernet, state.data, state.epochs_done
        if self.anneal:
            frac = epoch / max(1, settings.epochs - 1)
            supernet.tau = settings.tau_max - (settings.tau_max - settings.tau_min) * frac
        losses, arch_hits, arch_seen = [], 0, 0
        supernet.train()
        for xt, yt in batches(data.x_train, data.y_train, settings.batch_size, state.gen, settings.data_fraction,
                              device=state.device):
            if epoch >= settings.warmup_epochs:
                xv, yv = next(state.val_stream)
                hits = self.arch_step(supernet, state.a_opt, state.w_opt, xt, yt, xv, yv, settings)
                arch_hits, arch_seen = arch_hits + hits, arch_seen + yv.numel()
            losses.append(self.weight_step(supernet, state.w_opt, xt, yt, settings))
            state.sched.step()
        info = {"arch_val_accuracy": arch_hits / arch_seen if arch_seen else float("nan")}
        if self.anneal:
            info["tau"] = float(supernet.tau)
        derived = supernet.derive()
        record = EpochRecord(epoch + 1, float(np.mean(losses)), state.seconds(), derived.key,
                             supernet.arch_weights(), info)
        state.trajectory.append(record)
        if settings.early_stop == "skip" and state.epochs_done < settings.epochs:
            skips = skip_count(derived)
            if skips >= settings.early_stop_skips:
                state.stopped = (f"the derived arch has {skips} skip connections (early_stop_skips = "
                                 f"{settings.early_stop_skips}) after epoch {record.epoch} of {settings.epochs}")
        return record

    def end(self, state: GradientState, search: Any = None) -> OneShotResult:
        result = self.finish(state.supernet, state.settings, state.trajectory, state.seconds(), state.data)
        if state.stopped is None:
            return result
        return replace(result, info={**result.info, "stopped_early": state.stopped,
                                     "epochs_trained": state.epochs_done})

    def finish(self, supernet: Supernet, settings: OneShotSettings, trajectory: list[EpochRecord],
               seconds: float, data: SplitTensors) -> OneShotResult:
        return OneShotResult(self.name, supernet.derive(), tuple(trajectory), seconds, settings,
                             {}, supernet)

    def _set_mode(self, supernet: Supernet, mode: str) -> None:
        if hasattr(supernet, "mode"):
            supernet.mode = mode

    def weight_step(self, supernet: Supernet, opt: torch.optim.Optimizer, x: Tensor, y: Tensor,
                    settings: OneShotSettings) -> float:
        self._set_mode(supernet, self.weight_mode)
        with frozen(supernet.arch_parameters()):
            loss = F.cross_entropy(*flat(supernet(x), y))
            opt.zero_grad(set_to_none=True)
            loss.backward()
        nn.utils.clip_grad_norm_(supernet.weight_parameters(), settings.grad_clip)
        opt.step()
        return float(loss.detach())

    def arch_step(self, supernet: Supernet, a_opt: torch.optim.Optimizer, w_opt: torch.optim.Optimizer,
                  xt: Tensor, yt: Tensor, xv: Tensor, yv: Tensor, settings: OneShotSettings) -> int:
        """One update of the architecture parameters; returns correct predictions on ``xv``."""
        self._set_mode(supernet, self.arch_mode)
        a_opt.zero_grad(set_to_none=True)
        if settings.order == 2:
            return self._unrolled(supernet, w_opt, xt, yt, xv, yv, settings, a_opt)
        with frozen(supernet.weight_parameters()):
            logits, target = flat(supernet(xv), yv)
            loss = F.cross_entropy(logits, target)
            extra = self.extra_loss(supernet)
            (loss if extra is None else loss + extra).backward()
        a_opt.step()
        return int((logits.argmax(1) == target).sum())

    def _unrolled(self, supernet: Supernet, w_opt: torch.optim.Optimizer, xt: Tensor, yt: Tensor,
                  xv: Tensor, yv: Tensor, settings: OneShotSettings, a_opt: torch.optim.Optimizer) -> int:
        """DARTS second order: grad_a L_val(w - xi grad_w L_train(w, a), a), xi = current lr."""
        weights, alphas = supernet.weight_parameters(), supernet.arch_parameters()
        xi = w_opt.param_groups[0]["lr"]
        backup = [w.detach().clone() for w in weights]
        grads = _grads(F.cross_entropy(supernet(xt), yt), weights)
        with torch.no_grad():
            for w, g in zip(weights, grads, strict=True):
                w.sub_(xi * (g + settings.weight_decay * w))
        logits = supernet(xv)
        val_grads = _grads(F.cross_entropy(logits, yv), alphas + weights)
        d_alpha, d_w = val_grads[:len(alphas)], val_grads[len(alphas):]
        eps = 0.01 / (torch.sqrt(sum((g * g).sum() for g in d_w)) + 1e-12)
        hessian = []
        for sign in (1.0, -1.0):
            with torch.no_grad():
                for w, b, g in zip(weights, backup, d_w, strict=True):
                    w.copy_(b + sign * eps * g)
            hessian.append(_grads(F.cross_entropy(supernet(xt), yt), alphas))
        with torch.no_grad():
            for w, b in zip(weights, backup, strict=True):
                w.copy_(b)
        for a, da, gp, gm in zip(alphas, d_alpha, hessian[0], hessian[1], strict=True):
            a.grad = da - xi * (gp - gm) / (2 * eps)
        a_opt.step()
        return int((logits.argmax(1) == yv).sum())


def _grads(loss: Tensor, params: list[nn.Parameter]) -> list[Tensor]:
    grads = torch.autograd.grad(loss, params, allow_unused=True)
    return [torch.zeros_like(p) if g is None else g for p, g in zip(params, grads, strict=True)]


@register_method("darts")
class DARTS(GradientMethod):
    """DARTS (Liu et al. 2019); first order unless ``settings.order == 2``."""

    name = "darts"


@register_method("darts2")
class DARTS2(GradientMethod):
    """DARTS with the second-order (unrolled) architecture gradient."""

    name = "darts2"
    fixed = {"order": 2}


@register_method("gdas")
class GDAS(GradientMethod):
    """GDAS (Dong & Yang 2019): hard Gumbel-softmax sampling, one op per edge."""

    name = "gdas"
    requires = frozenset({"mixed-op", "gumbel"})
    weight_mode = arch_mode = "gumbel"
    anneal = True


@register_method("fbnet")
class FBNet(GradientMethod):
    """FBNet-style soft Gumbel-softmax relaxation (Wu et al. 2019), without a latency term."""

    name = "fbnet"
    requires = frozenset({"mixed-op", "gumbel_soft"})
    weight_mode = arch_mode = "gumbel_soft"
    anneal = True


@register_method("pcdarts")
class PCDARTS(GradientMethod):
    """PC-DARTS (Xu et al. 2020): partial channels (K = ``partial_channels``) + edge normalisation."""

    name = "pcdarts"
    requires = frozenset({"mixed-op", "softmax", "partial"})
    partial = True


@register_method("proxyless")
class ProxylessNAS(GradientMethod):
    """ProxylessNAS (Cai et al. 2019): binary gates (nb201) or the entangled relaxation (macro,
    mbconv), and the expected-latency loss from the latency table (module docstring)."""

    name = "proxyless"
    requires = frozenset({"mixed-op", "sample", "binary"})
    weight_mode = "sample"
    arch_mode = "binary"

    #: the alternative requirement: a weight-entangled supernet (macro, mbconv; module docstring)
    requires_entangled = frozenset({"entangled", "softmax"})

    @classmethod
    def supported_spaces(cls) -> list[str]:
        from nasforge.oneshot.latency import LATENCY_MODELS
        from nasforge.oneshot.supernet import SUPERNETS

        entangled = [name for name in SUPERNETS.list() if name in LATENCY_MODELS
                     and cls.requires_entangled <= SUPERNETS.get(name).capabilities]
        return sorted({*super().supported_spaces(), *entangled})

    @classmethod
    def unsupported_reason(cls, space_name: str) -> str:
        from nasforge.oneshot.latency import LATENCY_MODELS
        from nasforge.oneshot.supernet import SUPERNETS

        if space_name not in SUPERNETS.list():
            return super().unsupported_reason(space_name)
        return (f"it needs a supernet with {sorted(cls.requires)}, or an entangled one (TangleNAS-style) with a "
                f"latency model (spaces {sorted(LATENCY_MODELS)}); {space_name!r} has neither")

    def build(self, space: Any, task: Any, settings: OneShotSettings) -> Supernet:
        from nasforge.oneshot.supernet import SUPERNETS, build_supernet

        cls = SUPERNETS.get(space.name)
        if self.requires <= cls.capabilities:
            return super().build(space, task, settings)
        return build_supernet(space, task, bn_affine=settings.bn_affine, **dict(getattr(cls, "entangled_config", {})))

    def _gated(self, supernet: Supernet) -> bool:
        return self.requires <= supernet.capabilities

    def weight_step(self, supernet: Supernet, opt: torch.optim.Optimizer, x: Tensor, y: Tensor,
                    settings: OneShotSettings) -> float:
        if self._gated(supernet):
            return super().weight_step(supernet, opt, x, y, settings)
        arch = _sample_arch(supernet)  # one path from the architecture distribution (CPU generator)
        with frozen(supernet.arch_parameters()):
            loss = F.cross_entropy(*flat(supernet(x, arch), y))
            opt.zero_grad(set_to_none=True)
            loss.backward()
        nn.utils.clip_grad_norm_(supernet.weight_parameters(), settings.grad_clip)
        opt.step()
        return float(loss.detach())

    def prepare(self, supernet: Supernet, space: Any, task: Any, settings: OneShotSettings) -> dict[str, Any]:
        from nasforge.oneshot.latency import latency_model

        latency = latency_model(space, task, path=settings.latency_table) if settings.latency_weight > 0 else None
        self._use(latency, supernet)
        return {} if latency is None else {"latency": latency.to_dict()}

    def resume(self, state: TrainingState) -> None:
        from nasforge.oneshot.latency import EdgeLatency, from_dict

        extra = getattr(state, "extra", {})
        if "fixed_ms" in extra:  # a checkpoint written before the latency models had a kind
            self._use(EdgeLatency(extra["fixed_ms"], tuple(extra["per_op_ms"])), state.supernet)
        else:
            self._use(from_dict(extra["latency"]) if extra else None, state.supernet)

    def _use(self, latency: Any, supernet: Supernet) -> None:
        self.latency_ = latency
        if latency is not None:
            self.reference_ms_ = latency.arch_ms(supernet.extremes()[0])  # the largest arch
        self.weight_ = self.settings.latency_weight

    def extra_loss(self, supernet: Supernet) -> Tensor | None:
        if self.latency_ is None:
            return None
        return self.weight_ * self.latency_.expected_of(supernet) / self.reference_ms_

    def finish(self, supernet: Supernet, settings: OneShotSettings, trajectory: list[EpochRecord],
               seconds: float, data: SplitTensors) -> OneShotResult:
        result = super().finish(supernet, settings, trajectory, seconds, data)
        if self.latency_ is None:
            return result
        info: dict[str, Any] = {"latency_model_ms": self.latency_.arch_ms(result.arch),
                                "latency_largest_ms": self.reference_ms_}
        if hasattr(self.latency_, "per_op"):
            info["latency_per_op_ms"] = list(self.latency_.per_op)
        return replace(result, info=info)


def _sample_arch(supernet: Supernet) -> Any:
    """An arch drawn from the supernet's architecture probabilities, one decision at a time,
    with its CPU generator (the same draws on every device)."""
    space = supernet.space
    values = {}
    for name, probs in supernet.arch_weights().items():
        options = space.choice(name).options
        p = torch.tensor(probs, dtype=torch.float64)
        values[name] = options[int(torch.multinomial(p / p.sum(), 1, generator=supernet.generator))]
    return space.arch(values)
