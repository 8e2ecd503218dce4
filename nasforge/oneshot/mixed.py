"""Mixed operations of a cell edge: every candidate operation, combined four ways.

- :meth:`MixedEdge.mix`: the weighted sum of all candidates' outputs (DARTS, Liu et al. 2019;
  weights are the softmax of the architecture parameters, or a soft Gumbel sample as in FBNet,
  Wu et al. 2019);
- :meth:`MixedEdge.single`: one candidate only, optionally scaled by a straight-through gate
  whose forward value is 1 (SPOS single path, Guo et al. 2020; GDAS hard Gumbel-softmax, Dong &
  Yang 2019);
- :meth:`MixedEdge.binary`: ProxylessNAS binary gates (Cai et al. 2019): the output is the
  active path only, and the gradient reaching the gate probabilities of two sampled candidates
  is ``<dL/dout, o_j>``, obtained from a surrogate term whose forward value is zero;
- partial channels (PC-DARTS, Xu et al. 2020): with ``partial = K > 1`` the candidates see
  only the first ``C/K`` channels; the rest bypass the edge, and a channel shuffle mixes them.

Candidate modules are the standalone network's own layers (:mod:`nasforge.space.layers`), so
a subnet can inherit them unchanged.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

from nasforge.space.layers import ReLUConvBN, nb201_op


def make_op(name: str, channels: int, bn_affine: bool = True) -> nn.Module | None:
    """The candidate ``name`` (``None`` for ``none``); BN without affine when asked (DARTS)."""
    op = nb201_op(name, channels)
    if isinstance(op, ReLUConvBN) and not bn_affine:
        op[2] = nn.BatchNorm2d(channels, affine=False)
    return op


def channel_shuffle(x: Tensor, groups: int) -> Tensor:
    """Interleave ``groups`` channel groups (ShuffleNet; used by PC-DARTS)."""
    n, c, h, w = x.shape
    return x.view(n, groups, c // groups, h, w).transpose(1, 2).reshape(n, c, h, w)


class MixedEdge(nn.Module):
    """All candidate operations of one edge (``ops`` in order; ``none`` has no module)."""

    def __init__(self, ops: Sequence[str], channels: int, partial: int = 1,
                 bn_affine: bool = True) -> None:
        super().__init__()
        if channels % partial:
            raise ValueError(f"partial channels: {channels} channels are not divisible by K={partial}")
        self.names = tuple(ops)
        self.partial = partial
        self.candidates = nn.ModuleDict()
        for name in self.names:
            op = make_op(name, channels // partial, bn_affine)
            if op is not None:
                self.candidates[name] = op

    def _run(self, index: int, x: Tensor) -> Tensor:
        name = self.names[index]
        if name == "none":
            return x.mul(0.0)
        return self.candidates[name](x)

    def _split(self, x: Tensor) -> tuple[Tensor, Tensor | None]:
        if self.partial == 1:
            return x, None
        c = x.shape[1] // self.partial
        return x[:, :c], x[:, c:]

    def _merge(self, out: Tensor, rest: Tensor | None) -> Tensor:
        if rest is None:
            return out
        return channel_shuffle(torch.cat([out, rest], dim=1), self.partial)

    def mix(self, x: Tensor, weights: Tensor) -> Tensor:
        """``sum_k weights[k] * op_k(x)`` (``none`` and zero-weight candidates are skipped)."""
        part, rest = self._split(x)
        out = None
        for k in range(len(self.names)):
            if self.names[k] == "none" or float(weights[k].detach()) == 0.0:
                continue  # contributes nothing, to the output or to any gradient
            term = weights[k] * self._run(k, part)
            out = term if out is None else out + term
        if out is None:
            out = part.mul(0.0)
        return self._merge(out, rest)

    def single(self, x: Tensor, index: int, gate: Tensor | None = None) -> Tensor:
        """Candidate ``index`` alone, times ``gate`` (a straight-through scalar) if given."""
        part, rest = self._split(x)
        out = self._run(index, part)
        if gate is not None:
            out = out * gate
        return self._merge(out, rest)

    def binary(self, x: Tensor, active: int, pair: Sequence[int], probs: Tensor) -> Tensor:
        """ProxylessNAS binary gate: output of ``active``; gate gradients for ``pair``.

        ``probs`` are the re-normalised probabilities of the two sampled candidates ``pair``.
        The surrogate ``sum_j (p_j - p_j.detach()) * o_j.detach()`` is zero in the forward pass
        and gives ``dL/dp_j = <dL/dout, o_j>`` in the backward pass, the gate gradient of the
        paper; weights get gradients through the active path only.
        """
        part, rest = self._split(x)
        out = self._run(active, part)
        for j, index in enumerate(pair):
            if index == active:
                other = out.detach()
            else:
                with torch.no_grad():
                    other = self._run(index, part)
            out = out + (probs[j] - probs[j].detach()) * other
        return self._merge(out, rest)
