"""The predictor contract and registry.

Lifecycle: ``p = get_predictor("gbdt", pretrained=True, seed=0)`` stores settings only;
``p.pretrain(X_pool, S_pool)`` (optional) learns from free statistics ``S`` (no accuracies) of
unlabeled archs; ``p.fit(X, y)`` learns from measured archs; ``p.predict(X)`` scores new ones
(higher = predicted better, in the units of ``y``). ``X`` rows come from
:class:`~nasforge.estimate.predictors.features.Featurizer`. A predictor built with
``pretrained=False`` ignores ``pretrain()``, so one driver runs both variants.
"""

from __future__ import annotations

import inspect
from typing import Any

import numpy as np

from nasforge.core.registry import Registry


class Predictor:
    """Base class; subclasses implement :meth:`_fit` and :meth:`_predict`."""

    pretrained: bool = False
    #: whether :meth:`predict_dist` gives a spread (ensembles, GPs); others raise there
    gives_uncertainty: bool = False
    #: whether it reads free-statistic columns, so needs a Featurizer with statistics
    needs_stats: bool = False

    def get_params(self) -> dict[str, Any]:
        names = [p for p in inspect.signature(type(self).__init__).parameters if p != "self"]
        return {name: getattr(self, name) for name in names}

    def pretrain(self, x_pool: np.ndarray, stats_pool: np.ndarray) -> Predictor:
        """Learn from free statistics of unlabeled archs (no-op unless ``pretrained=True``)."""
        if self.pretrained:
            self._pretrain(np.asarray(x_pool, dtype=np.float32), np.asarray(stats_pool, dtype=np.float32))
        return self

    def fit(self, x: np.ndarray, y: np.ndarray) -> Predictor:
        """Fit on features ``x`` and targets ``y``; targets are learnt as normal scores."""
        x, y = np.asarray(x, dtype=np.float32), np.asarray(y, dtype=np.float64)
        if len(x) != len(y) or len(x) < 2:
            raise ValueError(f"fit needs >= 2 rows with one target each; got {len(x)} rows, {len(y)} targets")
        self._target = NormalScores(y)
        self._fit(x, self._target.forward(y))
        return self

    def predict(self, x: np.ndarray) -> np.ndarray:
        """Predicted targets (a strictly increasing map of the model's normal-score output)."""
        if not hasattr(self, "_target"):
            raise RuntimeError(f"{type(self).__name__}: call fit() before predict()")
        return self._target.inverse(self._predict(np.asarray(x, dtype=np.float32)))

    def predict_dist(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``(mean, spread)`` per row in the units of ``y``: the model's mean and standard
        deviation (ensemble spread or posterior), mapped through the target transform (the spread
        as half the distance between the images of mean +- one deviation)."""
        if not hasattr(self, "_target"):
            raise RuntimeError(f"{type(self).__name__}: call fit() before predict_dist()")
        if not self.gives_uncertainty:
            raise NotImplementedError(f"{type(self).__name__} gives no uncertainty; use one of the predictors "
                                      "with gives_uncertainty (gp, rf, mlp, resid_gp, resid_rf, resid_mlp)")
        mean, spread = self._predict_dist(np.asarray(x, dtype=np.float32))
        inv = self._target.inverse
        return inv(mean), (inv(mean + spread) - inv(mean - spread)) / 2

    # ----------------------------------------------------------- implementations
    def _pretrain(self, x_pool: np.ndarray, stats_pool: np.ndarray) -> None:
        raise NotImplementedError(f"{type(self).__name__} has no pretraining")

    def _fit(self, x: np.ndarray, y: np.ndarray) -> None:
        raise NotImplementedError

    def _predict(self, x: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def _predict_dist(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``(mean, standard deviation)`` in the fitted (normal-score) units."""
        raise NotImplementedError


class NormalScores:
    """Rank-based target transform: ``y`` -> standard-normal quantiles of its ranks.

    Accuracy tables have heavy low tails (diverged or degenerate nets near chance); learning
    normal scores keeps a few outliers from dominating a squared loss on a dozen points. The
    inverse interpolates between the training pairs and extends linearly beyond them, so it is
    strictly increasing and predictions keep their order.
    """

    def __init__(self, y: np.ndarray) -> None:
        from scipy.stats import norm, rankdata

        self._y = np.sort(y)
        self._z = np.sort(norm.ppf((rankdata(y) - 0.5) / len(y)))
        spread = np.ptp(self._y) or 1.0
        self._slope = spread / (np.ptp(self._z) or 1.0)

    def forward(self, y: np.ndarray) -> np.ndarray:
        return np.interp(y, self._y, self._z)

    def inverse(self, z: np.ndarray) -> np.ndarray:
        z = np.asarray(z, dtype=np.float64)
        inside = np.interp(z, self._z, self._y)
        low, high = z < self._z[0], z > self._z[-1]
        inside[low] = self._y[0] + (z[low] - self._z[0]) * self._slope
        inside[high] = self._y[-1] + (z[high] - self._z[-1]) * self._slope
        return inside + 1e-9 * self._slope * z  # ties inside flat stretches keep their order


PREDICTORS: Registry[type[Predictor]] = Registry(
    "predictor",
    modules=("nasforge.estimate.predictors.sklearn_models", "nasforge.estimate.predictors.mlp",
             "nasforge.estimate.predictors.baselines",
             "nasforge.estimate.predictors.residual"),
)
register_predictor = PREDICTORS.register


def get_predictor(name: str, **settings: Any) -> Predictor:
    """A new predictor ``name``; unknown settings are named in the error."""
    return PREDICTORS.create(name, **settings)  # type: ignore[return-value]


def rank_correlations(truth: np.ndarray, predicted: np.ndarray) -> tuple[float, float]:
    """``(kendall tau, spearman rho)`` between true and predicted scores (0 for a constant)."""
    from nasforge.core.ranking import rank_correlations as correlate

    return correlate(predicted, truth)
