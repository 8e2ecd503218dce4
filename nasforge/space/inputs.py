"""Stand-in inputs for measuring a built network (FLOPs, memory, latency, export).

Most networks take float32 inputs ``(B, *input_shape)``. A network that declares
``input_dtype = torch.int64`` (a language model, e.g. :class:`nasforge.space.gpt_model.GPT`)
takes token ids instead, in ``[0, model.vocab_size)``. Every place that feeds a network a
made-up batch asks :func:`example_input` for it, so both kinds are measured the same way.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import torch
    from torch import nn


def takes_tokens(model: nn.Module) -> bool:
    """Whether ``model`` takes int64 token ids rather than float inputs."""
    import torch

    return getattr(model, "input_dtype", None) == torch.int64


def example_input(model: nn.Module, input_shape: tuple[int, ...], batch_size: int = 1, *,
                  random: bool = False, device: Any = None, generator: torch.Generator | None = None) -> torch.Tensor:
    """A batch of ``batch_size`` inputs of ``input_shape`` for ``model``: zeros, or with
    ``random`` standard-normal floats / uniform token ids drawn from ``generator``."""
    import torch

    shape = (batch_size, *input_shape)
    if takes_tokens(model):
        if not random:
            return torch.zeros(shape, dtype=torch.int64, device=device)
        ids = torch.randint(0, int(model.vocab_size), shape, generator=generator,
                            device=None if generator is None else generator.device)
        return ids.to(device) if device is not None else ids
    if not random:
        return torch.zeros(shape, device=device)
    x = torch.randn(shape, generator=generator, device=None if generator is None else generator.device)
    return x.to(device) if device is not None else x
