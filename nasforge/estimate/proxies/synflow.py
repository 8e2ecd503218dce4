"""SynFlow (Tanaka et al. 2020, "Pruning neural networks without any data by iteratively
conserving synaptic flow", NeurIPS), as a network score by Abdelfattah et al. 2021.

The network is linearised: every parameter is replaced by its absolute value, BatchNorm is
bypassed (the papers score the network without BN), and an all-ones input of one sample is passed
in float64. With ``R = sum(f(1))``, the score is ``sum |theta * dR/dtheta|`` over the weights
of every convolution and linear layer. It reads no data.
"""

from __future__ import annotations

import torch
from torch import nn

from nasforge.estimate.proxies import register_proxy
from nasforge.estimate.proxies.base import Proxy, ProxyBatch, copy_of, prunable


def bypass_batchnorm(model: nn.Module) -> None:
    """Make every BatchNorm an exact identity (eval mode, zero mean, unit scale)."""
    for m in model.modules():
        if isinstance(m, nn.modules.batchnorm._BatchNorm):
            m.eval()
            if m.running_mean is not None:
                m.running_mean.zero_()
                m.running_var.fill_(1.0 - m.eps)
            if m.affine:
                m.weight.data.fill_(1.0)
                m.bias.data.zero_()


@register_proxy("synflow")
class Synflow(Proxy):
    """Synaptic flow of the linearised network on an all-ones input (data-free)."""

    name = "synflow"
    data = "synthetic"
    paper = "Tanaka et al. 2020"

    def score(self, model: nn.Module, batch: ProxyBatch) -> float:
        net = copy_of(model).double()
        with torch.no_grad():
            for p in net.parameters():
                p.abs_()
        bypass_batchnorm(net)
        layers = prunable(net)
        weights = [m.weight for m in layers]
        for p in net.parameters():
            p.requires_grad_(False)
        for w in weights:
            w.requires_grad_(True)
        out = net(torch.ones((1, *batch.input_shape), dtype=torch.float64, device=batch.x.device))
        grads = torch.autograd.grad(out.sum(), weights, allow_unused=True)
        return float(sum((w.detach() * g).abs().sum().item()
                         for w, g in zip(weights, grads, strict=True) if g is not None))
