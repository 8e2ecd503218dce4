"""TangleNAS (Sukthanker et al. 2024, "Weight-Entangled Differentiable Neural Architecture
Search"): differentiable search on a weight-entangled supernet.

The candidates of a decision that share weights as slices of the largest one are mixed in
weight space, so each layer runs once whatever the number of entangled candidates (DARTS runs
every candidate and mixes outputs). Candidates without weights are mixed by output. On each
space:

- ``macro`` (:mod:`nasforge.oneshot.macro`): the two MBConv options of a layer are one elastic
  MBConv; the identity is mixed by output;
- ``nb201`` (:mod:`nasforge.oneshot.entangled_edge`): on every edge the 1x1 convolution is the
  centre slice of the 3x3 one; average pooling, skip and zero are mixed by output;
- ``mbconv`` (:mod:`nasforge.oneshot.mbconv_relaxed`): kernel sizes and expansion ratios of a
  layer are centre crops and leading channels of the largest, the width multiplier scales
  leading channels, and a stage's depth mixes the outputs of its candidate depths;
- ``vit`` and ``gpt`` (:mod:`nasforge.oneshot.transformer_supernet`): embedding channels, heads
  and MLP units are leading slices of the largest block, mixed in weight space; LayerNorm
  mixes its outputs over the embedding widths, depth the outputs after each candidate depth,
  and ``vit``'s patch sizes (separate embeddings) their logits.

The bilevel loop is DARTS's first-order one (:class:`~nasforge.oneshot.gradient.GradientMethod`);
the derived arch is the arg-max option of every decision.
"""

from __future__ import annotations

from typing import Any

from nasforge.oneshot.base import OneShotSettings, register_method
from nasforge.oneshot.gradient import GradientMethod
from nasforge.oneshot.supernet import Supernet


@register_method("tanglenas")
class TangleNAS(GradientMethod):
    """Weight-entangled differentiable search (spaces whose supernet can be entangled)."""

    name = "tanglenas"
    requires = frozenset({"entangled", "softmax"})

    def build(self, space: Any, task: Any, settings: OneShotSettings) -> Supernet:
        from nasforge.oneshot.supernet import SUPERNETS, build_supernet

        entangled = dict(getattr(SUPERNETS.get(space.name), "entangled_config", {}))
        return build_supernet(space, task, bn_affine=settings.bn_affine, **entangled)
