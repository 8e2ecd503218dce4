"""Ranking quality of a supernet: inherited-weight accuracy against the true accuracy.

``rank_archs`` scores archs with the ``supernet`` evaluator; ``correlations`` gives Kendall's
tau and Spearman's rho (``scipy.stats``) of each predictor with the truth: the supernet, FLOPs
(the free baseline), and their combination (the mean of the two normalised ranks).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from nasforge.space.arch import Arch


@dataclass(frozen=True)
class Ranked:
    """One arch: supernet accuracy, true accuracy (NaN without a table), FLOPs."""

    arch: Arch
    supernet_accuracy: float
    true_accuracy: float
    flops: float


def arch_flops(arch: Arch, space: Any, shape: Any) -> float:
    """FLOPs of ``arch``: the table's where it has them, else PyTorch's counter (MACs)."""
    from nasforge.oneshot.truth import true_metrics

    metrics = true_metrics(arch)
    if metrics is not None and "flops" in metrics:
        return float(metrics["flops"])
    from nasforge.hardware.metrics import count_flops

    return count_flops(space.build(arch, shape), shape.input_shape) / 2


def rank_archs(evaluator: Any, archs: Sequence[Arch], space: Any, shape: Any) -> list[Ranked]:
    """Score ``archs`` with ``evaluator`` (a SupernetEvaluator) and attach truth and FLOPs."""
    from nasforge.oneshot.truth import true_metrics

    out = []
    for arch in archs:
        result = evaluator.evaluate(arch)
        if not result.ok:
            raise RuntimeError(f"supernet evaluation of {arch.key} failed: {result.error}")
        truth = true_metrics(arch)
        out.append(Ranked(arch, float(result.metrics["val_accuracy"]),
                          float("nan") if truth is None else float(truth["accuracy"]),
                          arch_flops(arch, space, shape)))
    return out


def _normalised_ranks(values: np.ndarray) -> np.ndarray:
    from scipy.stats import rankdata

    return (rankdata(values) - 1) / max(1, len(values) - 1)


def correlations(ranked: Sequence[Ranked]) -> list[dict[str, Any]]:
    """Rows ``predictor, target, kendall, spearman, n`` (see the module docstring)."""
    from nasforge.core.ranking import rank_correlations

    sup = np.array([r.supernet_accuracy for r in ranked])
    flops = np.array([r.flops for r in ranked])
    truth = np.array([r.true_accuracy for r in ranked])
    combined = _normalised_ranks(sup) + _normalised_ranks(flops)
    pairs = [("supernet", sup, "flops", flops)]
    if np.isfinite(truth).all():
        pairs = [("supernet", sup, "true_accuracy", truth), ("flops", flops, "true_accuracy", truth),
                 ("supernet+flops", combined, "true_accuracy", truth), *pairs]
    rows = []
    for name, pred, target, values in pairs:
        kendall, spearman = rank_correlations(pred, values, undefined=float("nan"))
        rows.append({"predictor": name, "target": target, "kendall": kendall, "spearman": spearman, "n": len(ranked)})
    return rows
