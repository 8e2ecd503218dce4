"""Pruning-at-initialisation saliencies summed over a network (Abdelfattah et al. 2021,
"Zero-Cost Proxies for Lightweight NAS", ICLR): each per-weight saliency is summed over the
weights of every convolution and linear layer. All use one mini-batch, the cross-entropy loss and
the network in train mode; snip, grad_norm, plain and fisher share one forward/backward pass.
"""

from __future__ import annotations

import torch
from torch import nn

from nasforge.estimate.proxies import register_proxy
from nasforge.estimate.proxies.base import Proxy, ProxyBatch, loss_gradients, prunable


def _gradients(model: nn.Module, batch: ProxyBatch) -> dict:
    return batch.shared("loss_gradients", lambda: loss_gradients(model, batch))


@register_proxy("snip")
class Snip(Proxy):
    """SNIP connection sensitivity (Lee et al. 2019, "SNIP: Single-shot Network Pruning based
    on Connection Sensitivity", ICLR): ``sum |theta * dL/dtheta|``."""

    name = "snip"
    data = "labels"
    paper = "Lee et al. 2019"

    def score(self, model: nn.Module, batch: ProxyBatch) -> float:
        g = _gradients(model, batch)
        return float(sum((w * d).abs().sum().item() for w, d in zip(g["weights"], g["grads"], strict=True)))


@register_proxy("grad_norm")
class GradNorm(Proxy):
    """Gradient norm (Abdelfattah et al. 2021): ``sum over layers of ||dL/dW||_2``."""

    name = "grad_norm"
    data = "labels"
    paper = "Abdelfattah et al. 2021"

    def score(self, model: nn.Module, batch: ProxyBatch) -> float:
        return float(sum(d.norm().item() for d in _gradients(model, batch)["grads"]))


@register_proxy("plain")
class Plain(Proxy):
    """Plain saliency (Mozer & Smolensky 1989, as used by Abdelfattah et al. 2021):
    ``sum theta * dL/dtheta`` (no absolute value)."""

    name = "plain"
    data = "labels"
    paper = "Mozer & Smolensky 1989; Abdelfattah et al. 2021"

    def score(self, model: nn.Module, batch: ProxyBatch) -> float:
        g = _gradients(model, batch)
        return float(sum((w * d).sum().item() for w, d in zip(g["weights"], g["grads"], strict=True)))


@register_proxy("fisher")
class Fisher(Proxy):
    """Fisher information of the channels (Turner et al. 2020, "BlockSwap: Fisher-guided Block
    Substitution for Network Compression on a Budget", ICLR; Theis et al. 2018): for each layer
    output, ``sum_c 1/(2N) sum_n (sum_hw a * dL/da)^2``, summed over conv and linear outputs."""

    name = "fisher"
    data = "labels"
    paper = "Turner et al. 2020"

    def score(self, model: nn.Module, batch: ProxyBatch) -> float:
        return float(_gradients(model, batch)["fisher"])


@register_proxy("grasp")
class Grasp(Proxy):
    """GraSP gradient-signal preservation (Wang et al. 2020, "Picking Winning Tickets Before
    Training by Preserving Gradient Flow", ICLR): ``-sum theta * (H g)``, with ``g = dL/dtheta``
    and the Hessian-gradient product from a second, differentiable backward pass."""

    name = "grasp"
    data = "labels"
    paper = "Wang et al. 2020"

    def score(self, model: nn.Module, batch: ProxyBatch) -> float:
        g = _gradients(model, batch)["grads"]
        weights = [m.weight for m in prunable(model)]
        loss = nn.functional.cross_entropy(model(batch.x), batch.y)
        grads = torch.autograd.grad(loss, weights, create_graph=True, allow_unused=True)
        z = sum((gw * gd.detach()).sum() for gw, gd in zip(grads, g, strict=True) if gw is not None)
        if not isinstance(z, torch.Tensor) or not z.requires_grad:
            return 0.0  # no weight reaches the loss: nothing to preserve
        hg = torch.autograd.grad(z, weights, allow_unused=True)
        return float(-sum((w.detach() * h).sum().item() for w, h in zip(weights, hg, strict=True)
                          if h is not None))


@register_proxy("l2_norm")
class L2Norm(Proxy):
    """Weight magnitude at initialisation (Abdelfattah et al. 2021): ``sum over layers of
    ||W||_2``. Reads no data."""

    name = "l2_norm"
    data = "none"
    paper = "Abdelfattah et al. 2021"

    def score(self, model: nn.Module, batch: ProxyBatch) -> float:
        return float(sum(m.weight.detach().norm().item() for m in prunable(model)))
