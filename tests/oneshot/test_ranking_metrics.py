"""Ranking-study metrics on hand-made rankings with known answers: top-k precision and
Kendall's tau within the true top 10% (``nasforge.oneshot.ranking``)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from oneshot_toys import tiny_spaces

from nasforge.oneshot.ranking import (
    COLUMNS,
    Ranked,
    correlations,
    top_count,
    top_k_precision,
    top_kendall,
)

TRUTH = np.arange(20, dtype=float)  # arch i has true accuracy i: the top 10% are 18 and 19


def test_top_count_is_the_ceiling_of_the_share():
    assert [top_count(n) for n in (1, 5, 10, 11, 20, 200, 201)] == [1, 1, 1, 2, 2, 20, 21]
    assert top_count(3, 1.0) == 3
    with pytest.raises(ValueError, match="top fraction"):
        top_count(10, 0.0)


def test_a_perfect_and_a_reversed_predictor():
    assert top_k_precision(TRUTH, TRUTH, 2) == 1.0
    assert top_k_precision(TRUTH, TRUTH, 5) == 1.0
    assert top_kendall(TRUTH, TRUTH) == pytest.approx(1.0)
    reverse = -TRUTH
    assert top_k_precision(reverse, TRUTH, 2) == 0.0
    assert top_k_precision(reverse, TRUTH, 5) == 0.0
    assert top_kendall(reverse, TRUTH) == pytest.approx(-1.0)


def test_precision_counts_the_shared_members_whatever_their_order():
    pred = TRUTH.copy()
    pred[[19, 14]] = pred[[14, 19]]  # the best arch falls to 6th place; the 6th rises to 1st
    # predicted top 5: 14, 18, 17, 16, 15; true top 5: 19..15 -> 4 of 5 shared
    assert top_k_precision(pred, TRUTH, 5) == pytest.approx(4 / 5)
    # predicted top 2: 14, 18; true top 2: 19, 18 -> 1 of 2
    assert top_k_precision(pred, TRUTH, top_count(20)) == pytest.approx(1 / 2)
    # the whole ranking barely changes, but its top is wrong
    pred2 = TRUTH.copy()
    pred2[[19, 18]] = pred2[[18, 19]]
    assert top_k_precision(pred2, TRUTH, 2) == 1.0  # same two archs, swapped
    assert top_kendall(pred2, TRUTH) == pytest.approx(-1.0)  # ... in the wrong order


def test_top_kendall_ignores_errors_outside_the_true_top():
    rng = np.random.default_rng(0)
    pred = TRUTH.copy()
    pred[:18] = rng.permutation(pred[:18])  # scramble everything below the top 10%
    assert top_kendall(pred, TRUTH) == pytest.approx(1.0)
    assert top_kendall(pred, TRUTH, fraction=0.5) < 1.0  # a wider top sees the scrambling


def test_top_kendall_over_a_known_set_of_five():
    truth = np.arange(50, dtype=float)  # top 10% = archs 45..49
    pred = truth.copy()
    pred[45:] = [5.0, 4.0, 3.0, 1.0, 2.0]  # within the top: one concordant pair of 10
    assert top_kendall(pred, truth) == pytest.approx((1 - 9) / 10)


def test_degenerate_inputs():
    assert math.isnan(top_kendall(TRUTH[:5], TRUTH[:5]))  # top 10% of 5 is one arch
    assert top_k_precision(TRUTH[:3], TRUTH[:3], 5) == 1.0  # k capped at n
    with pytest.raises(ValueError, match="3 scores against 2"):
        top_k_precision([1, 2, 3], [1, 2], 1)
    with pytest.raises(ValueError, match="k >= 1"):
        top_k_precision([1, 2], [1, 2], 0)


def test_correlation_rows_carry_the_top_metrics():
    space = tiny_spaces()["macro"]
    archs = space.sample_distinct(20, 0)
    # the supernet is right except that it swaps the two best; FLOPs are reversed
    sup = TRUTH.copy()
    sup[[19, 18]] = sup[[18, 19]]
    ranked = [Ranked(a, float(s), float(t), float(-t)) for a, s, t in zip(archs, sup, TRUTH, strict=True)]
    rows = {(r["predictor"], r["target"]): r for r in correlations(ranked)}
    assert all(tuple(r) == COLUMNS for r in rows.values())
    supernet = rows[("supernet", "true_accuracy")]
    assert supernet["precision_top10pct"] == 1.0 and supernet["precision_top5"] == 1.0
    assert supernet["kendall_top10pct"] == pytest.approx(-1.0)
    flops = rows[("flops", "true_accuracy")]
    assert flops["precision_top10pct"] == 0.0 and flops["precision_top5"] == 0.0


def test_smoothing_recovers_an_additive_truth_from_noisy_supernet_scores():
    """The truth is additive over the options; the supernet sees it through per-arch noise as
    large as the truth's spread. The ridge fitted to the supernet's scores alone ranks far closer
    to the truth than the raw scores, on every seed (a fixed draw: 200 archs of the macro space)."""
    from nasforge.core.ranking import rank_correlations
    from nasforge.oneshot.ranking import smoothed_scores
    from nasforge.space.registry import get_space

    space = get_space("macro")
    archs = space.sample_distinct(200, 0)
    effects = np.random.default_rng(0).normal(size=space.encoding_size)
    truth = np.array([space.encode(a) @ effects for a in archs])
    gains = []
    for seed in range(3):
        noisy = truth + np.random.default_rng(seed + 1).normal(scale=truth.std(), size=len(truth))
        ranked = [Ranked(a, float(s), float(t), 1.0) for a, s, t in zip(archs, noisy, truth, strict=True)]
        raw = rank_correlations(noisy, truth)[0]
        smooth = rank_correlations(smoothed_scores(ranked, space), truth)[0]
        assert 0.35 < raw < 0.65 and smooth > raw + 0.2, (seed, raw, smooth)
        rows = {r["predictor"]: r for r in correlations(ranked, smoothed_scores(ranked, space))}
        assert rows["supernet-ridge"]["kendall"] == pytest.approx(smooth)
        assert "supernet-ridge+flops" in rows
        gains.append(smooth - raw)
    assert min(gains) > 0.2


def test_pooling_keeps_the_interactions_that_smoothing_drops():
    """The truth is additive plus interactions between options (80 % of the additive spread); the
    supernet sees it through noise of 40 % of its spread. The additive smoothing loses the
    interactions, the raw scores keep the noise; halfway between them ranks above both on every
    seed (a fixed draw: 200 archs of the macro space)."""
    from nasforge.core.ranking import rank_correlations
    from nasforge.oneshot.ranking import pooled_scores, smoothed_scores
    from nasforge.space.registry import get_space

    space = get_space("macro")
    archs = space.sample_distinct(200, 0)
    x = np.stack([space.encode(a) for a in archs])
    additive = x @ np.random.default_rng(0).normal(size=space.encoding_size)
    for seed in range(3):
        rng = np.random.default_rng(seed + 1)
        pairs = np.einsum("ni,ij,nj->n", x, rng.normal(size=(x.shape[1], x.shape[1])), x)
        truth = additive + pairs / pairs.std() * additive.std() * 0.8
        noisy = truth + rng.normal(scale=truth.std() * 0.4, size=len(truth))
        ranked = [Ranked(a, float(s), float(t), 1.0) for a, s, t in zip(archs, noisy, truth, strict=True)]
        smoothed = smoothed_scores(ranked, space)
        raw, smooth, pooled = (rank_correlations(v, truth)[0] for v in (noisy, smoothed,
                                                                         pooled_scores(noisy, smoothed)))
        assert pooled > max(raw, smooth) + 0.02, (seed, raw, smooth, pooled)
        rows = {r["predictor"]: r for r in correlations(ranked, smoothed)}
        assert rows["supernet-ridge-pooled"]["kendall"] == pytest.approx(pooled)
    assert pooled_scores(np.array([1.0, 3.0]), np.array([3.0, 1.0]), 0.0).tolist() == [1.0, 3.0]
    assert pooled_scores(np.array([1.0, 3.0]), np.array([3.0, 1.0]), 1.0).tolist() == [3.0, 1.0]
    assert pooled_scores(np.array([1.0, 3.0]), np.array([3.0, 1.0])).tolist() == [2.0, 2.0]
    with pytest.raises(ValueError, match=r"pooling weight must be in \[0, 1\], got 1.5"):
        pooled_scores(np.zeros(2), np.zeros(2), 1.5)
    with pytest.raises(ValueError, match="3 smoothed scores for 2 raw ones"):
        pooled_scores(np.zeros(2), np.zeros(3))


def test_smoothing_rejects_what_it_cannot_fit():
    from nasforge.oneshot.base import OneShotSettings
    from nasforge.oneshot.ranking import smoothed_scores

    space = tiny_spaces()["macro"]
    with pytest.raises(ValueError, match="at least 2"):
        smoothed_scores([Ranked(space.sample_distinct(1, 0)[0], 0.5, 90.0, 1.0)], space)
    with pytest.raises(ValueError, match="rank_smoothing must be"):
        OneShotSettings(rank_smoothing="no-such-predictor")
    assert OneShotSettings(rank_smoothing="").rank_smoothing == ""
    ranked = [Ranked(a, 0.1 * i, float(i), 1.0) for i, a in enumerate(space.sample_distinct(4, 0))]
    with pytest.raises(ValueError, match="3 smoothed scores for 4"):
        correlations(ranked, np.zeros(3))


def test_the_loss_is_ranked_negated_and_smoothed_beside_the_accuracy():
    """An arch with a lower loss ranks higher; the study gets the loss rows only where every arch
    has a loss, and smoothing the loss refuses archs without one."""
    from nasforge.oneshot.ranking import smoothed_scores, study_correlations, supernet_scores

    space = tiny_spaces()["macro"]
    archs = space.sample_distinct(20, 0)
    # accuracy is wrong (reversed); the loss falls as the truth rises
    ranked = [Ranked(a, float(-t), float(t), 1.0, float(100 - t)) for a, t in zip(archs, TRUTH, strict=True)]
    assert supernet_scores(ranked, "loss").tolist() == [t - 100 for t in TRUTH]
    rows = {r["predictor"]: r for r in study_correlations(ranked, space) if r["target"] == "true_accuracy"}
    assert rows["supernet-loss"]["kendall"] == pytest.approx(1.0)
    assert rows["supernet"]["kendall"] == pytest.approx(-1.0)
    assert rows["supernet-loss-ridge"]["kendall"] > rows["supernet-ridge"]["kendall"]
    assert rows["supernet-loss-ridge-pooled"]["kendall"] > rows["supernet-ridge-pooled"]["kendall"]
    unsmoothed = {r["predictor"] for r in study_correlations(ranked, space, "")}
    assert "supernet-loss" in unsmoothed and not {"supernet-ridge", "supernet-loss-ridge"} & unsmoothed
    no_loss = [Ranked(r.arch, r.supernet_accuracy, r.true_accuracy, r.flops) for r in ranked]
    names = {r["predictor"] for r in study_correlations(no_loss, space)}
    assert "supernet-ridge" in names and not {"supernet-loss", "supernet-loss-ridge"} & names
    with pytest.raises(ValueError, match="some ranked archs have none"):
        smoothed_scores(no_loss, space, score="loss")
    with pytest.raises(ValueError, match="score must be one of"):
        supernet_scores(ranked, "perplexity")
