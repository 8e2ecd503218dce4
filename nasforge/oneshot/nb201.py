"""The NAS-Bench-201 supernet: the space's skeleton with a :class:`MixedEdge` on every edge.

One set of architecture parameters ``alphas`` (6 edges x 5 operations) is shared by all cells,
as in the benchmark's own DARTS/GDAS baselines (Dong & Yang 2020). ``mode`` picks how the
relaxed supernet (``forward(x)`` without an arch) combines the candidates:

- ``softmax``: DARTS (Liu et al. 2019) weighted sum;
- ``gumbel``: GDAS (Dong & Yang 2019) hard Gumbel-softmax, one candidate per edge per forward
  (the sample is shared by all cells), straight-through gradient to ``alphas``;
- ``gumbel_soft``: FBNet (Wu et al. 2019) soft Gumbel-softmax sum;
- ``binary``: ProxylessNAS (Cai et al. 2019) binary gates over two sampled candidates;
- ``sample``: one candidate per edge drawn from ``softmax(alphas)``, no gradient to them.

``partial`` > 1 and ``edge_norm`` give PC-DARTS (Xu et al. 2020): partial channels, and node
inputs weighted by the softmax of per-edge parameters ``betas``. ``fixed`` edges (DARTS-PT,
Wang et al. 2021) use their chosen operation only; ``dropped`` removes one candidate of one
edge without re-normalising the others (the perturbation of DARTS-PT).

``entangle=True`` gives TangleNAS (Sukthanker et al. 2024): every edge is an
:class:`~nasforge.oneshot.entangled_edge.EntangledEdge`, whose 1x1 convolution is the centre
slice of its 3x3 one, and ``softmax`` mixes the two in weight space (one convolution per edge).
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from nasforge.oneshot.data import device_of
from nasforge.oneshot.entangled_edge import EntangledEdge
from nasforge.oneshot.mixed import MixedEdge
from nasforge.oneshot.supernet import Supernet, copy_state, register_supernet
from nasforge.space.arch import Arch
from nasforge.space.layers import NB201Cell
from nasforge.space.nb201 import EDGE_NAMES, EDGES, OPS, NB201Space

MODES = ("softmax", "gumbel", "gumbel_soft", "binary", "sample")
Plan = list[tuple[Any, ...]]


class SuperCell(nn.Module):
    """A NAS-Bench-201 cell whose six edges are mixed operations."""

    def __init__(self, channels: int, partial: int = 1, bn_affine: bool = True, entangle: bool = False) -> None:
        super().__init__()
        edge = EntangledEdge if entangle else MixedEdge
        self.edges = nn.ModuleDict({f"{d}_{s}": edge(OPS, channels, partial, bn_affine) for d, s in EDGES})

    def forward(self, x: Tensor, plan: Plan, node_weights: Tensor | None = None) -> Tensor:
        nodes = [x]
        for dst in (1, 2, 3):
            total = None
            for src in range(dst):
                e = EDGES.index((dst, src))
                out = _apply(self.edges[f"{dst}_{src}"], nodes[src], plan[e])
                if node_weights is not None:
                    out = out * node_weights[e]
                total = out if total is None else total + out
            nodes.append(total)
        return nodes[3]


def _apply(edge: MixedEdge, x: Tensor, step: tuple[Any, ...]) -> Tensor:
    kind = step[0]
    if kind == "mix":
        return edge.mix(x, step[1])
    if kind == "single":
        return edge.single(x, step[1], step[2])
    return edge.binary(x, step[1], step[2], step[3])


@register_supernet("nb201")
class NB201Supernet(Supernet):
    """Supernet of an :class:`NB201Space` (its ``channels`` and ``cells`` set the skeleton)."""

    capabilities = frozenset({"paths", "mixed-op", "partial", "perturb", "entangled", *MODES})
    #: the constructor settings that make this supernet weight-entangled (TangleNAS)
    entangled_config = {"entangle": True}

    def __init__(self, space: NB201Space, task: Any, partial: int = 1, edge_norm: bool = False,
                 bn_affine: bool = True, entangle: bool = False) -> None:
        super().__init__(space, task)
        self.config = dict(partial=partial, edge_norm=edge_norm, bn_affine=bn_affine, entangle=entangle)
        self.partial = partial
        ref = space.arch({e: "nor_conv_3x3" for e in EDGE_NAMES})
        blocks: list[nn.Module] = []
        for spec in space.blocks(ref, self.shape):
            if spec.signature.startswith("nb201.cell"):
                blocks.append(SuperCell(spec.input_shape[0], partial, bn_affine, entangle))
            else:
                blocks.append(spec.build())
        self.blocks = nn.ModuleList(blocks)
        self.alphas = nn.Parameter(1e-3 * torch.randn(len(EDGES), len(OPS)))
        self.betas = nn.Parameter(torch.zeros(len(EDGES))) if edge_norm else None
        self.mode = "softmax"
        self.tau = 1.0
        self.fixed: dict[int, int] = {}
        self.dropped: tuple[int, int] | None = None

    # ------------------------------------------------------------------ parameters
    def arch_parameters(self) -> list[nn.Parameter]:
        return [self.alphas] + ([self.betas] if self.betas is not None else [])

    def probabilities(self) -> Tensor:
        """``softmax(alphas)`` per edge, with fixed edges one-hot and the dropped op removed."""
        probs = F.softmax(self.alphas, dim=-1)
        if self.fixed or self.dropped is not None:
            mask = torch.ones_like(probs)
            for e, k in self.fixed.items():
                mask[e] = 0.0
                mask[e, k] = 1.0 / probs[e, k].detach()  # weight exactly 1
            if self.dropped is not None:
                mask[self.dropped] = 0.0
            probs = probs * mask
        return probs

    def node_weights(self) -> Tensor | None:
        """PC-DARTS edge normalisation: softmax of ``betas`` over each node's inputs."""
        if self.betas is None:
            return None
        parts, start = [], 0
        for dst in (1, 2, 3):
            parts.append(F.softmax(self.betas[start:start + dst], dim=0))
            start += dst
        return torch.cat(parts)

    def arch_weights(self) -> dict[str, list[float]]:
        probs = self.probabilities().detach()
        return {name: [float(v) for v in probs[e]] for e, name in enumerate(EDGE_NAMES)}

    def derive(self) -> Arch:
        """The arch of the strongest operation on every edge (``none`` included, as in NB201)."""
        probs = self.probabilities().detach()
        return self.space.arch({name: OPS[int(probs[e].argmax())] for e, name in enumerate(EDGE_NAMES)})

    def extremes(self) -> tuple[Arch, Arch]:
        return (self.space.arch(dict.fromkeys(EDGE_NAMES, "nor_conv_3x3")),
                self.space.arch(dict.fromkeys(EDGE_NAMES, "skip_connect")))

    # --------------------------------------------------------------------- forward
    def plan(self, arch: Arch | None = None) -> Plan:
        """Per edge, how its mixed op runs in this forward (one sample shared by all cells)."""
        if arch is not None:
            self._check(arch)
            return [("single", OPS.index(arch[name]), None) for name in EDGE_NAMES]
        if self.mode == "softmax":
            probs = self.probabilities()
            return [("mix", probs[e]) for e in range(len(EDGES))]
        if self.mode in ("gumbel", "gumbel_soft"):
            logits = F.log_softmax(self.alphas, dim=-1)
            u = torch.rand(logits.shape, generator=self.generator).to(logits.device).clamp_(1e-9, 1 - 1e-9)
            soft = F.softmax((logits - torch.log(-torch.log(u))) / self.tau, dim=-1)
            if self.mode == "gumbel_soft":
                return [("mix", soft[e]) for e in range(len(EDGES))]
            index = soft.argmax(dim=-1)
            hard = F.one_hot(index, len(OPS)).to(soft) - soft.detach() + soft
            return [("single", int(index[e]), hard[e, index[e]]) for e in range(len(EDGES))]
        probs = self.probabilities()
        if self.mode == "sample":
            index = torch.multinomial(probs.detach().cpu(), 1, generator=self.generator)[:, 0]  # CPU generator
            return [("single", int(index[e]), None) for e in range(len(EDGES))]
        if self.mode == "binary":
            plan: Plan = []
            for e in range(len(EDGES)):
                pair = torch.multinomial(probs[e].detach().cpu(), 2, generator=self.generator).tolist()
                sub = F.softmax(self.alphas[e, pair], dim=0)
                active = pair[int(torch.multinomial(sub.detach().cpu(), 1, generator=self.generator))]
                plan.append(("binary", active, pair, sub))
            return plan
        raise ValueError(f"NB201 supernet mode must be one of {MODES}, got {self.mode!r}")

    def forward(self, x: Tensor, arch: Arch | None = None) -> Tensor:
        plan = self.plan(arch)
        node_weights = self.node_weights() if arch is None else None
        for block in self.blocks:
            x = block(x, plan, node_weights) if isinstance(block, SuperCell) else block(x)
        return x

    # ------------------------------------------------------------------ extraction
    def extract(self, arch: Arch) -> nn.Module:
        """The standalone network of ``arch`` with the supernet's weights (single-path equal)."""
        self._check(arch)
        if self.partial != 1:
            raise ValueError("a partial-channel (PC-DARTS) supernet has edges of C/K channels; "
                             "its subnets cannot be extracted at full width")
        net = self.space.build(arch, self.shape).to(device_of(self))  # on the supernet's device
        for block, target in zip(self.blocks, net, strict=True):
            if isinstance(block, SuperCell):
                assert isinstance(target, NB201Cell)
                for key, op in target.edges.items():
                    edge, name = block.edges[key], arch[f"edge_{key}"]
                    if isinstance(edge, EntangledEdge):
                        edge.copy_to(name, op)
                    else:
                        copy_state(edge.candidates[name], op)
            else:
                target.load_state_dict(block.state_dict())
        return net.train(self.training)
