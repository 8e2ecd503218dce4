"""Ranking quality of a supernet: inherited-weight accuracy against the true accuracy.

``rank_archs`` scores archs with the ``supernet`` evaluator; ``correlations`` gives, for each
predictor against the truth (the supernet, FLOPs -- the free baseline -- and their combination,
the mean of the two normalised ranks):

- Kendall's tau and Spearman's rho over all archs (``scipy.stats``);
- top-k precision (:func:`top_k_precision`): the share of the true top-k that the predictor's
  top-k contains, at ``k = ceil(10% of n)`` (``precision_top10pct``) and ``k = 5``
  (``precision_top5``); what a search that keeps the predictor's best few would keep;
- Kendall's tau within the true top 10% (:func:`top_kendall`, ``kendall_top10pct``): whether
  the predictor orders the archs that matter, where a supernet's ranking is known to be weakest
  (the ranking-quality measures of Yu et al. 2020, "Evaluating the search phase of NAS", and
  Ning et al. 2021, "Evaluating efficient performance estimators of NAS").

Higher scores mean better on both sides (FLOPs: more FLOPs predict higher accuracy).
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


#: the default top-k sizes of the ranking study: a share of the archs and a fixed count
TOP_FRACTION = 0.1
TOP_K = 5


def _top(values: np.ndarray, k: int) -> np.ndarray:
    """Indices of the ``k`` highest ``values`` (ties broken by position, first wins)."""
    order = np.argsort(-values, kind="stable")
    return order[:k]


def top_count(n: int, fraction: float = TOP_FRACTION) -> int:
    """``ceil(fraction * n)``, at least 1 and at most ``n``: the size of the top ``fraction``."""
    if not 0 < fraction <= 1:
        raise ValueError(f"top fraction must be in (0, 1], got {fraction}")
    return min(n, max(1, int(np.ceil(fraction * n - 1e-9))))


def top_k_precision(predicted: Sequence[float] | np.ndarray, truth: Sequence[float] | np.ndarray,
                    k: int) -> float:
    """Share of the ``k`` truly best archs that are among the ``k`` best by ``predicted``.

    Both higher-is-better; ``k`` is capped at ``n`` (``NaN`` for no archs). 1 means the
    predictor's top-k is exactly the true top-k (in any order); a random predictor expects
    ``k / n``.
    """
    pred, true = np.asarray(predicted, dtype=float), np.asarray(truth, dtype=float)
    if len(pred) != len(true):
        raise ValueError(f"top-k precision of {len(pred)} scores against {len(true)}")
    if k < 1:
        raise ValueError(f"top-k precision needs k >= 1, got {k}")
    k = min(k, len(pred))
    if k == 0:
        return float("nan")
    return len(set(_top(pred, k).tolist()) & set(_top(true, k).tolist())) / k


def top_kendall(predicted: Sequence[float] | np.ndarray, truth: Sequence[float] | np.ndarray,
                fraction: float = TOP_FRACTION) -> float:
    """Kendall's tau of ``predicted`` against ``truth`` among the archs in the true top
    ``fraction`` (:func:`top_count`); ``NaN`` with fewer than two such archs or a constant side."""
    from nasforge.core.ranking import rank_correlations

    pred, true = np.asarray(predicted, dtype=float), np.asarray(truth, dtype=float)
    if len(pred) != len(true):
        raise ValueError(f"top Kendall tau of {len(pred)} scores against {len(true)}")
    if len(pred) == 0:
        return float("nan")
    keep = _top(true, top_count(len(true), fraction))
    return rank_correlations(pred[keep], true[keep], undefined=float("nan"))[0]


def _normalised_ranks(values: np.ndarray) -> np.ndarray:
    from scipy.stats import rankdata

    return (rankdata(values) - 1) / max(1, len(values) - 1)


#: the columns of :func:`correlations`' rows, in order
COLUMNS = ("predictor", "target", "kendall", "spearman", "precision_top10pct", "precision_top5",
           "kendall_top10pct", "n")


def correlations(ranked: Sequence[Ranked]) -> list[dict[str, Any]]:
    """Rows of :data:`COLUMNS` (see the module docstring): one per predictor against the
    truth where the table has it, and the supernet against FLOPs."""
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
        rows.append({"predictor": name, "target": target, "kendall": kendall, "spearman": spearman,
                     "precision_top10pct": top_k_precision(pred, values, top_count(len(values))),
                     "precision_top5": top_k_precision(pred, values, TOP_K),
                     "kendall_top10pct": top_kendall(pred, values), "n": len(ranked)})
    return rows
