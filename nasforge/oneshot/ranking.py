"""Ranking quality of a supernet: inherited-weight accuracy against the true accuracy.

``rank_archs`` scores archs with the ``supernet`` evaluator; ``correlations`` gives, for each
predictor against the truth (the supernet, FLOPs -- the free baseline -- and their combination,
the mean of the two normalised ranks; with ``smoothed`` scores also those and their combination
with FLOPs):

- Kendall's tau and Spearman's rho over all archs (``scipy.stats``);
- top-k precision (:func:`top_k_precision`): the share of the true top-k that the predictor's
  top-k contains, at ``k = ceil(10% of n)`` (``precision_top10pct``) and ``k = 5``
  (``precision_top5``); what a search that keeps the predictor's best few would keep;
- Kendall's tau within the true top 10% (:func:`top_kendall`, ``kendall_top10pct``): whether
  the predictor orders the archs that matter, where a supernet's ranking is known to be weakest
  (the ranking-quality measures of Yu et al. 2020, "Evaluating the search phase of NAS", and
  Ning et al. 2021, "Evaluating efficient performance estimators of NAS").

Higher scores mean better on both sides (FLOPs: more FLOPs predict higher accuracy).

Where the ranked archs carry the supernet's validation loss, the rows ``supernet-loss`` (the
negated loss) and its smoothing ``supernet-loss-<smoothing>`` come too: loss grades every image
by its confidence where accuracy only counts them, which ranks better while the supernet does
not fit its training images (on Macro's default supernet, 5 epochs, seed 0: Kendall 0.78 against
0.64 for accuracy) and worse once it overfits them (the reduced one after 32 epochs, seed 0: 0.58
against 0.69), so the study reports both (``docs/benchmarks.md``, issue 23).

Smoothing (:func:`smoothed_scores`): a predictor of the ``nasforge`` registry (default
``ridge``, one additive effect per option) fitted to the supernet's own scores of the ranked archs
and read back on the same archs. Inherited-weight accuracy carries noise particular to each arch
(its path's share of the training, its BN calibration); an additive model over many archs keeps
what their options have in common and drops that noise. No true accuracy is used: the smoothed
ranking costs nothing beyond the supernet's evaluations (the idea of training a predictor on
one-shot scores, as in Ning et al. 2021's discussion of one-shot estimators).

Partial pooling (:func:`pooled_scores`, rows ``supernet-<smoothing>-pooled`` and
``supernet-loss-<smoothing>-pooled``): each arch's score moved only :data:`POOLING` (half) of
the way from its own value to the smoothed one. What the additive model leaves over is part
noise and part real interaction between layers (on Macro the same fit to the *true* accuracies
of 200 archs ranks them at Kendall 0.87 to 0.91, not 1), so shrinking the residual halfway,
rather than dropping it, keeps some of the interactions (the shrinkage estimators of Efron &
Morris 1975, with a fixed weight instead of one estimated from the data).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from nasforge.space.arch import Arch


@dataclass(frozen=True)
class Ranked:
    """One arch: supernet accuracy, true accuracy (NaN without a table), FLOPs, and the
    supernet's validation loss (NaN where not scored)."""

    arch: Arch
    supernet_accuracy: float
    true_accuracy: float
    flops: float
    supernet_loss: float = float("nan")


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
                          arch_flops(arch, space, shape), float(result.metrics["val_loss"])))
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


#: the predictor that smooths the supernet's scores by default (``rank_smoothing``)
SMOOTHING = "ridge"


#: the share of the way each arch's score moves from its own value to the smoothed one in the
#: pooled rows (:func:`pooled_scores`; 1 would be the smoothed score itself)
POOLING = 0.5


def pooled_scores(raw: np.ndarray, smoothed: np.ndarray, weight: float = POOLING) -> np.ndarray:
    """``raw + weight * (smoothed - raw)``: the supernet's scores partially pooled towards their
    smoothing (see the module docstring); ``weight`` in [0, 1]."""
    if not 0 <= weight <= 1:
        raise ValueError(f"the pooling weight must be in [0, 1], got {weight}")
    raw, smoothed = np.asarray(raw, dtype=float), np.asarray(smoothed, dtype=float)
    if raw.shape != smoothed.shape:
        raise ValueError(f"{len(smoothed)} smoothed scores for {len(raw)} raw ones")
    return raw + weight * (smoothed - raw)


#: the supernet's scores of an arch the study ranks by: ``accuracy``, or ``loss`` (negated)
SCORES = ("accuracy", "loss")


def supernet_scores(ranked: Sequence[Ranked], score: str = "accuracy") -> np.ndarray:
    """The supernet's ``score`` (:data:`SCORES`) of each of ``ranked``, higher is better."""
    if score not in SCORES:
        raise ValueError(f"score must be one of {SCORES}, got {score!r}")
    if score == "loss":
        return -np.array([r.supernet_loss for r in ranked], dtype=float)
    return np.array([r.supernet_accuracy for r in ranked], dtype=float)


