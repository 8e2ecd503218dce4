"""Differentiable expected latency for ProxylessNAS (Cai et al. 2019), from the latency table.

Every model here comes from the per-block :class:`~nasforge.hardware.table.LatencyTable`
(FBNet's lookup table, Wu et al. 2019), built by :func:`latency_model` for the space, and gives
``expected_of(supernet)`` (a differentiable tensor, ms, under the supernet's architecture
probabilities, decisions independent), ``arch_ms(arch)`` (the same model for one arch) and a
plain-value ``to_dict()`` (:func:`from_dict` reads it back).

- ``nb201`` (:class:`EdgeLatency`): ``fixed + sum_e sum_k p[e, k] * L[k]``; ``L[k]`` is the
  latency one edge with operation ``k`` adds to the whole network, summed over all cells: cells
  of one operation on all six edges are profiled, and ``L[k] = (cells(k) - cells(none)) / 6``
  (an additive per-edge model, clipped at zero); ``fixed`` is the all-``none`` network.
- ``macro`` (:class:`LayerLatency`): the table's sum over blocks is already additive over
  layers, ``fixed + sum_l sum_o p[l, o] * L[l, o]`` with ``L[l, o]`` the block of layer ``l``
  with option ``o`` (stem and head in ``fixed``); exact for every arch.
- ``mbconv`` (:class:`MBConvLatency`): a layer's block depends on the width multiplier ``w``,
  its position, kernel ``k`` and expansion ``e``, and runs when its stage is deep enough:
  ``sum_w p_w (stem_w + head_w + sum_{s,i} P(depth_s > i) sum_{k,e} p_k p_e L[w, s, i, k, e])``;
  exact for every arch.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

import torch
from torch import Tensor

from nasforge.space.arch import Arch
from nasforge.space.nb201 import EDGE_NAMES, OPS, NB201Space


@dataclass(frozen=True)
class EdgeLatency:
    """``fixed`` ms plus ``per_op[k]`` ms for every edge with operation ``k``."""

    fixed: float
    per_op: tuple[float, ...]

    def expected(self, probs: Tensor) -> Tensor:
        """Expected latency (ms) under edge probabilities ``probs`` (edges x ops)."""
        return self.fixed + (probs * torch.tensor(self.per_op, dtype=probs.dtype, device=probs.device)).sum()

    def of(self, ops: list[str]) -> float:
        """Latency (ms) of the arch with ``ops`` on the six edges, under this additive model."""
        return self.fixed + sum(self.per_op[OPS.index(op)] for op in ops)

    def expected_of(self, supernet: Any) -> Tensor:
        return self.expected(supernet.probabilities())

    def arch_ms(self, arch: Arch) -> float:
        return self.of([arch[name] for name in EDGE_NAMES])

    def to_dict(self) -> dict[str, Any]:
        return {"kind": "edge", "fixed": self.fixed, "per_op": list(self.per_op)}


@dataclass(frozen=True)
class LayerLatency:
    """``fixed`` ms plus ``per_layer[l][o]`` ms for layer ``l`` (decision ``names[l]``) with its
    ``o``-th option (``options[l]``)."""

    fixed: float
    names: tuple[str, ...]
    options: tuple[tuple[Any, ...], ...]
    per_layer: tuple[tuple[float, ...], ...]

    def expected_of(self, supernet: Any) -> Tensor:
        import torch.nn.functional as F

        probs = F.softmax(supernet.alphas, dim=-1)
        return self.fixed + (probs * torch.tensor(self.per_layer, dtype=probs.dtype, device=probs.device)).sum()

    def arch_ms(self, arch: Arch) -> float:
        return self.fixed + sum(row[opts.index(arch[name])]
                                for name, opts, row in zip(self.names, self.options, self.per_layer, strict=True))

    def to_dict(self) -> dict[str, Any]:
        return {"kind": "layer", **{k: _lists(v) for k, v in asdict(self).items()}}


@dataclass(frozen=True)
class MBConvLatency:
    """Per width multiplier ``widths[w]``: ``stem[w] + head[w]`` ms, and ``layer[w][s][i][k][e]``
    ms for layer ``i`` of stage ``s`` with ``kernels[k]``, ``expansions[e]`` (see the module
    docstring); ``depths`` are the depth options of every stage."""

    widths: tuple[float, ...]
    depths: tuple[int, ...]
    kernels: tuple[int, ...]
    expansions: tuple[int, ...]
    stem: tuple[float, ...]
    head: tuple[float, ...]
    layer: tuple[Any, ...]

    def expected_of(self, supernet: Any) -> Tensor:
        p = supernet.choice_probabilities()
        pw = p["width"]
        table = torch.tensor(self.layer, dtype=pw.dtype, device=pw.device)  # W x S x I x K x E
        total = (pw * (torch.tensor(self.stem, dtype=pw.dtype, device=pw.device)
                       + torch.tensor(self.head, dtype=pw.dtype, device=pw.device))).sum()
        for s in range(table.shape[1]):
            reach = torch.stack([p[f"depth_{s}"][[j for j, d in enumerate(self.depths) if d > i]].sum()
                                 for i in range(table.shape[2])])   # P(depth_s > i)
            for i in range(table.shape[2]):
                pke = p[f"kernel_{s}_{i}"][:, None] * p[f"expand_{s}_{i}"][None, :]
                total = total + reach[i] * (pw * (table[:, s, i] * pke).sum((-1, -2))).sum()
        return total

    def arch_ms(self, arch: Arch) -> float:
        w = self.widths.index(float(arch["width"]))
        total = self.stem[w] + self.head[w]
        for s in range(len(self.layer[w])):
            for i in range(int(arch[f"depth_{s}"])):
                k, e = self.kernels.index(int(arch[f"kernel_{s}_{i}"])), self.expansions.index(int(arch[f"expand_{s}_{i}"]))
                total += self.layer[w][s][i][k][e]
        return total

    def to_dict(self) -> dict[str, Any]:
        return {"kind": "mbconv", **{k: _lists(v) for k, v in asdict(self).items()}}


def _lists(value: Any) -> Any:
    """Tuples to lists, all the way down (what a checkpoint or JSON holds)."""
    return [_lists(v) for v in value] if isinstance(value, (tuple, list)) else value


def _tuples(value: Any) -> Any:
    return tuple(_tuples(v) for v in value) if isinstance(value, (tuple, list)) else value


def from_dict(data: Mapping[str, Any]) -> EdgeLatency | LayerLatency | MBConvLatency:
    """A latency model back from its ``to_dict()``."""
    kinds = {"edge": EdgeLatency, "layer": LayerLatency, "mbconv": MBConvLatency}
    values = dict(data)
    cls = kinds[values.pop("kind")]
    return cls(**{k: _tuples(v) for k, v in values.items()})  # type: ignore[arg-type]


def _table(space: Any, task: Any, settings: Any, path: str | None) -> Any:
    from nasforge.hardware.latency import LatencySettings
    from nasforge.hardware.table import LatencyTable

    settings = settings or LatencySettings(warmup=3, repeats=15, clock="cpu")
    return LatencyTable(settings, path).setup(space, tuple(task.input_shape), int(task.num_classes))


def macro_layer_latency(space: Any, task: Any, settings: Any = None, path: str | None = None) -> LayerLatency:
    """Profile every option of every NAS-Bench-Macro layer (one all-``o`` arch per option)."""
    table = _table(space, task, settings, path)
    names = tuple(c.name for c in space.choices)
    options = tuple(tuple(c.options) for c in space.choices)
    per_option, fixed = [], 0.0
    for o in options[0]:
        costs = [c["latency_ms"] for c in table.block_costs(space.arch(dict.fromkeys(names, o)))]
        fixed = costs[0] + costs[-1]  # stem and head: the same in every arch
        per_option.append(costs[1:-1])
    return LayerLatency(fixed, names, options, tuple(tuple(row) for row in zip(*per_option, strict=True)))


def mbconv_layer_latency(space: Any, task: Any, settings: Any = None, path: str | None = None) -> MBConvLatency:
    """Profile every block of the ``mbconv`` space: per width, one arch of full depth per
    (kernel, expansion), whose blocks cover every layer position."""
    table = _table(space, task, settings, path)
    deepest = max(space.depths)
    stems, heads, layers = [], [], []
    for width in space.width_mults:
        grid = [[[[0.0] * len(space.expansions) for _ in space.kernels] for _ in range(deepest)]
                for _ in space.widths]
        for k, kernel in enumerate(space.kernels):
            for e, expand in enumerate(space.expansions):
                values: dict[str, Any] = {"width": float(width)}
                for s in range(len(space.widths)):
                    values[f"depth_{s}"] = deepest
                    for i in range(deepest):
                        values[f"kernel_{s}_{i}"], values[f"expand_{s}_{i}"] = kernel, expand
                costs = [c["latency_ms"] for c in table.block_costs(space.arch(values))]
                for s in range(len(space.widths)):
                    for i in range(deepest):
                        grid[s][i][k][e] = costs[1 + s * deepest + i]
        stems.append(costs[0])
        heads.append(costs[-1])
        layers.append(grid)
    return MBConvLatency(tuple(float(w) for w in space.width_mults), tuple(int(d) for d in space.depths),
                         tuple(int(k) for k in space.kernels), tuple(int(e) for e in space.expansions),
                         tuple(stems), tuple(heads), _tuples(layers))


def nb201_edge_latency(space: NB201Space, task: Any, settings: Any = None,
                       path: str | None = None) -> EdgeLatency:
    """Profile the per-operation edge latencies of ``space``'s network (see module docstring)."""
    table = _table(space, task, settings, path)
    cells: dict[str, float] = {}
    totals: dict[str, float] = {}
    for op in OPS:
        arch = space.arch(dict.fromkeys(EDGE_NAMES, op))
        costs = table.block_costs(arch)
        specs = table.blocks(arch)
        cells[op] = sum(c["latency_ms"] for c, s in zip(costs, specs, strict=True)
                        if s.signature.startswith("nb201.cell"))
        totals[op] = sum(c["latency_ms"] for c in costs)
    per_op = tuple(max(0.0, (cells[op] - cells["none"]) / len(EDGE_NAMES)) for op in OPS)
    return EdgeLatency(totals["none"], per_op)


#: space name -> the function that profiles its latency model (space, task, settings, path)
LATENCY_MODELS = {"nb201": nb201_edge_latency, "macro": macro_layer_latency, "mbconv": mbconv_layer_latency}


def latency_model(space: Any, task: Any, settings: Any = None,
                  path: str | None = None) -> EdgeLatency | LayerLatency | MBConvLatency:
    """The expected-latency model of ``space`` profiled on this machine (``path``: the table file)."""
    if space.name not in LATENCY_MODELS:
        raise ValueError(f"no expected-latency model for space {space.name!r}; spaces with one: "
                         f"{sorted(LATENCY_MODELS)}")
    return LATENCY_MODELS[space.name](space, task, settings, path=path)

