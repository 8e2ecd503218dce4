"""Zen-score (Lin et al. 2021, "Zen-NAS: A Zero-Shot NAS for High-Performance Image
Recognition", ICCV).

All convolution and linear weights are drawn from N(0, 1) (BatchNorm: unit scale, zero shift);
inputs ``x`` and perturbations ``eps`` are Gaussian (no data). With ``f`` the feature map before
global average pooling and ``alpha = 0.01``,
``Zen = log(E ||f(x) - f(x + alpha eps)||_F / alpha) + sum_i log(sigma_i)``, where ``sigma_i`` is
``sqrt(mean_j var_j)`` of the batch variances of the channels entering the i-th BatchNorm on the
forward pass of ``x`` (the network is in train mode, so BN renormalises each layer and this sum
restores the scale). A BatchNorm whose input is all zeros (a branch fed only by ``none``
operations, which Zen-NAS's ResNet-like spaces never have) carries no signal and is skipped
rather than adding ``log 0``. Works on a copy of the network.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import nn

from nasforge.estimate.proxies import register_proxy
from nasforge.estimate.proxies.base import Proxy, ProxyBatch, ProxyError, copy_of, prunable

ALPHA = 0.01


def _pre_gap_module(model: nn.Module) -> nn.Module:
    pools = [m for m in model.modules() if isinstance(m, nn.AdaptiveAvgPool2d | nn.AdaptiveAvgPool1d)]
    if not pools:
        raise ProxyError("zen needs a global average pooling layer (the pre-GAP feature map)")
    return pools[-1]


@register_proxy("zen")
class ZenScore(Proxy):
    """Expressivity of the pre-GAP feature map under Gaussian weights and inputs."""

    name = "zen"
    data = "synthetic"
    paper = "Lin et al. 2021"

    def score(self, model: nn.Module, batch: ProxyBatch) -> float:
        net = copy_of(model)
        gen = batch.generator(salt=7)
        with torch.no_grad():
            for m in prunable(net):
                m.weight.copy_(torch.randn(m.weight.shape, generator=gen))
                if m.bias is not None:
                    m.bias.zero_()
            for m in net.modules():
                if isinstance(m, nn.modules.batchnorm._BatchNorm) and m.affine:
                    m.weight.fill_(1.0)
                    m.bias.zero_()
        shape = (len(batch.x), *batch.input_shape)
        x = torch.randn(shape, generator=gen).to(batch.x.device)  # drawn on the CPU: the same on every device
        eps = torch.randn(shape, generator=gen).to(batch.x.device)
        feats: list[torch.Tensor] = []
        log_sigma: list[float] = []
        record = {"on": True}

        def grab(module: nn.Module, inputs: Any) -> None:
            feats.append(inputs[0])

        def bn_std(module: nn.Module, inputs: Any) -> None:
            if record["on"]:
                dims = [d for d in range(inputs[0].dim()) if d != 1]
                var = float(inputs[0].var(dim=dims, unbiased=False).mean())
                if var > 0:  # a BN fed only zeros (a dead branch) carries no signal to rescale
                    log_sigma.append(0.5 * math.log(var))

        handles = [_pre_gap_module(net).register_forward_pre_hook(grab)]
        handles += [m.register_forward_pre_hook(bn_std) for m in net.modules()
                    if isinstance(m, nn.modules.batchnorm._BatchNorm)]
        try:
            with torch.no_grad():
                net(x)
                record["on"] = False
                net(x + ALPHA * eps)
        finally:
            for h in handles:
                h.remove()
        diff = (feats[0] - feats[1]).reshape(len(x), -1).double().norm(dim=1).mean() / ALPHA
        if diff <= 0:
            raise ProxyError("the pre-GAP features do not depend on the input (log 0)")
        return float(torch.log(diff)) + sum(log_sigma)
