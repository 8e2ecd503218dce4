"""TangleNAS (Sukthanker et al. 2024): differentiable search on a weight-entangled supernet.

The NAS-Bench-Macro supernet (:mod:`nasforge.oneshot.macro`) mixes the candidate MBConv
blocks of a layer in weight space, so each layer runs once whatever the number of entangled
candidates (DARTS would run every candidate and mix outputs). The bilevel loop is DARTS's
first-order one (:class:`~nasforge.oneshot.gradient.GradientMethod`); the derived arch is the
arg-max option of every layer.
"""

from __future__ import annotations

from nasforge.oneshot.base import register_method
from nasforge.oneshot.gradient import GradientMethod


@register_method("tanglenas")
class TangleNAS(GradientMethod):
    """Weight-entangled differentiable search (spaces whose supernet is entangled: macro)."""

    name = "tanglenas"
    requires = frozenset({"entangled", "softmax"})
