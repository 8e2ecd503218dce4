"""The layers of :class:`nasforge.space.vit.ViTSpace` networks (imports torch).

A network is the chain ``PatchEmbed -> TransformerBlock x depth -> ViTHead`` (a
:class:`~nasforge.space.layers.BlockNet`), pre-LayerNorm blocks as in ViT (Dosovitskiy et al.
2021) and AutoFormer (Chen et al. 2021). Tensors between blocks are ``(batch, tokens, embed)``.

Weight layout, chosen so that a weight-entangled supernet can hold one largest layer and slice
any smaller one from it (AutoFormer's weight entanglement): every width is a *leading slice*.

- embedding channels: the first ``embed`` rows of the patch projection, columns of the
  positions and LayerNorm entries; the first ``embed`` input columns of every linear layer.
- attention heads: ``qkv`` is one ``Linear(embed, 3 * heads * head_dim)`` whose output is laid
  out ``[q | k | v]``, each part head-major (head 0's ``head_dim`` units first); a layer with
  ``h`` heads uses rows ``[0, h * head_dim)`` of each part and the first ``h * head_dim``
  input columns of ``proj``. ``head_dim`` is fixed across the space, so heads change the
  attention width and never the scaling ``1 / sqrt(head_dim)``.
- MLP hidden units: the first ``hidden`` rows of ``fc1`` and input columns of ``fc2``.
- depth: the first ``depth`` blocks.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from nasforge.space.transformer_blocks import PreNormBlock


class PatchEmbed(nn.Module):
    """Non-overlapping ``patch x patch`` patches -> linear projection to ``embed`` channels, then
    an optional class token and learned position embeddings (one per token)."""

    def __init__(self, in_channels: int, embed: int, patch: int, tokens: int, cls_token: bool) -> None:
        super().__init__()
        self.proj = nn.Conv2d(in_channels, embed, patch, stride=patch)
        self.cls = nn.Parameter(torch.zeros(1, 1, embed)) if cls_token else None
        self.pos = nn.Parameter(torch.zeros(1, tokens + int(cls_token), embed))
        nn.init.trunc_normal_(self.pos, std=0.02)
        if self.cls is not None:
            nn.init.trunc_normal_(self.cls, std=0.02)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.proj(x).flatten(2).transpose(1, 2)  # (B, tokens, embed)
        if self.cls is not None:
            x = torch.cat([self.cls.expand(x.shape[0], -1, -1), x], dim=1)
        return x + self.pos


class Attention(nn.Module):
    """Multi-head self-attention with ``torch.nn.functional.scaled_dot_product_attention``."""

    def __init__(self, embed: int, heads: int, head_dim: int) -> None:
        super().__init__()
        self.heads, self.head_dim = heads, head_dim
        self.qkv = nn.Linear(embed, 3 * heads * head_dim)
        self.proj = nn.Linear(heads * head_dim, embed)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, t, _ = x.shape
        q, k, v = self.qkv(x).view(b, t, 3, self.heads, self.head_dim).permute(2, 0, 3, 1, 4)
        out = F.scaled_dot_product_attention(q, k, v)  # (B, heads, tokens, head_dim)
        return self.proj(out.transpose(1, 2).reshape(b, t, self.heads * self.head_dim))


class TransformerBlock(PreNormBlock):
    """Pre-LayerNorm encoder block (:class:`~nasforge.space.transformer_blocks.PreNormBlock`)
    with (non-causal) self-attention."""

    def __init__(self, embed: int, heads: int, head_dim: int, hidden: int) -> None:
        super().__init__(embed, Attention(embed, heads, head_dim), hidden)


class ViTHead(nn.Module):
    """Final LayerNorm, pooling (the class token, or the mean over tokens), linear classifier."""

    def __init__(self, embed: int, num_classes: int, pool: str) -> None:
        super().__init__()
        if pool not in ("cls", "mean"):
            raise ValueError(f"pool must be 'cls' or 'mean', got {pool!r}")
        self.pool = pool
        self.norm = nn.LayerNorm(embed)
        self.classifier = nn.Linear(embed, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.norm(x)
        return self.classifier(x[:, 0] if self.pool == "cls" else x.mean(dim=1))
