"""Weight-entangled elastic layers (Cai et al. 2020 OFA; Yu et al. 2020 BigNAS).

Each layer holds one weight of the largest kernel and width; a candidate uses a slice of it:
the centre ``k x k`` crop of the kernel and the leading channels (inputs, outputs, hidden
width). BatchNorm keeps one set of statistics and affine parameters of the largest width and
uses their leading entries. So a subnet's weights are views of the supernet's, and
:meth:`ElasticMBConv.copy_to` writes them into a standalone
:class:`~nasforge.space.layers.MBConv` that computes the same function.

:meth:`ElasticMBConv.mixed` is the TangleNAS (Sukthanker et al. 2024) forward: the candidates'
zero-padded weight slices are mixed with architecture weights into one weight of the largest
shape, and the layer runs once (mix weights, not outputs).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from nasforge.space.layers import MBConv


class ElasticConv2d(nn.Module):
    """A bias-free convolution whose kernel and channels shrink by slicing (padding ``k // 2``)."""

    def __init__(self, c_in: int, c_out: int, kernel: int, stride: int = 1,
                 depthwise: bool = False) -> None:
        super().__init__()
        self.kernel, self.stride, self.depthwise = kernel, stride, depthwise
        self.weight = nn.Parameter(torch.empty(c_out, 1 if depthwise else c_in, kernel, kernel))
        nn.init.kaiming_uniform_(self.weight, a=math.sqrt(5))  # nn.Conv2d's default

    def weight_for(self, c_in: int, c_out: int, kernel: int) -> Tensor:
        """The slice used by ``c_in`` -> ``c_out`` channels with a ``kernel`` centre crop."""
        if kernel > self.kernel or kernel % 2 != self.kernel % 2:
            raise ValueError(f"kernel {kernel} is not a centre crop of {self.kernel}")
        s = (self.kernel - kernel) // 2
        return self.weight[:c_out, : (1 if self.depthwise else c_in), s:s + kernel, s:s + kernel]

    def forward(self, x: Tensor, c_out: int, kernel: int, weight: Tensor | None = None) -> Tensor:
        c_in = x.shape[1]
        if self.depthwise:
            c_out = c_in
        w = self.weight_for(c_in, c_out, kernel) if weight is None else weight
        return F.conv2d(x, w, None, self.stride, w.shape[-1] // 2, 1, c_in if self.depthwise else 1)


class ElasticBatchNorm2d(nn.BatchNorm2d):
    """BatchNorm over the leading ``C`` channels of the input (statistics are shared slices)."""

    def forward(self, x: Tensor) -> Tensor:
        c = x.shape[1]
        factor = 0.0 if self.momentum is None else self.momentum
        if self.training and self.track_running_stats:
            self.num_batches_tracked.add_(1)
            if self.momentum is None:
                factor = 1.0 / float(self.num_batches_tracked)
        use_batch = self.training or self.running_mean is None
        return F.batch_norm(
            x,
            self.running_mean[:c] if self.running_mean is not None else None,
            self.running_var[:c] if self.running_var is not None else None,
            self.weight[:c] if self.affine else None,
            self.bias[:c] if self.affine else None,
            use_batch, factor, self.eps)

    def copy_to(self, bn: nn.BatchNorm2d) -> None:
        """Write the leading ``bn.num_features`` entries into a standalone BatchNorm."""
        c = bn.num_features
        with torch.no_grad():
            bn.running_mean.copy_(self.running_mean[:c])
            bn.running_var.copy_(self.running_var[:c])
            bn.num_batches_tracked.copy_(self.num_batches_tracked)
            if self.affine:
                bn.weight.copy_(self.weight[:c])
                bn.bias.copy_(self.bias[:c])
            else:
                nn.init.ones_(bn.weight)
                nn.init.zeros_(bn.bias)


class ElasticMBConv(nn.Module):
    """An inverted residual (Sandler et al. 2018) with elastic kernel, expansion and width."""

    def __init__(self, c_in: int, c_out: int, kernel: int, expand: float, stride: int,
                 bn_affine: bool = True) -> None:
        super().__init__()
        hidden = round(c_in * expand)
        self.stride = stride
        self.expand = ElasticConv2d(c_in, hidden, 1)
        self.bn1 = ElasticBatchNorm2d(hidden, affine=bn_affine)
        self.depthwise = ElasticConv2d(hidden, hidden, kernel, stride, depthwise=True)
        self.bn2 = ElasticBatchNorm2d(hidden, affine=bn_affine)
        self.project = ElasticConv2d(hidden, c_out, 1)
        self.bn3 = ElasticBatchNorm2d(c_out, affine=bn_affine)

    def forward(self, x: Tensor, kernel: int, expand: float, c_out: int) -> Tensor:
        c_in = x.shape[1]
        hidden = round(c_in * expand)
        h = x
        if hidden != c_in:  # MBConv has no expansion layer at expansion 1
            h = F.relu(self.bn1(self.expand(x, hidden, 1)))
        h = F.relu(self.bn2(self.depthwise(h, hidden, kernel)))
        out = self.bn3(self.project(h, c_out, 1))
        return out + x if self.stride == 1 and c_in == c_out else out

    def mixed(self, x: Tensor, options: Sequence[tuple[int, float]], probs: Tensor,
              c_out: int) -> Tensor:
        """TangleNAS forward: one pass with ``sum_k probs[k] * pad(slice_k(W))`` per weight."""
        c_in = x.shape[1]
        hiddens = [round(c_in * e) for _, e in options]
        hidden, kmax = max(hiddens), max(k for k, _ in options)
        rows = torch.arange(hidden, device=x.device)
        cover = torch.stack([(rows < h).to(x.dtype) for h in hiddens])       # options x hidden
        channel_scale = (probs[:, None] * cover).sum(0)                     # hidden
        grid = torch.zeros(len(options), kmax, kmax, dtype=x.dtype, device=x.device)
        for i, (k, _) in enumerate(options):
            s = (kmax - k) // 2
            grid[i, s:s + k, s:s + k] = 1.0
        kernel_scale = torch.einsum("o,oc,oij->cij", probs, cover, grid)    # hidden x k x k
        w1 = self.expand.weight_for(c_in, hidden, 1) * channel_scale[:, None, None, None]
        w2 = self.depthwise.weight_for(hidden, hidden, kmax) * kernel_scale[:, None]
        w3 = self.project.weight_for(hidden, c_out, 1) * channel_scale[None, :, None, None]
        h = F.relu(self.bn1(self.expand(x, hidden, 1, weight=w1)))
        h = F.relu(self.bn2(self.depthwise(h, hidden, kmax, weight=w2)))
        out = self.bn3(self.project(h, c_out, 1, weight=w3))
        return out + x if self.stride == 1 and c_in == c_out else out

    @torch.no_grad()
    def copy_to(self, target: MBConv, kernel: int) -> MBConv:
        """Write this layer's slices for ``target``'s shape and ``kernel`` into ``target``."""
        layers = list(target.conv)
        if len(layers) == 3:
            conv, bn = _conv_bn(layers.pop(0))
            conv.weight.copy_(self.expand.weight_for(conv.in_channels, conv.out_channels, 1))
            self.bn1.copy_to(bn)
        (dw, bn2), (pw, bn3) = _conv_bn(layers[0]), _conv_bn(layers[1])
        dw.weight.copy_(self.depthwise.weight_for(dw.in_channels, dw.out_channels, kernel))
        self.bn2.copy_to(bn2)
        pw.weight.copy_(self.project.weight_for(pw.in_channels, pw.out_channels, 1))
        self.bn3.copy_to(bn3)
        return target


def _conv_bn(block: nn.Module) -> tuple[nn.Conv2d, nn.BatchNorm2d]:
    """The convolution and BatchNorm of a ``ConvBNAct``."""
    return block[0], block[1]  # type: ignore[index,return-value]
