"""Quantization and pruning decisions over any space (APQ, Wang et al. 2020; SimQ-NAS, Sarah et
al. 2024; QuantNAS, Gavrilov et al. 2023: architecture, channel pruning and per-layer bit-widths
searched together).

:class:`QuantSpace` wraps a space (registered name or object, a user's space included) and adds,
for each of ``groups`` layer groups, three decisions: ``w_bits_<g>`` (weight bits),
``a_bits_<g>`` (activation bits) and ``keep_<g>`` (share of output channels kept by structured
pruning). Its networks are the base space's, wrapped by
:func:`~nasforge.space.quantnet.quantize_network`: layer groups are contiguous runs of the
network's conv/linear layers in forward order, so the same decisions fit every architecture of
every space (a network with fewer layers than groups leaves some groups' decisions without
effect).

The key body is the base body, ``@``, then one ``w<bits>a<bits>k<keep>`` per group joined by
``/``: ``conv1d+quant:c8k3s1|plain|batch|relu@w8a8k1.0/w4a8k0.5/w32a32k1.0``. Recipe decisions
compose by wrapping this space in ``joint`` (``base: quant``), or this space around ``joint``;
either way the training evaluator reads the recipe and trains the network quantization-aware
(:mod:`nasforge.estimate.qat`).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from nasforge.space.arch import Arch
from nasforge.space.bits import check_bits
from nasforge.space.choice import Choice
from nasforge.space.extended import ExtendedSpace
from nasforge.space.registry import get_space, register_space
from nasforge.space.space import Space

SEPARATOR = "@"
DEFAULT_BITS = (4, 8, 32)
DEFAULT_KEEP = (0.5, 0.75, 1.0)
_GROUP = re.compile(r"^w(\d+)a(\d+)k([0-9.]+)$")


@register_space("quant")
class QuantSpace(ExtendedSpace):
    """``base`` (a Space or registered name, with ``base_settings``) plus, per layer group,
    weight bits, activation bits and kept channel share (options ``weight_bits``, ``act_bits``,
    ``keep``)."""

    quantized = True

    def __init__(self, base: Space | str = "conv1d", groups: int = 3, weight_bits: Sequence[int] = DEFAULT_BITS,
                 act_bits: Sequence[int] = DEFAULT_BITS, keep: Sequence[float] = DEFAULT_KEEP,
                 base_settings: Mapping[str, Any] | None = None, name: str | None = None) -> None:
        base = base if isinstance(base, Space) else get_space(base, **dict(base_settings or {}))
        if getattr(base, "task_kind", None) == "sequence":
            raise ValueError(f"quant: space {base.name!r} builds language models of token ids; quantization and "
                             "pruning probe and calibrate networks of float inputs, so it is not supported")
        if isinstance(groups, bool) or not isinstance(groups, int) or not 1 <= groups <= 64:
            raise ValueError(f"groups: expected an integer in [1, 64], got {groups!r}")
        w_opts = tuple(check_bits(b, "weight_bits") for b in weight_bits)
        a_opts = tuple(check_bits(b, "act_bits") for b in act_bits)
        keep_opts = tuple(_check_keep(k) for k in keep)
        if not w_opts or not a_opts or not keep_opts:
            raise ValueError("weight_bits, act_bits and keep each need at least one option")
        extras = []
        for g in range(groups):
            extras += [Choice(f"w_bits_{g}", w_opts), Choice(f"a_bits_{g}", a_opts), Choice(f"keep_{g}", keep_opts)]
        self.groups = groups
        super().__init__(base, extras, name or f"{base.name}+quant", "quantization")

    def group_policy(self, arch: Arch, group: int) -> tuple[int, int, float]:
        """``(weight bits, activation bits, keep)`` of ``group`` in ``arch``."""
        return int(arch[f"w_bits_{group}"]), int(arch[f"a_bits_{group}"]), float(arch[f"keep_{group}"])

    def format_body(self, values: Mapping[str, Any]) -> str:
        base, extra = self._split(values)
        policy = "/".join(f"w{extra[f'w_bits_{g}']}a{extra[f'a_bits_{g}']}k{extra[f'keep_{g}']}"
                          for g in range(self.groups))
        return self.base.format_body(base) + SEPARATOR + policy

    def parse_body(self, body: str) -> dict[str, Any]:
        head, sep, tail = body.rpartition(SEPARATOR)
        parts = tail.split("/")
        if not sep or len(parts) != self.groups:
            raise ValueError(f"expected '<{self.base.name} body>{SEPARATOR}' and {self.groups} group(s) "
                             f"'w<bits>a<bits>k<keep>' joined by '/', got {body!r}")
        values = self.base.parse_body(head)
        for g, part in enumerate(parts):
            match = _GROUP.match(part)
            if match is None:
                raise ValueError(f"group {g}: expected 'w<bits>a<bits>k<keep>', got {part!r}")
            for name, text in zip((f"w_bits_{g}", f"a_bits_{g}", f"keep_{g}"), match.groups(), strict=True):
                values[name] = self.choice(name).options[self.choice(name).index(text)]
        return values

    def build(self, arch: Arch, task: Any):  # -> QuantizedNetwork
        """The base network with quantized, prunable layer groups (fake quantization and masks on)."""
        from nasforge.space.quantnet import quantize_network

        model = self.base.build(self.base_arch(arch), task)
        return quantize_network(model, tuple(task.input_shape), self.groups,
                                lambda g: self.group_policy(arch, g))

    # ------------------------------------------------- what wrapped spaces offer
    def recipe_overrides(self, arch: Arch) -> dict[str, Any]:
        """The base space's recipe decisions (a ``joint`` base), else none."""
        overrides = getattr(self.base, "recipe_overrides", None)
        return overrides(self.base_arch(arch)) if overrides is not None else {}

    @property
    def fidelity(self) -> str | None:
        return getattr(self.base, "fidelity", None)

    @property
    def fidelity_options(self) -> tuple[Any, ...]:
        return getattr(self.base, "fidelity_options", ())

    def fidelity_fraction(self, arch: Arch) -> float | None:
        fraction = getattr(self.base, "fidelity_fraction", None)
        return fraction(self.base_arch(arch)) if fraction is not None else None


def is_quantized(space: Any) -> bool:
    """Whether ``space`` or a space it wraps (``base``) is a :class:`QuantSpace`."""
    seen = 0
    while space is not None and seen < 16:
        if isinstance(space, QuantSpace):
            return True
        space, seen = getattr(space, "base", None), seen + 1
    return False


def _check_keep(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 < float(value) <= 1:
        raise ValueError(f"keep: {value!r} is not a share of channels in (0, 1]")
    return float(value)
