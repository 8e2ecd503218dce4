"""The proxy contract: a zero-cost proxy scores an untrained network from one batch (or none).

A proxy is a small class registered in :data:`PROXIES`. ``Proxy().score(model, batch)`` returns
one float where higher means "predicted more accurate". The caller (normally
:class:`~nasforge.estimate.proxies.evaluator.ProxyEvaluator`) guarantees:

- ``model`` is freshly initialised, in train mode (BatchNorm uses batch statistics, as in the
  papers), and is the same network for every proxy of one evaluation;
- ``batch`` holds the same fixed data batch for every architecture, the seed, and a memo for
  passes that several proxies share (the loss gradients, the input Jacobian), with their cost;
- the network and the batch are on the same device (``batch.x.device``): a proxy creates its
  own tensors there, and draws random numbers from :meth:`ProxyBatch.generator` (a CPU
  generator, so every device draws the same numbers) before moving them.

A proxy may change the network while it runs (weights, BatchNorm buffers, dtype, gradients):
:func:`preserved` restores all of it afterwards, and proxies that overwrite weights work on a
copy. This module imports torch; the registry lives in the package's torch-free ``__init__``.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, ClassVar

import torch
from torch import nn

PRUNABLE = (nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.Linear)  # 1-D too: the conv1d space is all Conv1d


class ProxyError(RuntimeError):
    """A proxy that cannot score this network (the message says why)."""


class Proxy:
    """Base class; subclasses set ``name`` and ``paper`` and implement :meth:`score`.

    ``data`` says what the proxy reads: ``"batch"`` (the task's images), ``"labels"`` (images
    and labels), ``"synthetic"`` (an input its paper prescribes) or ``"none"``.
    """

    name: ClassVar[str] = ""
    data: ClassVar[str] = "batch"
    paper: ClassVar[str] = ""

    def score(self, model: nn.Module, batch: ProxyBatch) -> float:
        raise NotImplementedError


@dataclass
class ProxyBatch:
    """The inputs of one evaluation: images ``x`` (N, C, H, W), labels ``y``, class count, seed."""

    x: torch.Tensor
    y: torch.Tensor
    num_classes: int
    seed: int = 0
    clock: Callable[[], float] = field(default=time.perf_counter, repr=False)
    _memo: dict[str, tuple[Any, float]] = field(default_factory=dict, repr=False)
    _reused: float = field(default=0.0, repr=False)

    @property
    def input_shape(self) -> tuple[int, ...]:
        return tuple(self.x.shape[1:])

    def shared(self, name: str, compute: Callable[[], Any]) -> Any:
        """``compute()`` once per evaluation; a proxy reusing it is charged its cost too."""
        if name in self._memo:
            value, seconds = self._memo[name]
            self._reused += seconds
            return value
        start = self.clock()
        value = compute()
        self._memo[name] = (value, self.clock() - start)
        return value

    def start_proxy(self) -> None:
        self._reused = 0.0

    def reused_seconds(self) -> float:
        """Seconds of shared passes the current proxy reused (an earlier proxy paid for them)."""
        return self._reused

    def clear(self) -> None:
        self._memo.clear()
        self._reused = 0.0

    def generator(self, salt: int = 0) -> torch.Generator:
        """A CPU generator seeded from the evaluation seed (and a per-proxy salt)."""
        return torch.Generator().manual_seed(self.seed * 1_000_003 + salt)


def prunable(model: nn.Module) -> list[nn.Module]:
    """Convolution and linear layers: the layers the pruning-based proxies sum over."""
    return [m for m in model.modules() if isinstance(m, PRUNABLE)]


@contextmanager
def preserved(model: nn.Module) -> Iterator[nn.Module]:
    """Restore ``model``'s parameters, buffers, dtypes, modes, ``requires_grad`` and grads on exit."""
    state = {k: v.detach().clone() for k, v in model.state_dict(keep_vars=True).items()}
    params = dict(model.named_parameters())
    flags = {name: (p.requires_grad, p.dtype, None if p.grad is None else p.grad.detach().clone())
             for name, p in params.items()}
    modes = {name: m.training for name, m in model.named_modules()}
    try:
        yield model
    finally:
        with torch.no_grad():
            for name, p in model.named_parameters():
                requires_grad, dtype, grad = flags[name]
                p.data = p.data.to(dtype)
                p.requires_grad_(requires_grad)
                p.grad = grad
            for name, b in model.named_buffers():
                b.data = b.data.to(state[name].dtype)
            model.load_state_dict(state)
        for name, m in model.named_modules():
            m.train(modes[name])


