"""The weight-entangled supernet of the OFA-style ``mbconv`` space (Cai et al. 2020 OFA).

Elastic in every dimension of the space: width multiplier (leading channels of the stem, of
every layer and of the head's input), depth (a stage runs its first ``depth`` layers), kernel
(centre crop of the largest kernel) and expansion (leading hidden channels). Stem, layers and
head are :mod:`nasforge.oneshot.elastic` layers of the largest size.

``entangle=True`` adds architecture parameters and the relaxed forward ``supernet(x)`` of
TangleNAS (Sukthanker et al. 2024; :mod:`nasforge.oneshot.mbconv_relaxed`).
"""

from __future__ import annotations

from typing import Any

import torch.nn.functional as F
from torch import Tensor, nn

from nasforge.oneshot.data import device_of
from nasforge.oneshot.elastic import ElasticBatchNorm2d, ElasticConv2d, ElasticMBConv
from nasforge.oneshot.mbconv_relaxed import RelaxedMBConv, new_alphas
from nasforge.oneshot.supernet import Supernet, register_supernet
from nasforge.space.arch import Arch
from nasforge.space.layers import MBConv, PoolLinear
from nasforge.space.mbconv import MBConvSpace, round_channels


@register_supernet("mbconv")
class MBConvSupernet(RelaxedMBConv, Supernet):
    """Supernet of an :class:`MBConvSpace` (its constructor arguments set the skeleton)."""

    capabilities = frozenset({"paths", "entangled", "softmax"})
    #: the constructor settings that make this supernet weight-entangled (TangleNAS)
    entangled_config = {"entangle": True}

    def __init__(self, space: MBConvSpace, task: Any, bn_affine: bool = True, entangle: bool = False) -> None:
        super().__init__(space, task)
        self.config = dict(bn_affine=bn_affine, entangle=entangle)
        c_img, h, w = self.shape.input_shape
        wmax = max(space.width_mults)
        self.stem_stride = 1 if min(h, w) <= 64 else 2
        c = round_channels(space.stem * wmax)
        self.stem = ElasticConv2d(c_img, c, 3, self.stem_stride)
        self.stem_bn = ElasticBatchNorm2d(c)
        self.stages = nn.ModuleList()
        for base, first_stride in zip(space.widths, space.strides, strict=True):
            c_out = round_channels(base * wmax)
            stage = nn.ModuleList()
            for i in range(max(space.depths)):
                stage.append(ElasticMBConv(c, c_out, max(space.kernels), max(space.expansions),
                                           first_stride if i == 0 else 1, bn_affine))
                c = c_out
            self.stages.append(stage)
        self.head_conv = ElasticConv2d(c, space.head, 1)
        self.head_bn = ElasticBatchNorm2d(space.head)
        self.classifier = PoolLinear(space.head, self.shape.num_classes)
        self.alphas = new_alphas(space) if entangle else None

    def extremes(self) -> tuple[Arch, Arch]:
        sp = self.space
        big: dict[str, Any] = {"width": max(sp.width_mults)}
        small: dict[str, Any] = {"width": min(sp.width_mults)}
        for c in sp.choices[1:]:
            big[c.name], small[c.name] = max(c.options), min(c.options)
        return sp.arch(big), sp.arch(small)

    def _layers(self, arch: Arch):
        """``(s, i, layer, kernel, expand, c_out)`` of every active layer of ``arch``."""
        mult = float(arch["width"])
        for s, stage in enumerate(self.stages):
            c_out = round_channels(self.space.widths[s] * mult)
            for i in range(int(arch[f"depth_{s}"])):
                yield (s, i, stage[i], int(arch[f"kernel_{s}_{i}"]), int(arch[f"expand_{s}_{i}"]), c_out)

    def forward(self, x: Tensor, arch: Arch | None = None) -> Tensor:
        if arch is None:
            if self.alphas is None:
                raise ValueError("the mbconv supernet runs one arch at a time: call supernet(x, arch) "
                                 "(or build it with entangle=True for the relaxed forward)")
            return self.relaxed_forward(x)
        self._check(arch)
        c = round_channels(self.space.stem * float(arch["width"]))
        x = F.relu(self.stem_bn(self.stem(x, c, 3)))
        for _s, _i, layer, kernel, expand, c_out in self._layers(arch):
            x = layer(x, kernel, expand, c_out)
        x = F.relu(self.head_bn(self.head_conv(x, self.space.head, 1)))
        return self.classifier(x)

    def extract(self, arch: Arch) -> nn.Module:
        """The standalone network of ``arch`` (``space.build``) with inherited weights."""
        self._check(arch)
        net = self.space.build(arch, self.shape).to(device_of(self))  # on the supernet's device
        stem_conv, stem_bn = net[0][0], net[0][1]
        stem_conv.weight.data.copy_(self.stem.weight_for(stem_conv.in_channels, stem_conv.out_channels, 3))
        self.stem_bn.copy_to(stem_bn)
        blocks = list(net)[1:-1]
        for block, (_s, _i, layer, kernel, _e, _c) in zip(blocks, self._layers(arch), strict=True):
            assert isinstance(block, MBConv)
            layer.copy_to(block, kernel)
        head = net[-1]
        conv, bn = head[0][0], head[0][1]
        conv.weight.data.copy_(self.head_conv.weight_for(conv.in_channels, conv.out_channels, 1))
        self.head_bn.copy_to(bn)
        head[1].load_state_dict(self.classifier.state_dict())
        return net.train(self.training)
