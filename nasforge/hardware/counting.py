"""Parameter and FLOP counts of a model."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn


def count_params(model: nn.Module, trainable_only: bool = False) -> int:
    """Number of parameters (all, or only those with ``requires_grad``)."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad or not trainable_only)


def count_flops(model: nn.Module, input_shape: Sequence[int], batch_size: int = 1) -> int:
    """FLOPs of one forward pass per sample, by PyTorch's ``FlopCounterMode``.

    PyTorch counts a multiply-add as two FLOPs (so a conv's count is 2 x its MACs); only the
    operations it knows (convolutions, matmuls, ...) are counted, not element-wise ones.
    """
    from torch.utils.flop_counter import FlopCounterMode

    was_training = model.training
    model.eval()
    x = torch.zeros(batch_size, *input_shape)
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        model(x)
    model.train(was_training)
    return int(counter.get_total_flops() // batch_size)
