"""Size baselines: every zero-cost proxy should be compared with these (Ning et al. 2021,
"Evaluating Efficient Performance Estimators of Neural Architectures"; White et al. 2021,
"How Powerful are Performance Predictors in Neural Architecture Search?")."""

from __future__ import annotations

from torch import nn

from nasforge.estimate.proxies import register_proxy
from nasforge.estimate.proxies.base import Proxy, ProxyBatch


@register_proxy("params")
class Params(Proxy):
    """Number of parameters of the built network (no data)."""

    name = "params"
    data = "none"
    paper = "White et al. 2021"

    def score(self, model: nn.Module, batch: ProxyBatch) -> float:
        from nasforge.hardware.metrics import count_params

        return float(count_params(model))


@register_proxy("flops")
class Flops(Proxy):
    """FLOPs of one forward pass per sample (PyTorch's FLOP counter; a multiply-add is 2)."""

    name = "flops"
    data = "none"
    paper = "White et al. 2021"

    def score(self, model: nn.Module, batch: ProxyBatch) -> float:
        from nasforge.hardware.metrics import count_flops

        if batch.x.device.type != "cpu":  # the counter feeds a CPU input; FLOPs do not depend on the device
            from nasforge.estimate.proxies.base import copy_of

            model = copy_of(model).cpu()
        return float(count_flops(model, batch.input_shape))
