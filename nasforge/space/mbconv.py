"""An elastic MobileNetV2-style macro space in the manner of Once-for-All (Cai et al. 2020,
"Once-for-All: Train One Network and Specialize it for Efficient Deployment").

Decisions: a global ``width`` multiplier; per stage a ``depth_<s>`` (number of MBConv layers);
per layer ``kernel_<s>_<i>`` (3/5/7) and ``expand_<s>_<i>`` (3/4/6). Layers beyond a stage's
depth are inactive: :meth:`active` leaves them out, so canonical archs reset them to the first
option and equivalent archs share one key. The key body lists the width, then each stage's
layers, e.g. ``w1.0|k3e4,k5e6|k7e3,k3e3,k3e3|k3e3,k3e3|k5e6,k5e6,k5e6,k5e6``.

The network (kept small for CPUs): 3x3 stem (16 ch x width; stride 1 for inputs up to 64
pixels, else 2), four stages of MBConv layers (24/40/80/112 ch x width, rounded to multiples
of 8; the first layer of a stage has the stage's stride, 1/2/2/2), then a 1x1 conv to 256 ch,
global pooling and a linear classifier. Works for any (C, H, W) input.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from nasforge.space.arch import Arch
from nasforge.space.blocks import BlockSpace, BlockSpec, conv_out, lazy, task_shape
from nasforge.space.choice import Choice
from nasforge.space.registry import register_space

_LAYER = re.compile(r"k(\d+)e(\d+)")


def round_channels(value: float, divisor: int = 8) -> int:
    """``value`` rounded half-up to a multiple of ``divisor`` (at least ``divisor``)."""
    return max(divisor, int(value / divisor + 0.5) * divisor)


@register_space("mbconv")
class MBConvSpace(BlockSpace):
    """OFA-style elastic MBConv space; every structural setting is a constructor argument."""

    name = "mbconv"

    def __init__(self, widths: tuple[int, ...] = (24, 40, 80, 112),
                 strides: tuple[int, ...] = (1, 2, 2, 2),
                 depths: tuple[int, ...] = (2, 3, 4), kernels: tuple[int, ...] = (3, 5, 7),
                 expansions: tuple[int, ...] = (3, 4, 6),
                 width_mults: tuple[float, ...] = (0.75, 1.0, 1.25),
                 stem: int = 16, head: int = 256) -> None:
        if len(widths) != len(strides):
            raise ValueError(f"widths {widths} and strides {strides} must have the same length")
        choices = [Choice("width", tuple(float(m) for m in width_mults))]
        for s in range(len(widths)):
            choices.append(Choice(f"depth_{s}", depths))
            for i in range(max(depths)):
                choices += [Choice(f"kernel_{s}_{i}", kernels), Choice(f"expand_{s}_{i}", expansions)]
        super().__init__(choices)
        self.widths, self.strides = tuple(widths), tuple(strides)
        self.depths, self.kernels, self.expansions = tuple(depths), tuple(kernels), tuple(expansions)
        self.width_mults = tuple(width_mults)
        self.stem, self.head = stem, head

    def active(self, values: Mapping[str, Any]) -> set[str]:
        names = {"width"}
        for s in range(len(self.widths)):
            names.add(f"depth_{s}")
            for i in range(int(values[f"depth_{s}"])):
                names |= {f"kernel_{s}_{i}", f"expand_{s}_{i}"}
        return names

    def format_body(self, values: Mapping[str, Any]) -> str:
        stages = [
            ",".join(f"k{values[f'kernel_{s}_{i}']}e{values[f'expand_{s}_{i}']}"
                     for i in range(int(values[f"depth_{s}"])))
            for s in range(len(self.widths))
        ]
        return "|".join([f"w{values['width']}", *stages])

    def parse_body(self, body: str) -> dict[str, Any]:
        parts = body.split("|")
        if len(parts) != len(self.widths) + 1 or not parts[0].startswith("w"):
            raise ValueError(f"expected 'w<width>' and {len(self.widths)} stages separated by '|'")
        width = self.choice("width")
        values: dict[str, Any] = {"width": width.options[width.index(parts[0][1:])]}
        for s, stage in enumerate(parts[1:]):
            layers = stage.split(",")
            values[f"depth_{s}"] = self.choice(f"depth_{s}").options[
                self.choice(f"depth_{s}").index(len(layers))]
            for i in range(max(self.depths)):
                k, e = (self.kernels[0], self.expansions[0])
                if i < len(layers):
                    match = _LAYER.fullmatch(layers[i])
                    if match is None:
                        raise ValueError(f"expected a layer like 'k3e6', got {layers[i]!r}")
                    k, e = int(match[1]), int(match[2])
                for name, value in ((f"kernel_{s}_{i}", k), (f"expand_{s}_{i}", e)):
                    values[name] = self.choice(name).options[self.choice(name).index(value)]
        return values

    def blocks(self, arch: Arch, task: Any) -> list[BlockSpec]:
        self._check(arch)
        (c_in, h, w), classes = task_shape(task, self.name)
        mult = float(arch["width"])
        c = round_channels(self.stem * mult)
        stride = 1 if min(h, w) <= 64 else 2
        h2, w2 = conv_out(h, 3, stride), conv_out(w, 3, stride)
        specs = [BlockSpec(f"mbconv.stem:{c_in}>{c}:s{stride}@{h}x{w}", (c_in, h, w), (c, h2, w2),
                           lazy("ConvBNAct", c_in, c, 3, stride))]
        h, w = h2, w2
        for s, (base, first_stride) in enumerate(zip(self.widths, self.strides, strict=True)):
            c_out = round_channels(base * mult)
            for i in range(int(arch[f"depth_{s}"])):
                k, e = int(arch[f"kernel_{s}_{i}"]), int(arch[f"expand_{s}_{i}"])
                stride = first_stride if i == 0 else 1
                h2, w2 = conv_out(h, k, stride), conv_out(w, k, stride)
                specs.append(BlockSpec(f"mbconv.mb:{c}>{c_out}:k{k}e{e}s{stride}@{h}x{w}",
                                       (c, h, w), (c_out, h2, w2),
                                       lazy("MBConv", c, c_out, k, e, stride)))
                c, h, w = c_out, h2, w2
        specs.append(BlockSpec(f"mbconv.head:{c}>{self.head}>{classes}@{h}x{w}", (c, h, w),
                               (classes,), lazy("Head", c, classes, hidden=self.head)))
        return specs
