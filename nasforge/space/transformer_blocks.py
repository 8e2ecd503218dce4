"""The parts the transformer spaces share (``vit``, ``gpt``): the GELU MLP and the pre-LayerNorm
block around a given attention module (imports torch).

A block is ``x + attn(ln1(x))``, then ``x + mlp(ln2(x))`` (pre-LN, as in GPT-2, Radford et al.
2019, and ViT, Dosovitskiy et al. 2021); its submodules are named ``ln1``, ``attn``, ``ln2`` and
``mlp`` (``mlp.fc1``, ``mlp.fc2``), the names the weight-entangled supernets slice by
(:mod:`nasforge.space.vit_model`, :mod:`nasforge.space.gpt_model` describe the layouts).
"""

from __future__ import annotations

from torch import Tensor, nn


class MLP(nn.Module):
    """``fc1`` to ``hidden`` units, GELU, ``fc2`` back to ``embed``."""

    def __init__(self, embed: int, hidden: int) -> None:
        super().__init__()
        self.fc1 = nn.Linear(embed, hidden)
        self.act = nn.GELU()
        self.fc2 = nn.Linear(hidden, embed)

    def forward(self, x: Tensor) -> Tensor:
        return self.fc2(self.act(self.fc1(x)))


class PreNormBlock(nn.Module):
    """Pre-LayerNorm transformer block around ``attention`` (a module mapping ``(B, T, embed)``
    to the same shape), with an MLP of ``hidden`` units."""

    def __init__(self, embed: int, attention: nn.Module, hidden: int) -> None:
        super().__init__()
        self.ln1 = nn.LayerNorm(embed)
        self.attn = attention
        self.ln2 = nn.LayerNorm(embed)
        self.mlp = MLP(embed, hidden)

    def forward(self, x: Tensor) -> Tensor:
        x = x + self.attn(self.ln1(x))
        return x + self.mlp(self.ln2(x))
