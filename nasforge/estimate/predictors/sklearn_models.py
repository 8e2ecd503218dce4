"""scikit-learn predictors: ``gbdt``, ``rf`` and ``gp`` (White et al. 2021 report tree ensembles
strong from a few dozen training archs, GPs strong at the smallest sizes).

With ``pretrained=True`` their features gain the embedding of a :class:`StatsEncoder` pretrained
on free statistics of unlabeled archs (FBNetV3's pretraining, Dai et al. 2021, carried over to
models that cannot be warm-started): trees and kernels then see a representation shaped by
params and FLOPs of thousands of archs rather than by a few dozen labels.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from nasforge.estimate.predictors.base import Predictor, register_predictor


class _SklearnPredictor(Predictor):
    def _model(self) -> Any:
        raise NotImplementedError

    def _pretrain(self, x_pool: np.ndarray, stats_pool: np.ndarray) -> None:
        from nasforge.estimate.predictors.pretrain import StatsEncoder

        self._encoder = StatsEncoder(hidden=16, seed=getattr(self, "seed", 0)).fit(x_pool, stats_pool)
        emb = self._encoder.embed(x_pool)
        self._emb_loc, self._emb_scale = emb.mean(0), np.where(emb.std(0) > 0, emb.std(0), 1.0)

    def _features(self, x: np.ndarray) -> np.ndarray:
        if not self.pretrained or not hasattr(self, "_encoder"):
            return x
        return np.hstack([x, (self._encoder.embed(x) - self._emb_loc) / self._emb_scale])

    def _fit(self, x: np.ndarray, y: np.ndarray) -> None:
        self._est = self._model().fit(self._features(x), y)

    def _predict(self, x: np.ndarray) -> np.ndarray:
        return np.asarray(self._est.predict(self._features(x)), dtype=np.float64)


@register_predictor("gbdt")
class GBDT(_SklearnPredictor):
    """Gradient-boosted trees (``sklearn.ensemble.GradientBoostingRegressor``)."""

    def __init__(self, n_estimators: int = 200, max_depth: int = 3, learning_rate: float = 0.05,
                 subsample: float = 0.8, pretrained: bool = False, seed: int = 0) -> None:
        self.n_estimators = n_estimators
        self.max_depth = max_depth
        self.learning_rate = learning_rate
        self.subsample = subsample
        self.pretrained = pretrained
        self.seed = seed

    def _model(self) -> Any:
        from sklearn.ensemble import GradientBoostingRegressor

        return GradientBoostingRegressor(n_estimators=self.n_estimators, max_depth=self.max_depth,
                                         learning_rate=self.learning_rate, subsample=self.subsample,
                                         min_samples_leaf=2, random_state=self.seed)


@register_predictor("rf")
class RandomForest(_SklearnPredictor):
    """Random forest (``sklearn.ensemble.RandomForestRegressor``)."""

    def __init__(self, n_estimators: int = 200, max_features: float = 0.5, pretrained: bool = False,
                 seed: int = 0) -> None:
        self.n_estimators = n_estimators
        self.max_features = max_features
        self.pretrained = pretrained
        self.seed = seed

    gives_uncertainty = True

    def _predict_dist(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        features = self._features(x)
        trees = np.stack([tree.predict(features) for tree in self._est.estimators_])
        return trees.mean(0), trees.std(0)

    def _model(self) -> Any:
        from sklearn.ensemble import RandomForestRegressor

        return RandomForestRegressor(n_estimators=self.n_estimators, max_features=self.max_features,
                                     random_state=self.seed, n_jobs=1)


@register_predictor("gp")
class GaussianProcess(_SklearnPredictor):
    """Gaussian process with a Matern-5/2 kernel plus white noise, hyper-parameters by marginal
    likelihood (``sklearn.gaussian_process.GaussianProcessRegressor``)."""

    def __init__(self, restarts: int = 1, pretrained: bool = False, seed: int = 0) -> None:
        self.restarts = restarts
        self.pretrained = pretrained
        self.seed = seed

    gives_uncertainty = True

    def _predict_dist(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        mean, std = self._est.predict(self._features(x), return_std=True)
        return np.asarray(mean, dtype=np.float64), np.asarray(std, dtype=np.float64)

    def _model(self) -> Any:
        from sklearn.gaussian_process import GaussianProcessRegressor
        from sklearn.gaussian_process.kernels import ConstantKernel, Matern, WhiteKernel

        kernel = ConstantKernel(1.0, (1e-2, 1e2)) * Matern(3.0, (1e-1, 1e3), nu=2.5) + WhiteKernel(
            0.1, (1e-5, 1e1))
        return GaussianProcessRegressor(kernel, n_restarts_optimizer=self.restarts, random_state=self.seed)

    def _fit(self, x: np.ndarray, y: np.ndarray) -> None:
        import warnings

        from sklearn.exceptions import ConvergenceWarning

        with warnings.catch_warnings():  # a bound reached on a dozen points is expected, not news
            warnings.simplefilter("ignore", ConvergenceWarning)
            super()._fit(x, y)


@register_predictor("ridge")
class BayesRidge(_SklearnPredictor):
    """Bayesian linear regression, its prior precision and noise by evidence maximisation
    (``sklearn.linear_model.BayesianRidge``): one additive effect per option, the least variance
    of the learned models at a dozen labels; its posterior gives the spread."""

    gives_uncertainty = True

    def __init__(self, pretrained: bool = False, seed: int = 0) -> None:
        self.pretrained = pretrained
        self.seed = seed

    def _model(self) -> Any:
        from sklearn.linear_model import BayesianRidge

        return BayesianRidge()

    def _predict_dist(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        mean, std = self._est.predict(self._features(x), return_std=True)
        return np.asarray(mean, dtype=np.float64), np.asarray(std, dtype=np.float64)
