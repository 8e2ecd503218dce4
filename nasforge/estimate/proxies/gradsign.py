"""GradSign (Zhang & Jia 2022, "GradSign: Model Performance Inference with Theoretical
Insights", ICLR).

For each weight ``k`` of the convolution and linear layers and each sample ``i`` of the batch,
take the sign of the per-sample loss gradient; the score is ``sum_k |sum_i sign(g_ik)|``: how
consistently the samples agree on the direction of each weight's update. Per-sample gradients
come from one forward/backward per sample (BatchNorm in train mode over that sample).
"""

from __future__ import annotations

import torch
from torch import nn

from nasforge.estimate.proxies import register_proxy
from nasforge.estimate.proxies.base import Proxy, ProxyBatch, prunable


@register_proxy("gradsign")
class GradSign(Proxy):
    """Agreement of per-sample gradient signs at initialisation."""

    name = "gradsign"
    data = "labels"
    paper = "Zhang & Jia 2022"

    def score(self, model: nn.Module, batch: ProxyBatch) -> float:
        weights = [m.weight for m in prunable(model)]
        totals = [torch.zeros_like(w) for w in weights]
        for i in range(len(batch.x)):
            loss = nn.functional.cross_entropy(model(batch.x[i:i + 1]), batch.y[i:i + 1])
            grads = torch.autograd.grad(loss, weights, allow_unused=True)
            for total, g in zip(totals, grads, strict=True):
                if g is not None:
                    total += torch.sign(g)
        return float(sum(t.abs().sum().item() for t in totals))
