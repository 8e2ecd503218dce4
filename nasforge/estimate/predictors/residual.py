"""Residual predictors: a prior from one free statistic, corrected by a learned model.

Free statistics alone rank tabular benchmarks better than any model fitted on 10-50 labels
(White et al. 2021; Ning et al. 2021, "Evaluating Efficient Performance Estimators of Neural
Architectures"). A residual predictor keeps that ranking as its starting point and lets labels
correct it: targets (as normal scores, see
:class:`~nasforge.estimate.predictors.base.NormalScores`) are regressed by least squares on a
*prior*, a linear function of one statistic column (default: log live FLOPs, the FLOPs of the
operations that reach the output, see :mod:`.stats`), and the base model (``gp``, ``gbdt``,
``rf``, ``mlp``, ``ridge``) is fitted to what the prior leaves unexplained, on all the features.
The prediction is ``prior + residual``: with two labels it is the free-statistic ranking; with
more, the learned correction grows. For ``resid_gp`` the prior is the GP's mean function and
its kernel is learnt on the labels themselves (marginal likelihood), then kept fixed for the
residual: a residual's marginal likelihood alone favours short length scales that only
interpolate. This is FBNetV3's pretraining on free statistics (Dai et al. 2021) in a form a
small label budget cannot undo: the statistics' knowledge is the prior mean, not starting
weights that fine-tuning may forget. ``pretrained=True`` also runs the base model's own
pretraining (:mod:`.pretrain`) on the unlabelled pool.

The features must end with a Featurizer's free statistics (``needs_stats``).
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

from nasforge.estimate.predictors.base import Predictor, get_predictor, register_predictor

N_STATS = 4  # the free-statistic columns a Featurizer with statistics appends


class Residual(Predictor):
    """Base class: subclasses name their ``base`` predictor and pass its settings."""

    base: ClassVar[str]

    needs_stats = True

    prior_column: int
    seed: int

    def _base_settings(self) -> dict[str, Any]:
        skip = {"prior_column"}
        return {k: v for k, v in self.get_params().items() if k not in skip}

    def _new_base(self) -> Predictor:
        return get_predictor(self.base, **self._base_settings())

    # ------------------------------------------------------------------- pretraining
    def _pretrain(self, x_pool: np.ndarray, stats_pool: np.ndarray) -> None:
        self._base = self._new_base().pretrain(x_pool, stats_pool)

    # ------------------------------------------------------------------------ fitting
    def _check_column(self, x: np.ndarray) -> None:
        if not -N_STATS <= self.prior_column < 0 or x.shape[1] <= N_STATS:
            raise ValueError(f"{type(self).__name__}: prior_column must be one of the last {N_STATS} feature "
                             f"columns (the free statistics: -4 live params, -3 live FLOPs, -2 params, -1 FLOPs), "
                             f"got {self.prior_column} with {x.shape[1]} feature columns; give features with free "
                             "statistics (Featurizer(space, stats))")

    @staticmethod
    def _prior_fit(s: np.ndarray, y: np.ndarray) -> tuple[float, float]:
        """``(slope, intercept)`` of the least-squares prior ``slope * s + intercept``; labels that
        share one value of the statistic keep its order as a tie-breaker (slope ``+1e-6``)."""
        centred = s - s.mean()
        spread = float(centred @ centred)
        slope = float(centred @ (y - y.mean()) / spread) if spread > 1e-12 else 1e-6
        return slope, float(y.mean() - slope * s.mean())

    def _fit(self, x: np.ndarray, y: np.ndarray) -> None:
        self._check_column(x)
        s = x[:, self.prior_column].astype(np.float64)
        self._w, self._b = self._prior_fit(s, y)
        residual = y - (self._w * s + self._b)
        template = getattr(self, "_base", None) if self.pretrained else None
        model = _clone(template) if template is not None else self._new_base()
        self._model = self._fit_residual(model, x, y, residual) if np.ptp(residual) > 0 else None

    def _fit_residual(self, model: Predictor, x: np.ndarray, y: np.ndarray, residual: np.ndarray) -> Predictor:
        """``model`` fitted to ``residual`` (on its own scale: no second rank transform)."""
        model._fit(x, residual)
        return model

    def _prior(self, x: np.ndarray) -> np.ndarray:
        return self._w * x[:, self.prior_column].astype(np.float64) + self._b

    def _predict(self, x: np.ndarray) -> np.ndarray:
        out = self._prior(x)
        if self._model is not None:
            out = out + self._model._predict(x)
        return out

    def _predict_dist(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        if self._model is None:
            return self._prior(x), np.zeros(len(x))
        mean, spread = self._model._predict_dist(x)
        return self._prior(x) + mean, spread


def _clone(p: Predictor) -> Predictor:
    import copy

    return copy.deepcopy(p)


@register_predictor("resid_gp")
class ResidualGP(Residual):
    """A GP whose mean function is the free-statistic prior and whose kernel is learnt on the
    labels: the posterior falls back to the free-statistic ranking away from the labels."""

    base = "gp"
    gives_uncertainty = True

    def _fit_residual(self, model: Predictor, x: np.ndarray, y: np.ndarray, residual: np.ndarray) -> Predictor:
        """The kernel learnt on ``y``, then the GP refitted to the residual with it fixed."""
        from sklearn.gaussian_process import GaussianProcessRegressor

        model._fit(x, y)
        est = model._est  # type: ignore[attr-defined]
        model._est = GaussianProcessRegressor(est.kernel_, optimizer=None).fit(  # type: ignore[attr-defined]
            model._features(x), residual)  # type: ignore[attr-defined]
        return model

    def __init__(self, restarts: int = 1, prior_column: int = -3,
                 pretrained: bool = False, seed: int = 0) -> None:
        self.restarts = restarts
        self.prior_column = prior_column
        self.pretrained = pretrained
        self.seed = seed


@register_predictor("resid_gbdt")
class ResidualGBDT(Residual):
    """Gradient-boosted trees on the residual of the free-statistic prior."""

    base = "gbdt"

    def __init__(self, n_estimators: int = 100, max_depth: int = 3, learning_rate: float = 0.05,
                 subsample: float = 0.8, prior_column: int = -3,
                 pretrained: bool = False, seed: int = 0) -> None:
        self.n_estimators = n_estimators
        self.max_depth = max_depth
        self.learning_rate = learning_rate
        self.subsample = subsample
        self.prior_column = prior_column
        self.pretrained = pretrained
        self.seed = seed


@register_predictor("resid_rf")
class ResidualRF(Residual):
    """A random forest on the residual of the free-statistic prior."""

    base = "rf"
    gives_uncertainty = True

    def __init__(self, n_estimators: int = 100, max_features: float = 0.5, prior_column: int = -3,
                 pretrained: bool = False, seed: int = 0) -> None:
        self.n_estimators = n_estimators
        self.max_features = max_features
        self.prior_column = prior_column
        self.pretrained = pretrained
        self.seed = seed


@register_predictor("resid_mlp")
class ResidualMLP(Residual):
    """An MLP ensemble on the residual of the free-statistic prior; with
    ``pretrained=True`` its trunk also starts from the statistics encoder (FBNetV3)."""

    base = "mlp"
    gives_uncertainty = True

    def __init__(self, members: int = 3, hidden: int = 64, layers: int = 2, epochs: int = 200,
                 lr: float = 1e-3, weight_decay: float = 1e-4, prior_column: int = -3,
                 pretrained: bool = False, pretrain_epochs: int = 60, seed: int = 0) -> None:
        self.members = members
        self.hidden = hidden
        self.layers = layers
        self.epochs = epochs
        self.lr = lr
        self.weight_decay = weight_decay
        self.prior_column = prior_column
        self.pretrained = pretrained
        self.pretrain_epochs = pretrain_epochs
        self.seed = seed


@register_predictor("resid_ridge")
class ResidualRidge(Residual):
    """Bayesian ridge on the residual of the free-statistic prior: additive per-option
    corrections, shrunk by their evidence."""

    base = "ridge"
    gives_uncertainty = True

    def __init__(self, prior_column: int = -3, pretrained: bool = False,
                 seed: int = 0) -> None:
        self.prior_column = prior_column
        self.pretrained = pretrained
        self.seed = seed
