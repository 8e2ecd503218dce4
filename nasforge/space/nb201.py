"""NAS-Bench-201 cell space (Dong & Yang 2020, "NAS-Bench-201: Extending the Scope of
Reproducible Neural Architecture Search"); the same topology space as NATS-Bench's TSS.

Six decisions, one per cell edge, each one of five operations. The key body is exactly the
benchmark's architecture string, e.g.
``|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|skip_connect~2|``
(edge order node1<-0 | node2<-0, node2<-1 | node3<-0, node3<-1, node3<-2). Isomorphic cells
are *not* merged: the benchmark has one row per string, and so does this space.

The network: 3x3 stem convolution (16 channels) + BN; three stages of ``cells`` cells at
16/32/64 channels with a residual reduction block between stages; BN-ReLU, global average
pooling and a linear classifier (parameter counts equal the benchmark's, see the tests).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from nasforge.space.arch import Arch
from nasforge.space.blocks import BlockSpace, BlockSpec, conv_out, lazy, task_shape
from nasforge.space.registry import register_space

OPS = ("none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3")
EDGES = ((1, 0), (2, 0), (2, 1), (3, 0), (3, 1), (3, 2))
EDGE_NAMES = tuple(f"edge_{dst}_{src}" for dst, src in EDGES)


@register_space("nb201")
class NB201Space(BlockSpace):
    """The NAS-Bench-201 space; ``channels`` and ``cells`` (per stage) set the skeleton."""

    name = "nb201"

    def __init__(self, channels: int = 16, cells: int = 5) -> None:
        super().__init__({edge: OPS for edge in EDGE_NAMES})
        self.channels = channels
        self.cells = cells

    def format_body(self, values: Mapping[str, Any]) -> str:
        nodes = []
        for dst in (1, 2, 3):
            parts = [f"{values[f'edge_{dst}_{src}']}~{src}" for src in range(dst)]
            nodes.append("|" + "|".join(parts) + "|")
        return "+".join(nodes)

    def parse_body(self, body: str) -> dict[str, Any]:
        nodes = body.split("+")
        if len(nodes) != 3:
            raise ValueError(f"expected 3 nodes separated by '+', got {len(nodes)}")
        values: dict[str, Any] = {}
        for dst, node in enumerate(nodes, start=1):
            if not (node.startswith("|") and node.endswith("|")):
                raise ValueError(f"node {node!r} must start and end with '|'")
            parts = node[1:-1].split("|")
            if len(parts) != dst:
                raise ValueError(f"node {dst} needs {dst} input(s), got {node!r}")
            for src, part in enumerate(parts):
                op, sep, index = part.partition("~")
                if not sep or index != str(src):
                    raise ValueError(f"expected '<op>~{src}' in node {dst}, got {part!r}")
                values[f"edge_{dst}_{src}"] = OPS[self.choice(f"edge_{dst}_{src}").index(op)]
        return values

    def blocks(self, arch: Arch, task: Any) -> list[BlockSpec]:
        self._check(arch)
        (c_in, h, w), classes = task_shape(task, self.name)
        ops = tuple(arch[e] for e in EDGE_NAMES)
        cell = "".join(str(OPS.index(op)) for op in ops)
        c = self.channels
        specs = [BlockSpec(f"nb201.stem:{c_in}>{c}@{h}x{w}", (c_in, h, w), (c, h, w),
                           lazy("ConvBNAct", c_in, c, 3, act=False))]
        for stage in range(3):
            if stage:
                c2, h2, w2 = 2 * c, conv_out(h, 3, 2), conv_out(w, 3, 2)
                specs.append(BlockSpec(f"nb201.reduce:{c}>{c2}@{h}x{w}", (c, h, w), (c2, h2, w2),
                                       lazy("ResidualReduction", c, c2)))
                c, h, w = c2, h2, w2
            specs += [BlockSpec(f"nb201.cell:{cell}:{c}@{h}x{w}", (c, h, w), (c, h, w),
                                lazy("NB201Cell", ops, c))] * self.cells
        specs.append(BlockSpec(f"nb201.head:{c}>{classes}@{h}x{w}", (c, h, w), (classes,),
                               lazy("Head", c, classes, bn_relu=True)))
        return specs
