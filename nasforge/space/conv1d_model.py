"""The network that :class:`nasforge.space.conv1d.Conv1dSpace` builds."""

from __future__ import annotations

from torch import Tensor, nn

ACTIVATIONS = {"relu": nn.ReLU, "gelu": nn.GELU, "silu": nn.SiLU}


class ConvLayer(nn.Module):
    """Conv1d -> (BatchNorm) -> activation, with an optional residual shortcut."""

    def __init__(self, c_in: int, c_out: int, kernel: int, stride: int, residual: bool,
                 norm: str, activation: str) -> None:
        super().__init__()
        use_bn = norm == "batch"
        self.conv = nn.Conv1d(c_in, c_out, kernel, stride=stride, padding=kernel // 2, bias=not use_bn)
        self.norm = nn.BatchNorm1d(c_out) if use_bn else nn.Identity()
        self.act = ACTIVATIONS[activation]()
        self.shortcut: nn.Module | None = None
        if residual:
            if c_in == c_out and stride == 1:
                self.shortcut = nn.Identity()
            else:
                self.shortcut = nn.Conv1d(c_in, c_out, 1, stride=stride, bias=False)

    def forward(self, x: Tensor) -> Tensor:
        out = self.act(self.norm(self.conv(x)))
        if self.shortcut is not None:
            out = out + self.shortcut(x)
        return out


class Conv1dNet(nn.Module):
    """Stack of :class:`ConvLayer` then global average pooling and a linear classifier."""

    def __init__(self, in_channels: int, num_classes: int, layers: list[tuple[int, int, int]],
                 residual: bool, norm: str, activation: str) -> None:
        super().__init__()
        blocks = []
        c_in = in_channels
        for c_out, kernel, stride in layers:
            blocks.append(ConvLayer(c_in, c_out, kernel, stride, residual, norm, activation))
            c_in = c_out
        self.features = nn.Sequential(*blocks)
        self.pool = nn.AdaptiveAvgPool1d(1)
        self.head = nn.Linear(c_in, num_classes)

    def forward(self, x: Tensor) -> Tensor:
        return self.head(self.pool(self.features(x)).flatten(1))
