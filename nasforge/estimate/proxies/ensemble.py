"""A learned combination of zero-cost proxies from a handful of labelled architectures.

In the spirit of RoBoT (He et al. 2024, "Robustifying and Boosting Training-Free Neural
Architecture Search", ICLR: a weighted sum of proxies whose weights are fitted on the few
architectures already evaluated) and ParZC (Dong et al. 2024: learned from pairwise ranks).

Proxies are first made comparable by ranks: each value becomes its percentile among a reference
pool (the proxies of a large random sample are cheap; failed values rank lowest). Then:

- ``method="rank"``: a linear score ``sum_j w_j r_j``; ``w`` is an L2-regularised logistic
  regression on pairs of labelled architectures (which of the two is more accurate), the
  pairwise-ranking objective of RankNet / RankSVM. Few parameters, so a dozen labels suffice.
- ``method="gbdt"``: a small gradient-boosted tree ensemble (scikit-learn) from rank features to
  the rank of the accuracy; more flexible, needs more labels.

Only NumPy and scikit-learn: no torch.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

METHODS = ("rank", "gbdt")


def percentile_ranks(values: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """Each column's values as mid-percentiles in the same column of ``reference`` (NaN -> 0)."""
    values = np.atleast_2d(np.asarray(values, dtype=float))
    reference = np.atleast_2d(np.asarray(reference, dtype=float))
    out = np.zeros_like(values)
    for j in range(values.shape[1]):
        ref = np.sort(reference[:, j][np.isfinite(reference[:, j])])
        col = values[:, j]
        ok = np.isfinite(col)
        if len(ref):
            low = np.searchsorted(ref, col[ok], side="left")
            high = np.searchsorted(ref, col[ok], side="right")
            out[ok, j] = (low + high) / (2.0 * len(ref))
    return out


class ProxyEnsemble:
    """Fit on ``(values, accuracy)`` of a few architectures; :meth:`predict` scores any others.

    ``values`` are ``(n, m)`` arrays of ``m`` proxies (NaN = the proxy failed); ``reference`` is
    the pool whose ranks define the percentiles (default: the training values).
    """

    def __init__(self, method: str = "rank", C: float = 1.0, seed: int = 0) -> None:
        self.method = method
        self.C = C
        self.seed = seed

    def fit(self, values: np.ndarray, target: Sequence[float],
            reference: np.ndarray | None = None) -> ProxyEnsemble:
        if self.method not in METHODS:
            raise ValueError(f"unknown ensemble method {self.method!r}; valid: {list(METHODS)}")
        x = np.asarray(values, dtype=float)
        y = np.asarray(target, dtype=float)
        if x.ndim != 2 or len(x) != len(y) or len(y) < 3:
            raise ValueError(f"need (n, m) values and n >= 3 targets, got {x.shape} and {y.shape}")
        self.reference_ = np.asarray(x if reference is None else reference, dtype=float)
        r = percentile_ranks(x, self.reference_)
        if self.method == "rank":
            self.weights_ = _pairwise_weights(r, y, self.C)
        else:
            from sklearn.ensemble import GradientBoostingRegressor

            target_rank = (np.argsort(np.argsort(y)) + 0.5) / len(y)
            self.model_ = GradientBoostingRegressor(n_estimators=100, max_depth=2, learning_rate=0.05,
                                                    subsample=0.8, random_state=self.seed)
            self.model_.fit(r, target_rank)
        return self

    def predict(self, values: np.ndarray) -> np.ndarray:
        r = percentile_ranks(np.asarray(values, dtype=float), self.reference_)
        return r @ self.weights_ if self.method == "rank" else self.model_.predict(r)


def _pairwise_weights(r: np.ndarray, y: np.ndarray, C: float) -> np.ndarray:
    """Weights of a linear ranker from all ordered pairs of distinct targets."""
    from sklearn.linear_model import LogisticRegression

    i, j = np.triu_indices(len(y), k=1)
    keep = y[i] != y[j]
    i, j = i[keep], j[keep]
    if not len(i):
        return np.full(r.shape[1], 1.0 / r.shape[1])
    diff = np.vstack([r[i] - r[j], r[j] - r[i]])
    label = np.concatenate([y[i] > y[j], y[j] > y[i]]).astype(int)
    model = LogisticRegression(C=C, fit_intercept=False, max_iter=1000)
    model.fit(diff, label)
    return model.coef_[0]


@dataclass(frozen=True)
class Comparison:
    """Held-out Spearman per repeat: the ensemble, the best single member in hindsight, and the
    member a user would pick from the labels alone."""

    ensemble: np.ndarray
    best_member: np.ndarray
    picked_member: np.ndarray
    best_names: list[str]

    @property
    def wins(self) -> float:
        """Share of repeats where the ensemble beats the best member in hindsight."""
        return float(np.mean(self.ensemble > self.best_member))


def compare(values: np.ndarray, truth: np.ndarray, names: Sequence[str], labels: int = 20,
            repeats: int = 20, seed: int = 0, method: str = "rank", C: float = 1.0) -> Comparison:
    """Fit on ``labels`` random architectures, score the rest, ``repeats`` times."""
    from nasforge.core.ranking import rank_correlations

    def spearman(x: np.ndarray, y: np.ndarray) -> float:
        return rank_correlations(x, y, undefined=float("nan"))[1]

    values = np.asarray(values, dtype=float)
    truth = np.asarray(truth, dtype=float)
    rng = np.random.default_rng(seed)
    floor = np.where(np.isfinite(values), values, np.nanmin(values, axis=0) - 1.0)
    ens, best, picked, best_names = [], [], [], []
    for _ in range(repeats):
        order = rng.permutation(len(truth))
        train, test = order[:labels], order[labels:]
        model = ProxyEnsemble(method, C, seed).fit(values[train], truth[train], reference=values)
        ens.append(spearman(model.predict(values[test]), truth[test]))
        held = [spearman(floor[test, j], truth[test]) for j in range(values.shape[1])]
        seen = [spearman(floor[train, j], truth[train]) for j in range(values.shape[1])]
        k = int(np.nanargmax(held))
        best.append(held[k])
        best_names.append(names[k])
        picked.append(held[int(np.nanargmax(seen))])
    return Comparison(np.array(ens), np.array(best), np.array(picked), best_names)
