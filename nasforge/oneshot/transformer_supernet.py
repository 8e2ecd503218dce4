"""Weight-entangled supernets of the ``vit`` and ``gpt`` spaces (AutoFormer, Chen et al. 2021,
"AutoFormer: Searching Transformers for Visual Recognition"; TangleNAS, Sukthanker et al. 2024,
"Weight-Entangled Differentiable Neural Architecture Search").

One network of the largest size holds every weight: ``max(depth)`` blocks with the most heads
and MLP units, embeddings, LayerNorms and head of the widest embedding. A sub-network uses the
leading slices (:mod:`nasforge.oneshot.transformer_layers`): embedding channels, heads and MLP
units of every block, and the first ``depth`` blocks. ``vit`` keeps one patch embedding per
patch size (their kernels and token counts differ), each of the widest embedding.

- ``supernet(x, arch)`` runs the sub-network on the slices; ``extract(arch)`` is
  ``space.build(arch, task)`` with the slices copied in, computing the same outputs;
- ``supernet(x)`` is the TangleNAS relaxation with architecture parameters ``alphas`` (one row
  per decision, softmax over its options): widths mix in weight space (one pass of every block,
  :func:`~nasforge.oneshot.transformer_layers.block_mixed`), depth mixes the outputs after each
  candidate depth, and ``vit``'s patch sizes, which share no weights, mix the logits of one
  pass per patch size. With one-hot probabilities it computes ``supernet(x, arch)``.

Transformers have no BatchNorm: ``bn_affine`` is accepted (the one-shot methods pass it to every
supernet) and changes nothing, and the supernet evaluator's BN modes have nothing to do.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from nasforge.oneshot.data import device_of
from nasforge.oneshot.supernet import Supernet, register_supernet
from nasforge.oneshot.transformer_layers import (
    block_mixed,
    block_path,
    copy_block,
    copy_norm,
    cover,
    mixed_layer_norm,
)
from nasforge.space.arch import Arch


class TransformerSupernet(Supernet):
    """Shared by :class:`ViTSupernet` and :class:`GPTSupernet` (module docstring); subclasses
    build the largest network and implement the embedding, the head and :meth:`extract`."""

    capabilities = frozenset({"paths", "entangled", "softmax"})
    causal = False

    def __init__(self, space: Any, task: Any, bn_affine: bool = True) -> None:
        super().__init__(space, task)
        self.head_dim = int(space.head_dim)
        self.embeds = [int(e) for e in space.choice("embed").options]
        self.heads = [int(h) for h in space.choice("heads_0").options]
        self.ratios = list(space.choice("mlp_ratio_0").options)
        self.depths = [int(d) for d in space.choice("depth").options]
        self.max_embed = max(self.embeds)
        self.max_hidden = max(self.hidden(e, r) for e in self.embeds for r in self.ratios)
        width = max(len(c.options) for c in space.choices)
        self.alphas = nn.Parameter(1e-3 * torch.randn(len(space.choices), width))

    # ------------------------------------------------------------------ subclass hooks
    def hidden(self, embed: int, ratio: Any) -> int:
        """MLP hidden units of a block of ``embed`` channels and MLP ratio ``ratio``."""
        raise NotImplementedError

    def embed_path(self, x: Tensor, arch: Arch) -> Tensor:
        raise NotImplementedError

    def head_path(self, x: Tensor) -> Tensor:
        raise NotImplementedError

    def relaxed(self, x: Tensor, probs: dict[str, Tensor]) -> Tensor:
        raise NotImplementedError

    # ------------------------------------------------------------------ architecture parameters
    def arch_parameters(self) -> list[nn.Parameter]:
        return [self.alphas]

    def choice_probabilities(self) -> dict[str, Tensor]:
        """Per decision, the softmax of its architecture parameters over its options."""
        return {c.name: F.softmax(self.alphas[i, :len(c.options)], dim=0) for i, c in enumerate(self.space.choices)}

    def arch_weights(self) -> dict[str, list[float]]:
        return {name: [float(v) for v in p.detach()] for name, p in self.choice_probabilities().items()}

    def derive(self) -> Arch:
        """The arg-max option of every decision (inactive blocks canonicalised by the space)."""
        probs = self.choice_probabilities()
        return self.space.arch({c.name: c.options[int(probs[c.name].detach().argmax())] for c in self.space.choices})

    def extremes(self) -> tuple[Arch, Arch]:
        big = {c.name: max(c.options) for c in self.space.choices}
        small = {c.name: min(c.options) for c in self.space.choices}
        if "patch" in big:  # the smallest patch gives the most tokens: the largest network
            big["patch"], small["patch"] = small["patch"], big["patch"]
        return self.space.arch(big), self.space.arch(small)

    # ------------------------------------------------------------------ forward
    def forward(self, x: Tensor, arch: Arch | None = None) -> Tensor:
        if arch is None:
            return self.relaxed(x, self.choice_probabilities())
        self._check(arch)
        x = self.embed_path(x, arch)
        embed = int(arch["embed"])
        for i in range(int(arch["depth"])):
            x = block_path(self.blocks[i], x, int(arch[f"heads_{i}"]), self.hidden(embed, arch[f"mlp_ratio_{i}"]),
                           self.head_dim, self.causal)
        return self.head_path(x)

    def embed_cover(self, probs: dict[str, Tensor]) -> Tensor:
        """Per embedding channel, the probability that the embedding width keeps it."""
        return cover(self.embeds, probs["embed"], self.max_embed)

    def relaxed_trunk(self, x: Tensor, probs: dict[str, Tensor]) -> Tensor:
        """Every block once with mixed weights; the outputs after each candidate depth mixed by
        the depth's probabilities; then the final LayerNorm mixed over embedding widths."""
        p_embed, ce = probs["embed"], self.embed_cover(probs)
        out: Tensor | None = None
        for i, block in enumerate(self.blocks):
            hiddens = [self.hidden(e, r) for e in self.embeds for r in self.ratios]
            p_hidden = (p_embed[:, None] * probs[f"mlp_ratio_{i}"][None, :]).reshape(-1)
            x = block_mixed(block, x, self.embeds, p_embed, ce,
                            cover(self.heads, probs[f"heads_{i}"], max(self.heads)),
                            cover(hiddens, p_hidden, self.max_hidden), self.head_dim, self.causal)
            for j, d in enumerate(self.depths):
                if d == i + 1:
                    out = probs["depth"][j] * x if out is None else out + probs["depth"][j] * x
        assert out is not None
        return mixed_layer_norm(out, self.final_norm, self.embeds, p_embed)


