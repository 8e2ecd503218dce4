"""The learned proxy ensemble beats its best member on a fixed small sample."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import spearmanr

from nasforge.estimate.proxies.ensemble import ProxyEnsemble, compare, percentile_ranks


def sample(n: int = 300, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Accuracy and three proxies that each see it through independent, differently scaled noise
    (one monotone-transformed, one with failures)."""
    rng = np.random.default_rng(seed)
    acc = rng.normal(size=n)
    p1 = np.exp(acc + rng.normal(scale=0.8, size=n))
    p2 = 5 * (acc + rng.normal(scale=0.9, size=n))
    p3 = acc + rng.normal(scale=1.0, size=n)
    p3[rng.random(n) < 0.05] = np.nan
    noise = rng.normal(size=n)  # an uninformative proxy
    return np.column_stack([p1, p2, p3, noise]), acc


def test_percentile_ranks_are_monotone_and_put_failures_last():
    ref = np.array([[1.0], [2.0], [3.0], [4.0]])
    r = percentile_ranks(np.array([[0.5], [2.0], [10.0], [np.nan]]), ref)
    assert r[:, 0].tolist() == [0.0, 0.375, 1.0, 0.0]


@pytest.mark.parametrize("method", ["rank", "gbdt"])
def test_fit_predict_shapes(method):
    values, acc = sample(60)
    model = ProxyEnsemble(method).fit(values[:40], acc[:40], reference=values)
    assert model.predict(values[40:]).shape == (20,)


def test_ensemble_beats_best_single_member_with_few_labels():
    values, acc = sample()
    result = compare(values, acc, ["p1", "p2", "p3", "noise"], labels=15, repeats=10, seed=0)
    assert result.ensemble.mean() > result.best_member.mean() + 0.03
    assert result.wins >= 0.8
    model = ProxyEnsemble().fit(values[:15], acc[:15], reference=values)
    held = spearmanr(model.predict(values[15:]), acc[15:]).statistic
    best = max(spearmanr(np.nan_to_num(values[15:, j], nan=-1e9), acc[15:]).statistic for j in range(4))
    assert held > best
    assert abs(model.weights_[3]) < min(abs(model.weights_[:3]))  # the noise proxy counts least


def test_bad_input_is_named():
    with pytest.raises(ValueError, match="method"):
        ProxyEnsemble("mean").fit(np.zeros((5, 2)), np.arange(5))
    with pytest.raises(ValueError, match="n >= 3"):
        ProxyEnsemble().fit(np.zeros((2, 2)), np.arange(2))
