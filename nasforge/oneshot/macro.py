"""The weight-entangled NAS-Bench-Macro supernet.

Each of the 8 layers holds one :class:`ElasticMBConv` of the largest option (kernel 5,
expansion 6); option ``1`` (kernel 3, expansion 3) is its centre-cropped, leading-channel slice
and option ``2`` the whole of it. Option ``0`` (identity) needs no weights at stride 1 and has
its own 1x1 projection at a stage's first layer. Stem and head are shared by every arch.

Without an arch, the supernet runs the TangleNAS (Sukthanker et al. 2024) relaxation with
architecture parameters ``alphas`` (8 x 3): the two MBConv options are mixed in weight space
(one forward of the layer), the identity in output space:
``out = p0 * identity(x) + (p1 + p2) * mbconv(x; (p1 W1 + p2 W2) / (p1 + p2))``.
``mix = "outputs"`` runs every option and mixes outputs instead (DARTS on this space; the
reference for TangleNAS's memory saving).
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from nasforge.oneshot.data import device_of
from nasforge.oneshot.elastic import ElasticMBConv
from nasforge.oneshot.supernet import Supernet, copy_state, register_supernet
from nasforge.space.arch import Arch
from nasforge.space.layers import MBConv, Projection
from nasforge.space.macro import MBCONV, OPS, MacroSpace


class MacroLayer(nn.Module):
    """One searchable NAS-Bench-Macro layer: elastic MBConv plus the identity option."""

    def __init__(self, c_in: int, c_out: int, stride: int, bn_affine: bool = True) -> None:
        super().__init__()
        kernel, expand = MBCONV[max(MBCONV)]
        self.c_out = c_out
        self.mbconv = ElasticMBConv(c_in, c_out, kernel, expand, stride, bn_affine)
        self.projection = Projection(c_in, c_out, stride) if stride != 1 or c_in != c_out else None
        if self.projection is not None and not bn_affine:
            self.projection[1] = nn.BatchNorm2d(c_out, affine=False)

    def identity(self, x: Tensor) -> Tensor:
        return x if self.projection is None else self.projection(x)

    def forward(self, x: Tensor, op: int) -> Tensor:
        if op == 0:
            return self.identity(x)
        kernel, expand = MBCONV[op]
        return self.mbconv(x, kernel, expand, self.c_out)

    def mixed(self, x: Tensor, probs: Tensor) -> Tensor:
        conv_mass = probs[1:].sum()
        options = [MBCONV[op] for op in OPS[1:]]
        out = self.mbconv.mixed(x, options, probs[1:] / conv_mass.clamp_min(1e-12), self.c_out)
        return probs[0] * self.identity(x) + conv_mass * out

    def output_mix(self, x: Tensor, probs: Tensor) -> Tensor:
        """DARTS-style reference: every option runs, outputs are mixed (``sum_k p_k o_k``)."""
        return sum(probs[op] * self(x, op) for op in OPS)


@register_supernet("macro")
class MacroSupernet(Supernet):
    """Supernet of a :class:`MacroSpace` (its ``stages``, ``stem`` and ``head`` set the skeleton)."""

    capabilities = frozenset({"paths", "entangled", "softmax"})

    def __init__(self, space: MacroSpace, task: Any, bn_affine: bool = True) -> None:
        super().__init__(space, task)
        self.config = dict(bn_affine=bn_affine)
        specs = space.blocks(space.arch({c.name: max(OPS) for c in space.choices}), self.shape)
        self.stem = specs[0].build()
        self.head = specs[-1].build()
        layers, index = [], 1
        for depth in space.stages:
            for i in range(depth):
                spec = specs[index]
                layers.append(MacroLayer(spec.input_shape[0], spec.output_shape[0], 2 if i == 0 else 1,
                                         bn_affine))
                index += 1
        self.layers = nn.ModuleList(layers)
        self.alphas = nn.Parameter(1e-3 * torch.randn(len(layers), len(OPS)))
        self.mix = "weights"

    def arch_parameters(self) -> list[nn.Parameter]:
        return [self.alphas]

    def arch_weights(self) -> dict[str, list[float]]:
        probs = F.softmax(self.alphas.detach(), dim=-1)
        return {c.name: [float(v) for v in probs[i]] for i, c in enumerate(self.space.choices)}

    def derive(self) -> Arch:
        best = self.alphas.detach().argmax(dim=-1)
        return self.space.arch({c.name: OPS[int(best[i])] for i, c in enumerate(self.space.choices)})

    def extremes(self) -> tuple[Arch, Arch]:
        names = [c.name for c in self.space.choices]
        return self.space.arch(dict.fromkeys(names, max(OPS))), self.space.arch(dict.fromkeys(names, 0))

    def forward(self, x: Tensor, arch: Arch | None = None) -> Tensor:
        x = self.stem(x)
        if arch is None:
            probs = F.softmax(self.alphas, dim=-1)
            for i, layer in enumerate(self.layers):
                x = layer.mixed(x, probs[i]) if self.mix == "weights" else layer.output_mix(x, probs[i])
        else:
            self._check(arch)
            for layer, choice in zip(self.layers, self.space.choices, strict=True):
                x = layer(x, int(arch[choice.name]))
        return self.head(x)

    def extract(self, arch: Arch) -> nn.Module:
        """The standalone NAS-Bench-Macro network of ``arch`` with inherited weights."""
        self._check(arch)
        net = self.space.build(arch, self.shape).to(device_of(self))  # on the supernet's device
        net[0].load_state_dict(self.stem.state_dict())
        net[-1].load_state_dict(self.head.state_dict())
        for i, (layer, choice) in enumerate(zip(self.layers, self.space.choices, strict=True)):
            op, target = int(arch[choice.name]), net[i + 1]
            if op == 0 and layer.projection is not None:
                copy_state(layer.projection, target)
            elif op != 0:
                assert isinstance(target, MBConv)
                layer.mbconv.copy_to(target, MBCONV[op][0])
        return net.train(self.training)