@register_supernet("vit")
class ViTSupernet(TransformerSupernet):
    """Supernet of a :class:`~nasforge.space.vit.ViTSpace` (module docstring)."""

    def __init__(self, space: Any, task: Any, bn_affine: bool = True) -> None:
        from nasforge.space import vit_model

        super().__init__(space, task, bn_affine)
        c_in, h, w = self.shape.input_shape
        space.check_image((c_in, h, w))
        cls = space.pool == "cls"
        self.patches = [int(p) for p in space.choice("patch").options]
        self.patch_embeds = nn.ModuleDict({
            f"p{p}": vit_model.PatchEmbed(c_in, self.max_embed, p, (h // p) * (w // p), cls) for p in self.patches})
        depth = max(self.depths)
        self.blocks = nn.ModuleList(vit_model.TransformerBlock(self.max_embed, max(self.heads), self.head_dim,
                                                               self.max_hidden) for _ in range(depth))
        self.head = vit_model.ViTHead(self.max_embed, self.shape.num_classes, space.pool)

    @property
    def final_norm(self) -> nn.LayerNorm:
        return self.head.norm

    def hidden(self, embed: int, ratio: Any) -> int:
        from nasforge.space.vit import mlp_hidden

        return mlp_hidden(embed, ratio)

    def _patches(self, x: Tensor, patch: int, embed: int | None, scale: Tensor | None = None) -> Tensor:
        """Patch tokens of ``x`` on the first ``embed`` channels (``None``: all, times ``scale``)."""
        pe = self.patch_embeds[f"p{patch}"]
        e = embed or self.max_embed
        tokens = F.conv2d(x, pe.proj.weight[:e], pe.proj.bias[:e], stride=patch).flatten(2).transpose(1, 2)
        if pe.cls is not None:
            tokens = torch.cat([pe.cls[..., :e].expand(x.shape[0], -1, -1), tokens], dim=1)
        tokens = tokens + pe.pos[..., :e]
        return tokens if scale is None else tokens * scale

    def embed_path(self, x: Tensor, arch: Arch) -> Tensor:
        return self._patches(x, int(arch["patch"]), int(arch["embed"]))

    def _pool(self, x: Tensor) -> Tensor:
        return x[:, 0] if self.head.pool == "cls" else x.mean(dim=1)

    def head_path(self, x: Tensor) -> Tensor:
        e = x.shape[-1]
        norm = self.head.norm
        x = F.layer_norm(x, (e,), norm.weight[:e], norm.bias[:e], norm.eps)
        return F.linear(self._pool(x), self.head.classifier.weight[:, :e], self.head.classifier.bias)

    def relaxed(self, x: Tensor, probs: dict[str, Tensor]) -> Tensor:
        ce = self.embed_cover(probs)
        logits: Tensor | None = None
        for j, patch in enumerate(self.patches):  # patch sizes share no weights: mix their logits
            h = self.relaxed_trunk(self._patches(x, patch, None, ce), probs)
            out = probs["patch"][j] * F.linear(self._pool(h), self.head.classifier.weight * ce[None, :],
                                               self.head.classifier.bias)
            logits = out if logits is None else logits + out
        assert logits is not None
        return logits

    @torch.no_grad()
    def extract(self, arch: Arch) -> nn.Module:
        """``space.build(arch, task)`` with the inherited slices."""
        self._check(arch)
        net = self.space.build(arch, self.shape).to(device_of(self))
        e, src = int(arch["embed"]), self.patch_embeds[f"p{int(arch['patch'])}"]
        stem, head = net[0], net[-1]
        stem.proj.weight.copy_(src.proj.weight[:e])
        stem.proj.bias.copy_(src.proj.bias[:e])
        stem.pos.copy_(src.pos[..., :e])
        if stem.cls is not None:
            stem.cls.copy_(src.cls[..., :e])
        for i in range(int(arch["depth"])):
            copy_block(self.blocks[i], net[1 + i])
        copy_norm(self.head.norm, head.norm)
        head.classifier.weight.copy_(self.head.classifier.weight[:, :e])
        head.classifier.bias.copy_(self.head.classifier.bias)
        return net.train(self.training)


@register_supernet("gpt")
class GPTSupernet(TransformerSupernet):
    """Supernet of a :class:`~nasforge.space.gpt.GPTSpace` (module docstring); causal attention."""

    causal = True

    def __init__(self, space: Any, task: Any, bn_affine: bool = True) -> None:
        from nasforge.space.gpt_model import GPT

        super().__init__(space, task, bn_affine)
        if len(self.shape.input_shape) != 1:
            raise ValueError(f"the gpt supernet needs a sequence task (inputs shaped (context,)), got input shape "
                             f"{self.shape.input_shape}")
        largest = GPT(self.shape.num_classes, self.shape.input_shape[0], self.max_embed,
                      [(max(self.heads), self.max_hidden)] * max(self.depths), self.head_dim)
        self.tok, self.pos, self.blocks = largest.tok, largest.pos, largest.blocks
        self.final_norm, self.head = largest.ln_f, largest.head

    def hidden(self, embed: int, ratio: Any) -> int:
        return int(ratio) * embed

    def _tokens(self, idx: Tensor) -> Tensor:
        if idx.is_floating_point() or idx.dim() != 2 or idx.shape[1] > self.pos.num_embeddings:
            raise ValueError(f"the gpt supernet takes int64 token ids shaped (batch, length <= "
                             f"{self.pos.num_embeddings}), got a {idx.dtype} tensor of shape {tuple(idx.shape)}")
        return self.tok(idx) + self.pos(torch.arange(idx.shape[1], device=idx.device))

    def embed_path(self, x: Tensor, arch: Arch) -> Tensor:
        return self._tokens(x)[..., :int(arch["embed"])]

    def head_path(self, x: Tensor) -> Tensor:
        e = x.shape[-1]
        x = F.layer_norm(x, (e,), self.final_norm.weight[:e], self.final_norm.bias[:e], self.final_norm.eps)
        return F.linear(x, self.head.weight[:, :e])

    def relaxed(self, x: Tensor, probs: dict[str, Tensor]) -> Tensor:
        ce = self.embed_cover(probs)
        return F.linear(self.relaxed_trunk(self._tokens(x) * ce, probs), self.head.weight * ce[None, :])

    @torch.no_grad()
    def extract(self, arch: Arch) -> nn.Module:
        """``space.build(arch, task)`` (a :class:`~nasforge.space.gpt_model.GPT`) with the inherited slices."""
        self._check(arch)
        net = self.space.build(arch, self.shape).to(device_of(self))
        e = int(arch["embed"])
        net.tok.weight.copy_(self.tok.weight[:, :e])
        net.pos.weight.copy_(self.pos.weight[:, :e])
        for i, block in enumerate(net.blocks):
            copy_block(self.blocks[i], block)
        copy_norm(self.final_norm, net.ln_f)
        net.head.weight.copy_(self.head.weight[:, :e])
        return net.train(self.training)
