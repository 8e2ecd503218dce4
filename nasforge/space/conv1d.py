"""``conv1d``: a space of 1-D convolutional networks for sequence inputs such as MNIST-1D.

Decisions: ``depth`` (1-5 conv layers), per layer ``channels_i``, ``kernel_i`` and ``stride_i``
(stride 2 downsamples), and network-wide ``residual`` (identity/1x1 shortcuts around each layer),
``norm`` (none/batch), ``activation`` (relu/gelu/silu). Layers beyond ``depth`` are inactive and
canonicalised away, so equivalent networks share one key. The head is global average pooling
and a linear classifier. Wide enough that good and bad networks differ by many points.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from nasforge.space.arch import Arch
from nasforge.space.choice import Choice
from nasforge.space.registry import register_space
from nasforge.space.space import Space

MAX_DEPTH = 5


@register_space("conv1d")
class Conv1dSpace(Space):
    """1-D CNNs: depth, per-layer width/kernel/stride, residual, normalisation, activation."""

    name = "conv1d"
    #: the data a run of this space uses when it names none
    default_task = "mnist1d"

    def __init__(
        self,
        channels: tuple[int, ...] = (4, 8, 16, 24, 32, 48, 64),
        kernels: tuple[int, ...] = (3, 5, 7, 9),
        max_depth: int = MAX_DEPTH,
    ) -> None:
        choices = [Choice("depth", tuple(range(1, max_depth + 1)))]
        for i in range(max_depth):
            choices += [
                Choice(f"channels_{i}", channels),
                Choice(f"kernel_{i}", kernels),
                Choice(f"stride_{i}", (1, 2)),
            ]
        choices += [
            Choice("residual", (False, True)),
            Choice("norm", ("batch", "none")),
            Choice("activation", ("relu", "gelu", "silu")),
        ]
        super().__init__(choices)
        self.max_depth = max_depth

    def active(self, values: Mapping[str, Any]) -> set[str]:
        depth = int(values["depth"])
        names = {"depth", "residual", "norm", "activation"}
        for i in range(depth):
            names |= {f"channels_{i}", f"kernel_{i}", f"stride_{i}"}
        return names

    def format_body(self, values: Mapping[str, Any]) -> str:
        layers = "-".join(
            f"c{values[f'channels_{i}']}k{values[f'kernel_{i}']}s{values[f'stride_{i}']}"
            for i in range(int(values["depth"]))
        )
        res = "res" if values["residual"] else "plain"
        return f"{layers}|{res}|{values['norm']}|{values['activation']}"

    def parse_body(self, body: str) -> dict[str, Any]:
        layers, res, norm, act = body.split("|")
        specs = layers.split("-")
        values: dict[str, Any] = {c.name: c.options[0] for c in self.choices}
        values["depth"] = len(specs)
        for i, spec in enumerate(specs):
            c, rest = spec[1:].split("k")
            k, s = rest.split("s")
            values.update({f"channels_{i}": int(c), f"kernel_{i}": int(k), f"stride_{i}": int(s)})
        if res not in ("res", "plain"):
            raise ValueError(f"expected 'res' or 'plain', got {res!r}")
        values.update(residual=res == "res", norm=norm, activation=act)
        return values

    def build(self, arch: Arch, task: Any):  # -> nn.Module
        from nasforge.space.conv1d_model import Conv1dNet

        shape = tuple(task.input_shape)
        if len(shape) != 2:
            raise ValueError(f"conv1d expects inputs shaped (channels, length); task has {shape}")
        depth = int(arch["depth"])
        layers = [(int(arch[f"channels_{i}"]), int(arch[f"kernel_{i}"]), int(arch[f"stride_{i}"]))
                  for i in range(depth)]
        return Conv1dNet(shape[0], task.num_classes, layers, bool(arch["residual"]),
                         str(arch["norm"]), str(arch["activation"]))
