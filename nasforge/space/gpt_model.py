"""The decoder-only transformer language model that :class:`nasforge.space.gpt.GPTSpace` builds.

A GPT-style network (Radford et al. 2019, "Language Models are Unsupervised Multitask
Learners"): token and learned position embeddings, ``depth`` pre-LayerNorm blocks (causal
self-attention, then a GELU MLP, each in a residual branch), a final LayerNorm and a linear LM
head without bias. Attention uses ``torch.nn.functional.scaled_dot_product_attention`` with
``is_causal=True``. Input: int64 token ids ``(B, T)`` with ``T <= context``; output: logits
``(B, T, vocab)``.

Layer naming, the convention a weight-entangled supernet slices by (AutoFormer, Chen et al.
2021; HAT, Wang et al. 2020): every weight of a layer with ``embed`` channels, ``heads`` heads
and MLP hidden width ``ratio * embed`` is the *leading* slice of the same weight in the largest
layer. Queries, keys and values are separate linears ``attn.q``/``attn.k``/``attn.v`` of shape
``(heads * head_dim, embed)`` with head ``j`` on rows ``[j*head_dim, (j+1)*head_dim)``; so
``h`` heads are rows ``[:h*head_dim]`` and ``embed`` channels are columns ``[:embed]``;
``attn.proj`` is ``(embed, heads * head_dim)`` (sliced ``[:embed, :h*head_dim]``);
``mlp.fc1`` is ``(hidden, embed)`` and ``mlp.fc2`` ``(embed, hidden)`` (hidden units leading);
LayerNorms, embeddings (``tok``, ``pos``) and the ``head`` slice their embedding axis to
``[:embed]``. The head width ``head_dim`` is fixed, so the attention width ``heads * head_dim``
is independent of ``embed`` (AutoFormer's Q-K-V dimension). Depth ``k`` uses ``blocks[:k]``.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn
from torch.nn import functional as F  # noqa: N812 - the usual name

from nasforge.space.transformer_blocks import PreNormBlock

INIT_STD = 0.02  # GPT-2's initialisation of linear and embedding weights


class CausalSelfAttention(nn.Module):
    """Multi-head causal self-attention with ``heads`` heads of ``head_dim`` channels."""

    def __init__(self, embed: int, heads: int, head_dim: int) -> None:
        super().__init__()
        self.heads, self.head_dim = heads, head_dim
        inner = heads * head_dim
        self.q = nn.Linear(embed, inner)
        self.k = nn.Linear(embed, inner)
        self.v = nn.Linear(embed, inner)
        self.proj = nn.Linear(inner, embed)

    def forward(self, x: Tensor) -> Tensor:
        b, t, _ = x.shape
        q, k, v = (layer(x).view(b, t, self.heads, self.head_dim).transpose(1, 2)
                   for layer in (self.q, self.k, self.v))
        y = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        return self.proj(y.transpose(1, 2).reshape(b, t, self.heads * self.head_dim))


class Block(PreNormBlock):
    """Pre-LayerNorm block (:class:`~nasforge.space.transformer_blocks.PreNormBlock`) with causal
    self-attention."""

    def __init__(self, embed: int, heads: int, head_dim: int, hidden: int) -> None:
        super().__init__(embed, CausalSelfAttention(embed, heads, head_dim), hidden)


class GPT(nn.Module):
    """Decoder-only LM over ``vocab`` tokens with at most ``context`` positions; ``layers`` is one
    ``(heads, mlp_hidden)`` pair per block."""

    #: what :func:`nasforge.space.inputs.example_input` feeds it: token ids, not floats
    input_dtype = torch.int64

    def __init__(self, vocab: int, context: int, embed: int, layers: list[tuple[int, int]],
                 head_dim: int = 16) -> None:
        super().__init__()
        if vocab < 2 or context < 1 or embed < 1 or not layers:
            raise ValueError(f"GPT needs vocab >= 2, context >= 1, embed >= 1 and a block; got vocab={vocab}, "
                             f"context={context}, embed={embed}, {len(layers)} blocks")
        self.vocab_size, self.context, self.embed = vocab, context, embed
        self.tok = nn.Embedding(vocab, embed)
        self.pos = nn.Embedding(context, embed)
        self.blocks = nn.ModuleList(Block(embed, heads, head_dim, hidden) for heads, hidden in layers)
        self.ln_f = nn.LayerNorm(embed)
        self.head = nn.Linear(embed, vocab, bias=False)
        self.apply(_init)

    def forward(self, idx: Tensor) -> Tensor:
        if idx.is_floating_point() or idx.dtype == torch.bool:
            raise TypeError(f"GPT takes int64 token ids shaped (batch, length), got a {idx.dtype} tensor: this "
                            "network is for sequence (text) tasks such as 'stdlib' or 'text:PATH'")
        if idx.dim() != 2 or idx.shape[1] > self.context:
            raise ValueError(f"GPT takes token ids shaped (batch, length <= {self.context}), got {tuple(idx.shape)}")
        positions = torch.arange(idx.shape[1], device=idx.device)
        x = self.tok(idx) + self.pos(positions)
        for block in self.blocks:
            x = block(x)
        return self.head(self.ln_f(x))


def _init(module: nn.Module) -> None:
    if isinstance(module, nn.Linear | nn.Embedding):
        nn.init.normal_(module.weight, std=INIT_STD)
        if getattr(module, "bias", None) is not None:
            nn.init.zeros_(module.bias)
