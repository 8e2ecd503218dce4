"""Fake quantization with a straight-through estimator (quantization-aware training).

The forward pass rounds values to the integer grid of a bit-width and maps them back to floats;
the backward pass lets gradients through unchanged inside the representable range and stops
them outside it (the straight-through estimator of Bengio et al. 2013, as used for
quantization-aware training by Jacob et al. 2018, "Quantization and Training of Neural Networks
for Efficient Integer-Arithmetic-Only Inference").

- Weights: symmetric, per output channel (axis 0), ``scale = max|w_c| / (2**(b-1) - 1)``, zero
  point 0; the integers lie in ``[-(2**(b-1) - 1), 2**(b-1) - 1]``.
- Activations: asymmetric, per tensor, from an observed range ``[lo, hi]`` (widened to hold 0):
  ``scale = (hi - lo) / (2**b - 1)``, integer zero point in ``[0, 2**b - 1]``.

Both are written as a clamp to the ``b``-bit range followed by PyTorch's 8-bit fake-quantize
ops, so the same module exports to ONNX as QuantizeLinear/DequantizeLinear pairs (int8 weights,
uint8 activations) whose results equal the ``b``-bit values for any ``b <= 8``. ``32`` bits
means no quantization.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from nasforge.space.bits import FLOAT_BITS, VALID_BITS, check_bits  # noqa: F401 - re-exported

_EPS = 1e-8


def fake_quant_weight(weight: Tensor, bits: int, constant: bool = False) -> Tensor:
    """``weight`` on the symmetric per-output-channel grid of ``bits`` bits (see the module
    docstring). ``constant``: ``weight`` is a constant (not a parameter), and so is the scale,
    computed here outside any trace (an exported graph then holds it as an initializer)."""
    if bits >= FLOAT_BITS:
        return weight
    qmax = 2 ** (bits - 1) - 1
    if constant:
        with torch.no_grad():
            values = weight.abs().flatten(1).amax(1).clamp_min(_EPS).div(qmax).tolist()
        scale = torch.tensor(values, dtype=torch.float32, device=weight.device)
    else:
        scale = weight.detach().abs().flatten(1).amax(1).clamp_min(_EPS) / qmax
    zero = torch.zeros(weight.shape[0], dtype=torch.int32, device=weight.device)
    return torch.fake_quantize_per_channel_affine(weight, scale.float(), zero, 0, -128, 127)


def activation_qparams(lo: float, hi: float, bits: int) -> tuple[float, int]:
    """``(scale, zero_point)`` of the asymmetric ``bits``-bit grid covering ``[lo, hi]`` and 0."""
    lo, hi = min(lo, 0.0), max(hi, 0.0)
    levels = 2**bits - 1
    scale = max((hi - lo) / levels, _EPS)
    zero = int(min(max(round(-lo / scale), 0), levels))
    return scale, zero


class ActQuant(nn.Module):
    """Per-tensor fake quantization of activations with an observed range.

    In training mode each batch updates the range (the first sets it; later ones move it by
    ``momentum``, an exponential moving average of batch minima and maxima); in eval mode the
    range is frozen. :meth:`observe` sets the range from one batch (calibration). Until a range
    has been observed the module passes values through unchanged.
    """

    def __init__(self, bits: int, momentum: float = 0.1) -> None:
        super().__init__()
        self.bits = check_bits(bits, "activation bits")
        self.momentum = momentum
        self.register_buffer("lo", torch.zeros(()))
        self.register_buffer("hi", torch.zeros(()))
        self.register_buffer("observed", torch.zeros((), dtype=torch.bool))

    @torch.no_grad()
    def observe(self, x: Tensor, reset: bool = False) -> None:
        """Update the range from ``x`` (``reset``: take ``x``'s range as it is)."""
        lo, hi = x.detach().min().float(), x.detach().max().float()
        if reset or not bool(self.observed):
            self.lo.copy_(lo)
            self.hi.copy_(hi)
            self.observed.fill_(True)
        else:
            self.lo.lerp_(lo, self.momentum)
            self.hi.lerp_(hi, self.momentum)

    def qparams(self) -> tuple[float, int]:
        """``(scale, zero_point)`` of the current range."""
        return activation_qparams(float(self.lo), float(self.hi), self.bits)

    def forward(self, x: Tensor) -> Tensor:
        if self.bits >= FLOAT_BITS:
            return x
        if self.training:
            self.observe(x)
        if not bool(self.observed):
            return x
        scale, zero = self.qparams()
        levels = 2**self.bits - 1
        x = torch.clamp(x, (0 - zero) * scale, (levels - zero) * scale)
        return torch.fake_quantize_per_tensor_affine(x, scale, zero, 0, 255)

    def extra_repr(self) -> str:
        return f"bits={self.bits}"
