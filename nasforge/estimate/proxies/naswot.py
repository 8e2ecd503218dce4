"""NASWOT (Mellor et al. 2021, "Neural Architecture Search without Training", ICML).

Every ReLU unit gives each input of the batch a binary code (active or not). With ``N_A`` units
in all and ``d_H`` the Hamming distance between two inputs' codes, the kernel is
``K_ij = N_A - d_H(c_i, c_j)`` and the score is ``log |K|``. One forward pass, no gradients, the
network in train mode. ``K + I`` is used so that a network whose codes are identical for every
input (``K`` singular) gets the finite minimum ``log(1 + N * N_A)``; for any other network the
identity shifts ``log |K|`` by about ``sum_i 1 / lambda_i``, negligible at these counts.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from nasforge.estimate.proxies import register_proxy
from nasforge.estimate.proxies.base import Proxy, ProxyBatch


def activation_kernel(model: nn.Module, x: torch.Tensor) -> tuple[torch.Tensor, int]:
    """``(K, N_A)``: the kernel over the batch summed over every ``nn.ReLU`` module."""
    n = len(x)
    kernel = torch.zeros(n, n, dtype=torch.float64, device=x.device)
    units = 0
    seen: dict[int, tuple[torch.Tensor, torch.Tensor]] = {}  # id(input) -> (input, its kernel)

    def hook(module: nn.Module, inputs: Any, out: torch.Tensor) -> None:
        nonlocal kernel, units
        source = inputs[0]
        d = out[0].numel()
        if not module.inplace and id(source) in seen and seen[id(source)][0] is source:
            part = seen[id(source)][1]  # several ReLUs on one tensor: the same codes
        else:
            signs = (out.reshape(n, -1) > 0).float() * 2 - 1  # +-1 codes: s_i.s_j = d - 2 d_H
            part = (signs @ signs.T).double()
            if not module.inplace:
                seen[id(source)] = (source, part)
        kernel += (part + d) / 2  # = d - d_H
        units += d

    relus = [m for m in model.modules() if isinstance(m, nn.ReLU)]
    handles = [m.register_forward_hook(hook) for m in relus]
    try:
        with torch.no_grad():
            model(x)
    finally:
        for h in handles:
            h.remove()
        seen.clear()
    return kernel, units


@register_proxy("nwot")
class Naswot(Proxy):
    """``log |K_H|`` of the ReLU activation codes on the data batch."""

    name = "nwot"
    data = "batch"
    paper = "Mellor et al. 2021"

    def score(self, model: nn.Module, batch: ProxyBatch) -> float:
        kernel, _ = activation_kernel(model, batch.x)
        kernel += torch.eye(len(kernel), dtype=torch.float64, device=kernel.device)
        sign, logdet = torch.linalg.slogdet(kernel)
        if sign <= 0:
            raise ValueError("the activation kernel is not positive definite")
        return float(logdet)
