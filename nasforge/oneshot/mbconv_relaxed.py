"""The weight-entangled relaxation of the ``mbconv`` supernet (TangleNAS, Sukthanker et al.
2024, "Weight-Entangled Differentiable Neural Architecture Search").

Architecture parameters: one row of ``alphas`` per decision of the space (``width``,
``depth_<s>``, ``kernel_<s>_<i>``, ``expand_<s>_<i>``), padded to the longest option list;
each decision's probabilities are the softmax over its own options. The relaxed forward runs
every layer of the largest supernet once:

- kernel and expansion (per layer) and the width multiplier (global) are slices of the largest
  weights (centre crop of the kernel, leading hidden / output channels). Their weights are
  mixed, ``W_mix = sum_o p_o * pad(slice_o(W))``: the hidden channels of the expansion and
  projection convolutions are scaled by the probability that an option keeps them, the
  depthwise kernel taps by the probability that the kernel covers them;
- a layer's output channels are scaled by the probability that the width keeps them, after
  its BatchNorm (a scale before BatchNorm would be normalised away);
- a stage's depth mixes, by output, what the stage computes after each candidate depth.

With one-hot probabilities the relaxed forward computes exactly ``supernet(x, arch)`` in
training mode (test ``test_mbconv_relaxation_is_exact_at_one_hot``).
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from nasforge.space.arch import Arch
from nasforge.space.mbconv import round_channels


def new_alphas(space: Any) -> nn.Parameter:
    """Small random architecture parameters, one row per decision of ``space``."""
    if 1 in tuple(space.expansions):
        raise ValueError("the entangled mbconv supernet needs expansions > 1 (an MBConv of expansion 1 "
                         "has no expansion layer to entangle)")
    width = max(len(c.options) for c in space.choices)
    return nn.Parameter(1e-3 * torch.randn(len(space.choices), width))


class RelaxedMBConv:
    """Mixin of :class:`~nasforge.oneshot.mbconv.MBConvSupernet`: its architecture parameters
    (``self.alphas``, ``None`` unless built entangled) and relaxed forward."""

    alphas: nn.Parameter | None
    space: Any

    def arch_parameters(self) -> list[nn.Parameter]:
        return [] if self.alphas is None else [self.alphas]

    def choice_probabilities(self) -> dict[str, Tensor]:
        """Per decision, the softmax of its architecture parameters over its options."""
        if self.alphas is None:
            raise ValueError("this mbconv supernet has no architecture parameters (build it with entangle=True)")
        return {c.name: F.softmax(self.alphas[i, :len(c.options)], dim=0)
                for i, c in enumerate(self.space.choices)}

    def arch_weights(self) -> dict[str, list[float]]:
        if self.alphas is None:
            return {}
        return {name: [float(v) for v in p.detach()] for name, p in self.choice_probabilities().items()}

    def derive(self) -> Arch:
        """The arg-max option of every decision (inactive layers canonicalised by the space)."""
        probs = self.choice_probabilities()
        return self.space.arch({c.name: c.options[int(probs[c.name].detach().argmax())] for c in self.space.choices})

    def relaxed_forward(self, x: Tensor) -> Tensor:
        """The TangleNAS forward (module docstring)."""
        sp, net = self.space, self
        probs = self.choice_probabilities()
        mults = [float(m) for m in sp.width_mults]
        pw = probs["width"]

        def width_scale(base: int) -> tuple[list[int], Tensor]:
            chans = [round_channels(base * m) for m in mults]
            return chans, (pw[:, None] * _cover(chans, max(chans), x)).sum(0)

        chans_in, scale = width_scale(sp.stem)
        x = F.relu(net.stem_bn(net.stem(x, max(chans_in), 3))) * scale[None, :, None, None]
        for s, stage in enumerate(net.stages):
            chans_out, scale = width_scale(sp.widths[s])
            pd = probs[f"depth_{s}"]
            out: Tensor | None = None
            for i in range(max(sp.depths)):
                pk, pe = probs[f"kernel_{s}_{i}"], probs[f"expand_{s}_{i}"]
                x = _mixed_layer(stage[i], x, chans_in, [int(e) for e in sp.expansions], pw, pe,
                                 [int(k) for k in sp.kernels], pk, max(chans_out)) * scale[None, :, None, None]
                chans_in = chans_out
                for j, d in enumerate(sp.depths):
                    if int(d) == i + 1:
                        out = pd[j] * x if out is None else out + pd[j] * x
            assert out is not None
            x = out
        x = F.relu(net.head_bn(net.head_conv(x, sp.head, 1)))
        return net.classifier(x)


def _cover(sizes: list[int], total: int, like: Tensor) -> Tensor:
    """``cover[o, r] = 1`` where row ``r < sizes[o]`` (options x ``total``)."""
    rows = torch.arange(total, device=like.device)
    return torch.stack([(rows < n).to(like.dtype) for n in sizes])


def _mixed_layer(layer: Any, x: Tensor, chans_in: list[int], expansions: list[int], pw: Tensor, pe: Tensor,
                 kernels: list[int], pk: Tensor, c_out: int) -> Tensor:
    """One :class:`~nasforge.oneshot.elastic.ElasticMBConv` with mixed weights: hidden channel
    ``r`` scaled by ``P(r < round(c_in(width) * expand))``, kernel taps by ``P(kernel covers)``."""
    c_in = x.shape[1]
    hiddens = [round(c * e) for c in chans_in for e in expansions]
    p_hidden = (pw[:, None] * pe[None, :]).reshape(-1)
    hidden = max(hiddens)
    channel_scale = (p_hidden[:, None] * _cover(hiddens, hidden, x)).sum(0)
    kmax = max(kernels)
    grid = torch.zeros(len(kernels), kmax, kmax, dtype=x.dtype, device=x.device)
    for i, k in enumerate(kernels):
        o = (kmax - k) // 2
        grid[i, o:o + k, o:o + k] = 1.0
    taps = (pk[:, None, None] * grid).sum(0)
    w1 = layer.expand.weight_for(c_in, hidden, 1) * channel_scale[:, None, None, None]
    w2 = layer.depthwise.weight_for(hidden, hidden, kmax) * (channel_scale[:, None, None] * taps)[:, None]
    w3 = layer.project.weight_for(hidden, c_out, 1) * channel_scale[None, :, None, None]
    h = F.relu(layer.bn1(layer.expand(x, hidden, 1, weight=w1)))
    h = F.relu(layer.bn2(layer.depthwise(h, hidden, kmax, weight=w2)))
    out = layer.bn3(layer.project(h, c_out, 1, weight=w3))
    return out + x if layer.stride == 1 and c_in == c_out else out
