"""NAS-Bench-Macro space (Su et al. 2021, "Prioritized Architecture Sampling with Monto-Carlo
Tree Search", CVPR): 8 searchable layers, each one of three blocks; 3^8 = 6,561 networks.

Options per layer: ``0`` identity, ``1`` MobileNetV2 inverted residual with kernel 3 and
expansion 3, ``2`` the same with kernel 5 and expansion 6. The key body is the benchmark's
8-digit string (``"02012100"``).

The skeleton (recovered from the benchmark's parameter counts, which it reproduces exactly for
all 6,561 archs): stem 3x3 conv 32 ch + BN + ReLU; three stages of 2, 3, 3 layers, the first
layer of each stage with stride 2 and doubled channels (64, 128, 256). An identity at a stage's
first layer is a 1x1 conv (stride 2) + BN so the shapes still match. Head: 1x1 conv to 1280 ch +
BN + ReLU, global average pooling, linear classifier.

Note: within a stage, a stride-1 identity layer computes nothing, so ``"00001000"`` and
``"00010000"`` are the same function; the benchmark stores both keys (with identical records)
and so does this space.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from nasforge.space.arch import Arch
from nasforge.space.blocks import BlockSpace, BlockSpec, conv_out, lazy, task_shape
from nasforge.space.registry import register_space

OPS = (0, 1, 2)
#: (kernel, expansion) of the MBConv options.
MBCONV = {1: (3, 3), 2: (5, 6)}


@register_space("macro")
class MacroSpace(BlockSpace):
    """NAS-Bench-Macro; ``stages`` (layers per stage), ``stem`` and ``head`` widths."""

    name = "macro"

    def __init__(self, stages: tuple[int, ...] = (2, 3, 3), stem: int = 32,
                 head: int = 1280) -> None:
        super().__init__({f"layer_{i}": OPS for i in range(sum(stages))})
        self.stages = tuple(stages)
        self.stem = stem
        self.head = head

    def format_body(self, values: Mapping[str, Any]) -> str:
        return "".join(str(values[c.name]) for c in self.choices)

    def parse_body(self, body: str) -> dict[str, Any]:
        if len(body) != len(self.choices) or not body.isdigit():
            raise ValueError(f"expected {len(self.choices)} digits in 0-2, got {body!r}")
        return {c.name: OPS[c.index(int(d))] for c, d in zip(self.choices, body, strict=True)}

    def blocks(self, arch: Arch, task: Any) -> list[BlockSpec]:
        self._check(arch)
        (c_in, h, w), classes = task_shape(task, self.name)
        c = self.stem
        specs = [BlockSpec(f"macro.stem:{c_in}>{c}@{h}x{w}", (c_in, h, w), (c, h, w),
                           lazy("ConvBNAct", c_in, c, 3))]
        layer = 0
        for depth in self.stages:
            for i in range(depth):
                op = int(arch[f"layer_{layer}"])
                stride = 2 if i == 0 else 1
                c2 = 2 * c if i == 0 else c
                if op == 0:
                    kernel = 1
                    factory = lazy("Projection", c, c2, stride) if stride == 2 else lazy("Identity")
                else:
                    kernel, expand = MBCONV[op]
                    factory = lazy("MBConv", c, c2, kernel, expand, stride)
                h2, w2 = conv_out(h, kernel, stride), conv_out(w, kernel, stride)
                specs.append(BlockSpec(f"macro.op{op}:{c}>{c2}:s{stride}@{h}x{w}", (c, h, w),
                                       (c2, h2, w2), factory))
                c, h, w = c2, h2, w2
                layer += 1
        specs.append(BlockSpec(f"macro.head:{c}>{self.head}>{classes}@{h}x{w}", (c, h, w),
                               (classes,), lazy("Head", c, classes, hidden=self.head)))
        return specs
