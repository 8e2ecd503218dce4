"""A NAS-Bench-201 edge whose two convolutions share one weight (TangleNAS, Sukthanker et al.
2024, "Weight-Entangled Differentiable Neural Architecture Search").

``nor_conv_3x3`` and ``nor_conv_1x1`` are one ReLU-conv-BN operation of a 3x3 kernel: the 1x1
candidate is its centre slice ``W[:, :, 1:2, 1:2]`` and shares its BatchNorm. The relaxed
forward (:meth:`EntangledEdge.mix`) mixes the two in weight space and runs the convolution
once::

    mass = p_3x3 + p_1x1
    conv = mass * BN(conv2d(relu(x), (p_3x3 * W + p_1x1 * centre(W)) / mass))

(``centre(W)``: ``W`` with everything but the centre tap zeroed, i.e. the 1x1 slice padded to
3x3). The parameter-free candidates (``avg_pool_3x3``, ``skip_connect``, ``none``) have no
weights to entangle and are mixed by output, as in DARTS. Single paths (``single``,
``binary``) run the chosen slice alone, so a subnet inherits the 3x3 weight, or its centre, and
the shared BatchNorm (:meth:`EntangledEdge.copy_to`).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from nasforge.oneshot.mixed import MixedEdge
from nasforge.oneshot.supernet import copy_state

BIG, SMALL = "nor_conv_3x3", "nor_conv_1x1"


class EntangledEdge(MixedEdge):
    """All candidates of one edge, the two convolutions as slices of one 3x3 operation."""

    def __init__(self, ops: Sequence[str], channels: int, partial: int = 1, bn_affine: bool = True) -> None:
        if partial != 1:
            raise ValueError("an entangled NB201 edge runs on all channels (partial must be 1)")
        if BIG not in ops or SMALL not in ops:
            raise ValueError(f"an entangled NB201 edge needs both {BIG} and {SMALL}, got {tuple(ops)}")
        super().__init__(ops, channels, partial, bn_affine)
        del self.candidates[SMALL]  # the 1x1 is the centre slice of the 3x3's weight
        self.big, self.small = self.names.index(BIG), self.names.index(SMALL)

    @property
    def shared(self) -> nn.Sequential:
        """The ReLU-conv-BN of the 3x3 kernel that both convolutions use."""
        return self.candidates[BIG]  # type: ignore[return-value]

    def _conv(self, x: Tensor, weight: Tensor) -> Tensor:
        relu, _conv, bn = self.shared
        return bn(F.conv2d(relu(x), weight, None, 1, weight.shape[-1] // 2))

    def _run(self, index: int, x: Tensor) -> Tensor:
        if index == self.small:
            return self._conv(x, self.shared[1].weight[:, :, 1:2, 1:2])
        return super()._run(index, x)

    def mix(self, x: Tensor, weights: Tensor) -> Tensor:
        """Convolutions mixed in weight space (one conv), the rest by output (module docstring)."""
        out = None
        mass = weights[self.big] + weights[self.small]
        if float(mass.detach()) > 0:
            w = self.shared[1].weight
            centre = torch.zeros(3, 3, dtype=w.dtype, device=w.device)
            centre[1, 1] = 1.0
            mixed = w * (weights[self.big] + weights[self.small] * centre) / mass.clamp_min(1e-12)
            out = mass * self._conv(x, mixed)
        for k, name in enumerate(self.names):
            if k in (self.big, self.small) or name == "none" or float(weights[k].detach()) == 0.0:
                continue
            term = weights[k] * self._run(k, x)
            out = term if out is None else out + term
        return x.mul(0.0) if out is None else out

    def output_mix(self, x: Tensor, weights: Tensor) -> Tensor:
        """DARTS-style reference on the same weights: every candidate runs, outputs are mixed."""
        return MixedEdge.mix(self, x, weights)

    @torch.no_grad()
    def copy_to(self, name: str, target: nn.Module) -> None:
        """Write candidate ``name``'s weights (for the 1x1: the centre slice) into ``target``, the
        standalone network's operation."""
        if name != SMALL:
            copy_state(self.candidates[name], target)
            return
        _relu, conv, bn = target  # type: ignore[misc]
        conv.weight.copy_(self.shared[1].weight[:, :, 1:2, 1:2])
        source = self.shared[2].state_dict()
        bn_state = bn.state_dict()
        for key, value in source.items():
            bn_state[key].copy_(value)