def smoothed_scores(ranked: Sequence[Ranked], space: Any, predictor: str = SMOOTHING,
                    score: str = "accuracy") -> np.ndarray:
    """The supernet's ``score`` (:func:`supernet_scores`) of ``ranked`` as ``predictor`` (a
    registered predictor name), fitted to them on the space's one-hot encoding, gives them back
    (see the module docstring)."""
    from nasforge.estimate.predictors.base import get_predictor

    if len(ranked) < 2:
        raise ValueError(f"smoothing needs at least 2 ranked archs, got {len(ranked)}")
    y = supernet_scores(ranked, score)
    if not np.isfinite(y).all():
        raise ValueError(f"smoothing the supernet's {score}: some ranked archs have none")
    x = np.stack([space.encode(r.arch) for r in ranked])
    return get_predictor(predictor).fit(x, y).predict(x)


def correlations(ranked: Sequence[Ranked], smoothed: np.ndarray | None = None,
                 smoothing: str = SMOOTHING, smoothed_loss: np.ndarray | None = None) -> list[dict[str, Any]]:
    """Rows of :data:`COLUMNS` (see the module docstring): one per predictor against the
    truth where the table has it, and the supernet against FLOPs. ``smoothed`` (one score per
    ranked arch, :func:`smoothed_scores`) adds ``supernet-<smoothing>``, its combination with
    FLOPs and its partial pooling (``-pooled``, :func:`pooled_scores`); where every arch has a loss,
    ``supernet-loss`` comes too, and with ``smoothed_loss`` (:func:`smoothed_scores` of the loss)
    ``supernet-loss-<smoothing>`` and ``supernet-loss-<smoothing>-pooled``."""
    sup = supernet_scores(ranked)
    flops = np.array([r.flops for r in ranked])
    truth = np.array([r.true_accuracy for r in ranked])
    combined = _normalised_ranks(sup) + _normalised_ranks(flops)
    pairs = [("supernet", sup, "flops", flops)]
    if np.isfinite(truth).all():
        extra = []
        if smoothed is not None:
            smoothed = _checked(smoothed, len(sup))
            extra = [(f"supernet-{smoothing}", smoothed, "true_accuracy", truth),
                     (f"supernet-{smoothing}+flops", _normalised_ranks(smoothed) + _normalised_ranks(flops),
                      "true_accuracy", truth),
                     (f"supernet-{smoothing}-pooled", pooled_scores(sup, smoothed), "true_accuracy", truth)]
        loss = supernet_scores(ranked, "loss")
        if np.isfinite(loss).all():
            extra.append(("supernet-loss", loss, "true_accuracy", truth))
            if smoothed_loss is not None:
                smoothed_loss = _checked(smoothed_loss, len(sup))
                extra += [(f"supernet-loss-{smoothing}", smoothed_loss, "true_accuracy", truth),
                          (f"supernet-loss-{smoothing}-pooled", pooled_scores(loss, smoothed_loss), "true_accuracy",
                           truth)]
        pairs = [("supernet", sup, "true_accuracy", truth), ("flops", flops, "true_accuracy", truth),
                 ("supernet+flops", combined, "true_accuracy", truth), *extra, *pairs]
    return [correlation_row(name, pred, target, values) for name, pred, target, values in pairs]


def study_correlations(ranked: Sequence[Ranked], space: Any, smoothing: str = SMOOTHING) -> list[dict[str, Any]]:
    """:func:`correlations` of ``ranked`` (archs of ``space``) with the accuracy and, where every
    arch has one, the loss smoothed by ``smoothing`` (none when it is ``""`` or fewer than 2 archs):
    the rows of a ranking study."""
    smooth = bool(smoothing) and len(ranked) >= 2
    smoothed = smoothed_scores(ranked, space, smoothing) if smooth else None
    with_loss = smooth and bool(np.isfinite(supernet_scores(ranked, "loss")).all())
    smoothed_loss = smoothed_scores(ranked, space, smoothing, "loss") if with_loss else None
    return correlations(ranked, smoothed, smoothing, smoothed_loss)


def _checked(scores: np.ndarray, n: int) -> np.ndarray:
    """``scores`` as floats, refused unless there is one per ranked arch (``n``)."""
    scores = np.asarray(scores, dtype=float)
    if scores.shape != (n,):
        raise ValueError(f"{len(scores)} smoothed scores for {n} ranked archs")
    return scores


def correlation_row(predictor: str, predicted: np.ndarray, target: str, values: np.ndarray) -> dict[str, Any]:
    """One row of :data:`COLUMNS`: ``predicted`` scores named ``predictor`` against ``values``
    of ``target``, both higher-is-better and in the same order."""
    from nasforge.core.ranking import rank_correlations

    kendall, spearman = rank_correlations(predicted, values, undefined=float("nan"))
    return {"predictor": predictor, "target": target, "kendall": kendall, "spearman": spearman,
            "precision_top10pct": top_k_precision(predicted, values, top_count(len(values))),
            "precision_top5": top_k_precision(predicted, values, TOP_K),
            "kendall_top10pct": top_kendall(predicted, values), "n": len(values)}
