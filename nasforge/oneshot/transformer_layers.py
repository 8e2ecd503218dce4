"""Weight-entangled transformer blocks (AutoFormer, Chen et al. 2021, "AutoFormer: Searching
Transformers for Visual Recognition"; TangleNAS, Sukthanker et al. 2024).

A supernet keeps one pre-LayerNorm block of the largest size (the ``vit`` or ``gpt`` space's own
block module) and runs any smaller block as *leading slices* of its weights, the layout the
spaces' model modules document: ``embed`` channels are the first columns of every linear's
input and the first rows of its output (and the first entries of LayerNorms and biases),
``heads`` heads are the first ``heads * head_dim`` rows of queries, keys and values and the first
columns of the output projection, ``hidden`` MLP units the first rows of ``fc1`` and columns of
``fc2``. The ``vit`` block fuses ``[q | k | v]`` into one ``qkv`` linear (each part head-major),
the ``gpt`` block keeps three; :func:`qkv_parts` reads both.

- :func:`block_path` runs one block with its slices (the sub-network's block, exactly);
- :func:`block_mixed` is the TangleNAS forward: every linear weight is mixed in weight space,
  ``W_mix = sum_o p_o pad(slice_o(W)) = W * (rows_cover outer cols_cover)``, where a cover
  holds, per row or column, the probability that the sampled option keeps it; LayerNorm, not
  linear in what it normalises, mixes its outputs over the embedding options
  (:func:`mixed_layer_norm`). With one-hot probabilities it computes :func:`block_path`;
- :func:`copy_block` writes a block's slices into the sub-network's stand-alone block.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn


def qkv_parts(attn: nn.Module) -> list[tuple[Tensor, Tensor]]:
    """``[(W_q, b_q), (W_k, b_k), (W_v, b_v)]`` of a ``vit`` (fused ``qkv``) or ``gpt`` attention,
    each of the largest size (views: gradients reach the module's parameters)."""
    if hasattr(attn, "qkv"):
        w, b = attn.qkv.weight, attn.qkv.bias
        inner = w.shape[0] // 3
        return [(w[i * inner:(i + 1) * inner], b[i * inner:(i + 1) * inner]) for i in range(3)]
    return [(attn.q.weight, attn.q.bias), (attn.k.weight, attn.k.bias), (attn.v.weight, attn.v.bias)]


def cover(sizes: Sequence[int], probs: Tensor, total: int) -> Tensor:
    """Per row ``r < total``: ``sum_o probs[o] * [r < sizes[o]]``, the chance a leading slice keeps it."""
    rows = torch.arange(total, device=probs.device)
    keep = torch.stack([(rows < n).to(probs.dtype) for n in sizes])
    return (probs[:, None] * keep).sum(0)


def mixed_layer_norm(x: Tensor, norm: nn.LayerNorm, embeds: Sequence[int], probs: Tensor) -> Tensor:
    """``sum_o probs[o] * pad(LayerNorm_{embeds[o]}(x[..., :embeds[o]]))``: each option normalises
    its own leading channels, as its stand-alone LayerNorm does."""
    out = x.new_zeros(x.shape)
    for e, p in zip(embeds, probs, strict=True):
        part = F.layer_norm(x[..., :e], (e,), norm.weight[:e], norm.bias[:e], norm.eps)
        out = out + p * F.pad(part, (0, x.shape[-1] - e))
    return out


def _attend(x: Tensor, q: Tensor, k: Tensor, v: Tensor, heads: int, head_dim: int, causal: bool) -> Tensor:
    b, t, _ = x.shape
    q, k, v = (z.view(b, t, heads, head_dim).transpose(1, 2) for z in (q, k, v))
    out = F.scaled_dot_product_attention(q, k, v, is_causal=causal)
    return out.transpose(1, 2).reshape(b, t, heads * head_dim)


def block_path(block: nn.Module, x: Tensor, heads: int, hidden: int, head_dim: int, causal: bool) -> Tensor:
    """``block`` (of the largest size) run as a block of ``x.shape[-1]`` channels, ``heads`` heads
    and ``hidden`` MLP units: ``x + attn(ln1(x))``, then ``x + mlp(ln2(x))`` on leading slices."""
    e, a = x.shape[-1], heads * head_dim
    attn, mlp = block.attn, block.mlp
    y = F.layer_norm(x, (e,), block.ln1.weight[:e], block.ln1.bias[:e], block.ln1.eps)
    q, k, v = (F.linear(y, w[:a, :e], b[:a]) for w, b in qkv_parts(attn))
    x = x + F.linear(_attend(x, q, k, v, heads, head_dim, causal), attn.proj.weight[:e, :a], attn.proj.bias[:e])
    y = F.layer_norm(x, (e,), block.ln2.weight[:e], block.ln2.bias[:e], block.ln2.eps)
    h = F.gelu(F.linear(y, mlp.fc1.weight[:hidden, :e], mlp.fc1.bias[:hidden]))
    return x + F.linear(h, mlp.fc2.weight[:e, :hidden], mlp.fc2.bias[:e])


def block_mixed(block: nn.Module, x: Tensor, embeds: Sequence[int], p_embed: Tensor, embed_cover: Tensor,
                head_cover: Tensor, hidden_cover: Tensor, head_dim: int, causal: bool) -> Tensor:
    """The TangleNAS forward of ``block`` on the full width (module docstring): ``embed_cover``
    (per channel), ``head_cover`` (per head) and ``hidden_cover`` (per MLP unit) scale the
    weights' rows and columns; LayerNorms mix over ``embeds`` with ``p_embed``."""
    attn, mlp = block.attn, block.mlp
    ce, ch = embed_cover, head_cover.repeat_interleave(head_dim)
    y = mixed_layer_norm(x, block.ln1, embeds, p_embed)
    q, k, v = (F.linear(y, w * (ch[:, None] * ce[None, :]), b * ch) for w, b in qkv_parts(attn))
    out = _attend(x, q, k, v, len(head_cover), head_dim, causal)
    x = x + F.linear(out, attn.proj.weight * (ce[:, None] * ch[None, :]), attn.proj.bias * ce)
    y = mixed_layer_norm(x, block.ln2, embeds, p_embed)
    h = F.gelu(F.linear(y, mlp.fc1.weight * (hidden_cover[:, None] * ce[None, :]), mlp.fc1.bias * hidden_cover))
    return x + F.linear(h, mlp.fc2.weight * (ce[:, None] * hidden_cover[None, :]), mlp.fc2.bias * ce)


@torch.no_grad()
def copy_norm(src: nn.LayerNorm, dst: nn.LayerNorm) -> None:
    """The leading ``dst`` entries of a LayerNorm of the largest width into ``dst``."""
    e = dst.normalized_shape[0]
    dst.weight.copy_(src.weight[:e])
    dst.bias.copy_(src.bias[:e])


@torch.no_grad()
def copy_block(src: nn.Module, dst: nn.Module) -> None:
    """Write ``src``'s (the largest block's) slices into ``dst``, a stand-alone block of the same
    kind whose sizes (embed, heads, hidden) say which slices."""
    e = dst.ln1.normalized_shape[0]
    a = dst.attn.heads * dst.attn.head_dim
    hidden = dst.mlp.fc1.out_features
    copy_norm(src.ln1, dst.ln1)
    copy_norm(src.ln2, dst.ln2)
    parts = [(w[:a, :e], b[:a]) for w, b in qkv_parts(src.attn)]
    if hasattr(dst.attn, "qkv"):
        dst.attn.qkv.weight.copy_(torch.cat([w for w, _ in parts]))
        dst.attn.qkv.bias.copy_(torch.cat([b for _, b in parts]))
    else:
        for layer, (w, b) in zip((dst.attn.q, dst.attn.k, dst.attn.v), parts, strict=True):
            layer.weight.copy_(w)
            layer.bias.copy_(b)
    dst.attn.proj.weight.copy_(src.attn.proj.weight[:e, :a])
    dst.attn.proj.bias.copy_(src.attn.proj.bias[:e])
    dst.mlp.fc1.weight.copy_(src.mlp.fc1.weight[:hidden, :e])
    dst.mlp.fc1.bias.copy_(src.mlp.fc1.bias[:hidden])
    dst.mlp.fc2.weight.copy_(src.mlp.fc2.weight[:e, :hidden])
    dst.mlp.fc2.bias.copy_(src.mlp.fc2.bias[:e])