def copy_of(model: nn.Module) -> nn.Module:
    """An independent copy (for proxies that overwrite every weight)."""
    return copy.deepcopy(model)


def loss_gradients(model: nn.Module, batch: ProxyBatch) -> dict[str, Any]:
    """One forward/backward of the cross-entropy loss on the batch (shared by snip, grad_norm,
    plain, fisher and grasp): weight gradients of the prunable layers and the Fisher sum.

    Fisher (Theis et al. 2018; Turner et al. 2020): for each layer output ``a`` (channels ``c``)
    with gradient ``g``, ``sum_c 1/(2N) sum_n (sum_hw a g)^2``. The outputs' gradients come from
    the same ``autograd.grad`` call (no tensor hooks, so no reference cycles keep graphs alive).
    """
    layers = prunable(model)
    acts: list[torch.Tensor] = []

    def keep(module: nn.Module, inputs: Any, out: torch.Tensor) -> None:
        acts.append(out)

    handles = [m.register_forward_hook(keep) for m in layers]
    try:
        model.zero_grad(set_to_none=True)
        loss = nn.functional.cross_entropy(model(batch.x), batch.y)
    finally:
        for h in handles:
            h.remove()
    weights = [m.weight for m in layers]
    live = [a for a in acts if a.requires_grad]
    grads = torch.autograd.grad(loss, weights + live, allow_unused=True)
    fisher = 0.0
    for act, grad in zip(live, grads[len(weights):], strict=True):
        if grad is not None:
            prod = (act.detach() * grad).reshape(act.shape[0], act.shape[1], -1).sum(-1)
            fisher += float(0.5 * prod.pow(2).mean(0).sum())
    acts.clear()
    wgrads = [torch.zeros_like(w) if g is None else g for w, g in zip(weights, grads[: len(weights)], strict=True)]
    return {"weights": [w.detach() for w in weights], "grads": wgrads, "fisher": fisher}


def input_jacobian(model: nn.Module, batch: ProxyBatch) -> torch.Tensor:
    """Per-sample gradient of the summed outputs w.r.t. the input, flattened to (N, D)
    (Mellor et al. 2020's Jacobian; shared by jacov and epe_nas). Weight gradients are skipped.
    A network whose output does not depend on its input has the all-zero Jacobian."""
    for p in model.parameters():
        p.requires_grad_(False)
    x = batch.x.clone().requires_grad_(True)
    out = model(x)
    if not out.requires_grad:  # no path from the input to the output (e.g. all-``none`` cells)
        return torch.zeros(len(x), x[0].numel(), dtype=x.dtype, device=x.device)
    (grad,) = torch.autograd.grad(out.sum(), x, allow_unused=True)
    if grad is None:
        return torch.zeros(len(x), x[0].numel(), dtype=x.dtype, device=x.device)
    return grad.reshape(len(x), -1).detach()


def safe_corrcoef(rows: torch.Tensor) -> torch.Tensor:
    """Correlation matrix of the rows in float64; a row with no variance counts as perfectly
    correlated with every row (a degenerate Jacobian is the worst case, not a failure)."""
    z = rows.double()
    z = z - z.mean(1, keepdim=True)
    norm = z.norm(dim=1, keepdim=True)
    flat = norm.squeeze(1) <= 1e-300
    z = z / norm.clamp_min(1e-300)
    corr = z @ z.T
    corr[flat, :] = 1.0
    corr[:, flat] = 1.0
    return corr.clamp(-1.0, 1.0)
