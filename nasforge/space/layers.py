"""Shared PyTorch layers of the built-in image spaces (imports torch; spaces import it lazily).

- :class:`ReLUConvBN`, :class:`ResidualReduction`, :class:`NB201Cell`: NAS-Bench-201
  (Dong & Yang 2020).
- :class:`MBConv`, :class:`Projection`: MobileNetV2 inverted residuals (Sandler et al. 2018) as
  used by NAS-Bench-Macro (Su et al. 2021) and OFA-style spaces (Cai et al. 2020).
- :class:`BlockNet`: a network that is exactly the chain of its blocks, so that a per-block
  latency table (FBNet, Wu et al. 2019) sums the very modules the network runs.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

Identity = nn.Identity  # a stride-1 NAS-Bench-Macro identity layer


class ReLUConvBN(nn.Sequential):
    """ReLU, convolution (no bias), BatchNorm: the NAS-Bench-201 convolution operation."""

    def __init__(self, c_in: int, c_out: int, kernel: int, stride: int = 1) -> None:
        super().__init__(
            nn.ReLU(inplace=False),
            nn.Conv2d(c_in, c_out, kernel, stride, padding=kernel // 2, bias=False),
            nn.BatchNorm2d(c_out),
        )


class ConvBNAct(nn.Sequential):
    """Convolution (no bias), BatchNorm, optional ReLU: stems, heads and MBConv parts."""

    def __init__(self, c_in: int, c_out: int, kernel: int = 1, stride: int = 1,
                 groups: int = 1, act: bool = True) -> None:
        layers: list[nn.Module] = [
            nn.Conv2d(c_in, c_out, kernel, stride, padding=kernel // 2, groups=groups, bias=False),
            nn.BatchNorm2d(c_out),
        ]
        if act:
            layers.append(nn.ReLU(inplace=True))
        super().__init__(*layers)


class Projection(ConvBNAct):
    """1x1 convolution + BatchNorm without activation: the 'identity' block of NAS-Bench-Macro
    where the shape changes (stride 2, channels doubled)."""

    def __init__(self, c_in: int, c_out: int, stride: int) -> None:
        super().__init__(c_in, c_out, 1, stride, act=False)


class MBConv(nn.Module):
    """MobileNetV2 inverted residual: 1x1 expand, kxk depthwise, 1x1 linear projection.

    The hidden width is ``round(c_in * expand)``; with ``expand == 1`` there is no expansion
    layer. The input is added back when stride is 1 and the channels match.
    """

    def __init__(self, c_in: int, c_out: int, kernel: int, expand: float, stride: int) -> None:
        super().__init__()
        hidden = round(c_in * expand)
        layers: list[nn.Module] = []
        if hidden != c_in:
            layers.append(ConvBNAct(c_in, hidden, 1))
        layers.append(ConvBNAct(hidden, hidden, kernel, stride, groups=hidden))
        layers.append(ConvBNAct(hidden, c_out, 1, act=False))
        self.conv = nn.Sequential(*layers)
        self.residual = stride == 1 and c_in == c_out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.conv(x)
        return out + x if self.residual else out


class ResidualReduction(nn.Module):
    """The NAS-Bench-201 reduction block: a ResNet basic block with stride 2.

    Main path ReLU-Conv3x3(s2)-BN, ReLU-Conv3x3-BN; shortcut 2x2 average pooling then a 1x1
    convolution (no BN), as in the benchmark's networks.
    """

    def __init__(self, c_in: int, c_out: int) -> None:
        super().__init__()
        self.conv_a = ReLUConvBN(c_in, c_out, 3, stride=2)
        self.conv_b = ReLUConvBN(c_out, c_out, 3)
        # ceil_mode keeps both paths the same size for odd inputs; no effect on even ones.
        self.shortcut = nn.Sequential(nn.AvgPool2d(2, 2, ceil_mode=True),
                                      nn.Conv2d(c_in, c_out, 1, bias=False))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv_b(self.conv_a(x)) + self.shortcut(x)


def nb201_op(name: str, channels: int) -> nn.Module | None:
    """One NAS-Bench-201 edge operation (``None`` for ``none``, which contributes nothing)."""
    if name == "none":
        return None
    if name == "skip_connect":
        return nn.Identity()
    if name == "nor_conv_1x1":
        return ReLUConvBN(channels, channels, 1)
    if name == "nor_conv_3x3":
        return ReLUConvBN(channels, channels, 3)
    if name == "avg_pool_3x3":
        return nn.AvgPool2d(3, 1, padding=1, count_include_pad=False)
    raise ValueError(f"unknown NAS-Bench-201 operation {name!r}")


class NB201Cell(nn.Module):
    """A NAS-Bench-201 cell: node j is the sum over i < j of op(i -> j)(node i); node 3 is out.

    ``ops`` lists the six edge operations in benchmark order (1<-0, 2<-0, 2<-1, 3<-0, 3<-1,
    3<-2). ``none`` edges are left out; a node with no live input is zero.
    """

    EDGES = ((1, 0), (2, 0), (2, 1), (3, 0), (3, 1), (3, 2))

    def __init__(self, ops: Sequence[str], channels: int) -> None:
        super().__init__()
        if len(ops) != len(self.EDGES):
            raise ValueError(f"a NAS-Bench-201 cell has 6 edges, got {len(ops)} operations")
        self.edges = nn.ModuleDict()
        for (dst, src), name in zip(self.EDGES, ops, strict=True):
            op = nb201_op(name, channels)
            if op is not None:
                self.edges[f"{dst}_{src}"] = op

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        nodes = [x]
        for dst in (1, 2, 3):
            total = None
            for src in range(dst):
                key = f"{dst}_{src}"
                if key in self.edges:
                    out = self.edges[key](nodes[src])
                    total = out if total is None else total + out
            nodes.append(total if total is not None else torch.zeros_like(x))
        return nodes[3]


class PoolLinear(nn.Module):
    """Global average pooling, flatten, linear classifier."""

    def __init__(self, c_in: int, num_classes: int) -> None:
        super().__init__()
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Linear(c_in, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(torch.flatten(self.pool(x), 1))


class Head(nn.Sequential):
    """Classifier head: optional BN-ReLU (NAS-Bench-201) or 1x1 ConvBNReLU to ``hidden``
    channels (MobileNet-style), then global pooling and a linear layer."""

    def __init__(self, c_in: int, num_classes: int, hidden: int = 0, bn_relu: bool = False) -> None:
        layers: list[nn.Module] = []
        if bn_relu:
            layers += [nn.BatchNorm2d(c_in), nn.ReLU(inplace=False)]
        if hidden:
            layers.append(ConvBNAct(c_in, hidden, 1))
            c_in = hidden
        layers.append(PoolLinear(c_in, num_classes))
        super().__init__(*layers)


class BlockNet(nn.Sequential):
    """A network that is the chain of its blocks (stem, searchable blocks, head)."""
