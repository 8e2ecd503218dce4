"""``vit``: an AutoFormer-style space of small vision transformers for image tasks.

AutoFormer (Chen et al. 2021, "AutoFormer: Searching Transformers for Visual Recognition",
ICCV) searches one embedding dimension per network and, per layer, the number of heads and the
MLP ratio, with a variable depth; HAT (Wang et al. 2020) searches the same kinds of widths with
a latency predictor. Decisions here, sized for CPUs and 32x32 images:

- ``embed`` (32/48/64): embedding channels, shared by every layer;
- ``patch`` (4/8): patch side; ``(H / patch) * (W / patch)`` tokens;
- ``depth`` (1-4): transformer blocks; per block ``heads_<i>`` (1/2/4, each ``head_dim`` = 16
  channels wide) and ``mlp_ratio_<i>`` (2/3/4: hidden units = ratio x embed). Blocks beyond
  ``depth`` are inactive: canonical archs reset them to the first option, so equivalent
  networks share one key.

Key body: ``e<embed>p<patch>|h<heads>r<ratio>,...`` (one ``h..r..`` per block), e.g.
``e48p4|h2r4,h4r2``. Networks: :mod:`nasforge.space.vit_model` (pre-LayerNorm blocks,
``scaled_dot_product_attention``, learned positions, mean pooling or a class token); its
docstring states the leading-slice weight layout an entangled supernet relies on. The space is
a :class:`~nasforge.space.blocks.BlockSpace` (patch embedding, blocks, head), so per-block
latency tables and the latency predictor's block features work on it.

Every patch option must divide the task's image height and width; a task it does not is
refused when the network is built, with the shape and the fix (``patch_sizes``) in the message.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from functools import partial
from typing import TYPE_CHECKING, Any

from nasforge.space.arch import Arch
from nasforge.space.blocks import BlockSpace, BlockSpec, task_shape
from nasforge.space.choice import Choice
from nasforge.space.registry import register_space

if TYPE_CHECKING:
    from torch import nn

_BLOCK = re.compile(r"h(\d+)r([0-9.]+)")


@register_space("vit")
class ViTSpace(BlockSpace):
    """AutoFormer-style ViT space; every structural setting is a constructor argument."""

    name = "vit"
    default_task = "cifar10-subset"

    def __init__(self, embed_dims: tuple[int, ...] = (32, 48, 64), patch_sizes: tuple[int, ...] = (4, 8),
                 depths: tuple[int, ...] = (1, 2, 3, 4), heads: tuple[int, ...] = (1, 2, 4),
                 mlp_ratios: tuple[float, ...] = (2, 3, 4), head_dim: int = 16,
                 pool: str = "mean") -> None:
        for label, values in (("embed_dims", embed_dims), ("patch_sizes", patch_sizes), ("depths", depths),
                              ("heads", heads), ("mlp_ratios", mlp_ratios)):
            if not values or any(v <= 0 for v in values):
                raise ValueError(f"vit: {label} must be a non-empty list of positive numbers, got {values}")
        if head_dim < 1:
            raise ValueError(f"vit: head_dim must be >= 1, got {head_dim}")
        if pool not in ("mean", "cls"):
            raise ValueError(f"vit: pool must be 'mean' or 'cls', got {pool!r}")
        choices = [Choice("embed", tuple(int(e) for e in embed_dims)),
                   Choice("patch", tuple(int(p) for p in patch_sizes)),
                   Choice("depth", tuple(int(d) for d in depths))]
        for i in range(max(depths)):
            choices += [Choice(f"heads_{i}", tuple(int(h) for h in heads)),
                        Choice(f"mlp_ratio_{i}", tuple(_number(r) for r in mlp_ratios))]
        super().__init__(choices)
        self.max_depth = max(depths)
        # the constructor's settings, kept under their names (a saved supernet rebuilds the space from them)
        self.embed_dims, self.patch_sizes = tuple(int(e) for e in embed_dims), tuple(int(p) for p in patch_sizes)
        self.depths, self.heads = tuple(int(d) for d in depths), tuple(int(h) for h in heads)
        self.mlp_ratios = tuple(_number(r) for r in mlp_ratios)
        self.head_dim = int(head_dim)
        self.pool = pool

    def active(self, values: Mapping[str, Any]) -> set[str]:
        names = {"embed", "patch", "depth"}
        for i in range(int(values["depth"])):
            names |= {f"heads_{i}", f"mlp_ratio_{i}"}
        return names

    def format_body(self, values: Mapping[str, Any]) -> str:
        blocks = ",".join(f"h{values[f'heads_{i}']}r{values[f'mlp_ratio_{i}']}"
                          for i in range(int(values["depth"])))
        return f"e{values['embed']}p{values['patch']}|{blocks}"

    def parse_body(self, body: str) -> dict[str, Any]:
        match = re.fullmatch(r"e(\d+)p(\d+)\|(.+)", body)
        if match is None:
            raise ValueError("expected 'e<embed>p<patch>|h<heads>r<ratio>,...'")
        blocks = match[3].split(",")
        values: dict[str, Any] = {c.name: c.options[0] for c in self.choices}
        for name, text in (("embed", match[1]), ("patch", match[2]), ("depth", len(blocks))):
            values[name] = self.choice(name).options[self.choice(name).index(text)]
        for i, block in enumerate(blocks):
            parts = _BLOCK.fullmatch(block)
            if parts is None:
                raise ValueError(f"expected a block like 'h2r4', got {block!r}")
            for name, text in ((f"heads_{i}", parts[1]), (f"mlp_ratio_{i}", parts[2])):
                values[name] = self.choice(name).options[self.choice(name).index(text)]
        return values

    # ------------------------------------------------------------------ the network
    def tokens(self, arch: Arch, input_shape: tuple[int, ...]) -> int:
        """Patch tokens of ``arch`` on ``(C, H, W)`` inputs (the class token not included)."""
        _, h, w = input_shape
        patch = int(arch["patch"])
        return (h // patch) * (w // patch)

    def check_image(self, input_shape: tuple[int, ...]) -> None:
        """Refuse an image size that some patch option does not divide (the message names it)."""
        _, h, w = input_shape
        bad = [p for p in self.choice("patch").options if h % int(p) or w % int(p)]
        if bad:
            fits = [p for p in range(2, min(8, min(h, w) // 2) + 1) if h % p == 0 and w % p == 0][-2:] or [1]
            raise ValueError(f"space 'vit': patch size(s) {bad} do not divide the task's {h}x{w} images "
                             f"(input shape {tuple(input_shape)}); set patch_sizes to divisors of both, "
                             f"e.g. --space-setting patch_sizes='{fits}'")

    def blocks(self, arch: Arch, task: Any) -> list[BlockSpec]:
        self._check(arch)
        (c_in, h, w), classes = task_shape(task, self.name)
        self.check_image((c_in, h, w))
        embed, patch = int(arch["embed"]), int(arch["patch"])
        tokens = self.tokens(arch, (c_in, h, w))
        cls = self.pool == "cls"
        seq = (tokens + int(cls), embed)
        specs = [BlockSpec(f"vit.embed:{c_in}>{embed}:p{patch}{':cls' if cls else ''}@{h}x{w}", (c_in, h, w), seq,
                           partial(_layer, "PatchEmbed", c_in, embed, patch, tokens, cls))]
        for i in range(int(arch["depth"])):
            heads, ratio = int(arch[f"heads_{i}"]), arch[f"mlp_ratio_{i}"]
            hidden = mlp_hidden(embed, ratio)
            specs.append(BlockSpec(f"vit.block:{embed}:h{heads}x{self.head_dim}:m{hidden}@{seq[0]}", seq, seq,
                                   partial(_layer, "TransformerBlock", embed, heads, self.head_dim, hidden)))
        specs.append(BlockSpec(f"vit.head:{embed}>{classes}:{self.pool}@{seq[0]}", seq, (classes,),
                               partial(_layer, "ViTHead", embed, classes, self.pool)))
        return specs


def mlp_hidden(embed: int, ratio: float) -> int:
    """MLP hidden units of a block: ``round(ratio * embed)``."""
    return int(round(float(ratio) * embed))


def _number(value: float) -> int | float:
    """``3.0`` -> ``3`` (keys read ``r3``), other floats unchanged."""
    return int(value) if float(value).is_integer() else float(value)


def _layer(name: str, *args: Any) -> nn.Module:
    from nasforge.space import vit_model

    return getattr(vit_model, name)(*args)
