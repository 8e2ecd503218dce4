"""An elastic Llama: every sub-network of the ``hf-lm`` space runs on the checkpoint's own weights.

A sub-network (:class:`SubNet`) keeps the first ``layers`` decoder layers, the leading ``mlp``
units of every MLP (rows of gate/up, columns of down) and the leading ``heads`` attention heads
of every layer (rows of q, columns of o) with the key/value heads those query heads read
(grouped-query attention: query head i reads key/value head ``i // group``, so the leading
``heads / group`` key/value heads, rows of k and v). Embeddings, norms and the output head are
shared whole. :meth:`ElasticLlama.forward` computes a sub-network with slices of the weights
(gradients reach exactly the shared slices, the weight entanglement of OFA/BigNAS);
:meth:`ElasticLlama.extract` copies the slices into a stand-alone ``LlamaForCausalLM`` of a
smaller ``LlamaConfig``, which computes the same logits.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn


@dataclass(frozen=True)
class SubNet:
    """Kept decoder layers, MLP intermediate size and attention heads per layer."""

    layers: int
    mlp: int
    heads: int

    @classmethod
    def of(cls, values: Mapping[str, Any]) -> SubNet:
        """From an ``hf-lm`` arch (or any mapping with ``layers``, ``mlp``, ``heads``)."""
        return cls(int(values["layers"]), int(values["mlp"]), int(values["heads"]))


class ElasticLlama(nn.Module):
    """The super-network view of a ``LlamaForCausalLM`` (see the module docstring)."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model
        config = model.config
        self.depth = int(config.num_hidden_layers)
        self.width = int(config.intermediate_size)
        self.num_heads = int(config.num_attention_heads)
        self.kv_heads = int(getattr(config, "num_key_value_heads", None) or self.num_heads)
        self.group = self.num_heads // self.kv_heads
        self.head_dim = int(getattr(config, "head_dim", None) or config.hidden_size // self.num_heads)
        if getattr(config, "hidden_act", "silu") != "silu":
            raise ValueError(f"the elastic Llama supports hidden_act 'silu', the checkpoint has {config.hidden_act!r}")

    @property
    def largest(self) -> SubNet:
        return SubNet(self.depth, self.width, self.num_heads)

    def check(self, sub: SubNet) -> None:
        """ValueError naming the decision that does not fit this checkpoint."""
        if not 1 <= sub.layers <= self.depth:
            raise ValueError(f"layers={sub.layers} is not in [1, {self.depth}]")
        if not 1 <= sub.mlp <= self.width:
            raise ValueError(f"mlp={sub.mlp} is not in [1, {self.width}]")
        hidden = int(self.model.config.hidden_size)
        if not 1 <= sub.heads <= self.num_heads or sub.heads % self.group or hidden % sub.heads:
            raise ValueError(f"heads={sub.heads} must be a multiple of the query group size {self.group} in "
                             f"[1, {self.num_heads}] that divides hidden_size={hidden} (LlamaConfig requires it)")

    def forward(self, ids: Tensor, sub: SubNet | None = None) -> Tensor:
        """Logits ``(batch, length, vocab)`` of sub-network ``sub`` (default: the whole model) for
        token ids ``(batch, length)``, with causal attention."""
        sub = sub or self.largest
        self.check(sub)
        core = self.model.model
        h = core.embed_tokens(ids)
        positions = torch.arange(ids.shape[1], device=ids.device).unsqueeze(0)
        cos, sin = core.rotary_emb(h, positions)
        for layer in core.layers[: sub.layers]:
            h = h + self._attention(layer.self_attn, layer.input_layernorm(h), cos, sin, sub.heads)
            h = h + self._mlp(layer.mlp, layer.post_attention_layernorm(h), sub.mlp)
        return self.model.lm_head(core.norm(h))

    def _attention(self, attn: nn.Module, x: Tensor, cos: Tensor, sin: Tensor, heads: int) -> Tensor:
        batch, length, _ = x.shape
        q_rows, kv_rows = heads * self.head_dim, heads // self.group * self.head_dim

        def project(linear: nn.Linear, rows: int) -> Tensor:
            bias = None if linear.bias is None else linear.bias[:rows]
            return F.linear(x, linear.weight[:rows], bias).view(batch, length, -1, self.head_dim).transpose(1, 2)

        q, k, v = project(attn.q_proj, q_rows), project(attn.k_proj, kv_rows), project(attn.v_proj, kv_rows)
        c, s = cos.unsqueeze(1), sin.unsqueeze(1)
        q, k = q * c + _rotate_half(q) * s, k * c + _rotate_half(k) * s
        if self.group > 1:
            k, v = k.repeat_interleave(self.group, dim=1), v.repeat_interleave(self.group, dim=1)
        out = F.scaled_dot_product_attention(q, k, v, is_causal=True, scale=attn.scaling)
        out = out.transpose(1, 2).reshape(batch, length, q_rows)
        return F.linear(out, attn.o_proj.weight[:, :q_rows], attn.o_proj.bias)

    @staticmethod
    def _mlp(mlp: nn.Module, x: Tensor, units: int) -> Tensor:
        def part(linear: nn.Linear) -> Tensor:
            return F.linear(x, linear.weight[:units], None if linear.bias is None else linear.bias[:units])

        hidden = F.silu(part(mlp.gate_proj)) * part(mlp.up_proj)
        return F.linear(hidden, mlp.down_proj.weight[:, :units], mlp.down_proj.bias)

    # ------------------------------------------------------------------ sub-networks
    def sub_config(self, sub: SubNet) -> Any:
        """The ``LlamaConfig`` of ``sub``: the checkpoint's, with fewer layers, a smaller
        intermediate size and fewer (query and key/value) heads of the same ``head_dim``."""
        self.check(sub)
        config = self.model.config.__class__.from_dict(self.model.config.to_dict())
        config.num_hidden_layers = sub.layers
        config.intermediate_size = sub.mlp
        config.num_attention_heads = sub.heads
        config.num_key_value_heads = sub.heads // self.group
        config.head_dim = self.head_dim
        if getattr(config, "layer_types", None) is not None:
            config.layer_types = list(config.layer_types[: sub.layers])
        return config

    def extract(self, sub: SubNet) -> nn.Module:
        """A stand-alone ``LlamaForCausalLM`` of ``sub`` with the inherited weights (eval mode,
        on the super-network's device); it computes what ``self(ids, sub)`` computes."""
        from nasforge.oneshot.lm.hf import transformers

        tf = transformers()
        device = self.model.lm_head.weight.device
        small = tf.LlamaForCausalLM(self.sub_config(sub)).to(device=device, dtype=torch.float32)
        source = self.model.state_dict()
        q_rows, kv_rows = sub.heads * self.head_dim, sub.heads // self.group * self.head_dim
        rows = {"q_proj": q_rows, "k_proj": kv_rows, "v_proj": kv_rows, "gate_proj": sub.mlp, "up_proj": sub.mlp}
        columns = {"o_proj": q_rows, "down_proj": sub.mlp}
        with torch.no_grad():
            for name, target in small.state_dict().items():
                value = source[name]
                module = name.split(".")[-2]
                if module in rows:
                    value = value[: rows[module]]
                elif module in columns and name.endswith("weight"):
                    value = value[:, : columns[module]]
                if value.shape != target.shape:
                    raise RuntimeError(f"extract: {name} is {tuple(value.shape)} in the super-network, "
                                       f"{tuple(target.shape)} in the sub-network")
                target.copy_(value)
        return small.eval()

    def sub_params(self, sub: SubNet) -> int:
        """Parameters of the stand-alone sub-network (counted from shapes, nothing built)."""
        self.check(sub)
        config = self.model.config
        hidden, vocab = int(config.hidden_size), int(config.vocab_size)
        q, kv = sub.heads * self.head_dim, sub.heads // self.group * self.head_dim
        bias = bool(getattr(config, "attention_bias", False))
        mlp_bias = bool(getattr(config, "mlp_bias", False))
        attention = hidden * (q + 2 * kv) + q * hidden + (q + 2 * kv + hidden if bias else 0)
        mlp = 3 * hidden * sub.mlp + (2 * sub.mlp + hidden if mlp_bias else 0)
        per_layer = attention + mlp + 2 * hidden
        head = 0 if getattr(config, "tie_word_embeddings", False) else vocab * hidden
        return vocab * hidden + sub.layers * per_layer + hidden + head


def _rotate_half(x: Tensor) -> Tensor:
    half = x.shape[-1] // 2
    return torch.cat((-x[..., half:], x[..., :half]), dim=-1)
