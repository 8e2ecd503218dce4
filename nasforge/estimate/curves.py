"""Learning-curve early stopping (Domhan et al. 2015, "Speeding up Automatic Hyperparameter
Optimization of Deep Neural Networks by Extrapolation of Learning Curves").

After each epoch the training evaluator hands the validation accuracies so far to a
:class:`CurveStopper`. It fits a few parametric curve families by least squares (scipy), weighs
them by their fit, extrapolates to the last epoch, and stops the trial when the probability that
the final accuracy beats the incumbent is below ``probability``. Domhan et al. sample an
11-model ensemble by MCMC; this is the cheap parametric baseline: a residual-based normal
predictive distribution around the fit-weighted mean.

Caveat: a schedule that anneals the learning rate (the trainer's one-cycle) makes the last
epochs climb faster than any early fit predicts, so the extrapolation is pessimistic; keep
``min_fraction`` well above zero and ``probability`` small.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np


def _pow3(t: np.ndarray, c: float, a: float, alpha: float) -> np.ndarray:
    return c - a * np.power(t, -alpha)


def _log_power(t: np.ndarray, a: float, b: float, c: float) -> np.ndarray:
    return a / (1.0 + np.power(t / math.exp(b), -c))


def _exp3(t: np.ndarray, c: float, a: float, b: float) -> np.ndarray:
    return c - np.exp(-a * t + b)


#: name -> (function, initial guess, lower bounds, upper bounds); accuracies are fractions.
CURVES: dict[str, tuple[Callable[..., np.ndarray], tuple[float, ...], tuple[float, ...], tuple[float, ...]]] = {
    "pow3": (_pow3, (0.9, 0.5, 0.5), (0.0, -2.0, 0.0), (1.0, 2.0, 5.0)),
    "log_power": (_log_power, (0.9, 0.0, 1.0), (0.0, -10.0, 0.0), (1.0, 10.0, 10.0)),
    "exp3": (_exp3, (0.9, 0.5, 0.0), (0.0, 0.0, -10.0), (1.0, 5.0, 5.0)),
}


def extrapolate(curve: Sequence[float], total_epochs: int) -> tuple[float, float]:
    """Predicted accuracy at ``total_epochs`` (mean, standard deviation) from ``curve``
    (accuracy after epochs 1..n, fractions in [0, 1])."""
    from scipy.optimize import curve_fit

    y = np.asarray(curve, dtype=float)
    t = np.arange(1, len(y) + 1, dtype=float)
    preds, weights, resid = [], [], []
    for fn, p0, low, high in CURVES.values():
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                params, _ = curve_fit(fn, t, y, p0=p0, bounds=(low, high), maxfev=2000)
        except (RuntimeError, ValueError):
            continue
        err = float(np.mean((fn(t, *params) - y) ** 2))
        pred = float(fn(np.array([float(total_epochs)]), *params)[0])
        if math.isfinite(pred) and math.isfinite(err):
            preds.append(min(max(pred, 0.0), 1.0))
            weights.append(1.0 / (err + 1e-6))
            resid.append(err)
    if not preds:
        return float(y[-1]), 1.0
    w = np.asarray(weights) / sum(weights)
    mean = float(np.dot(w, preds))
    spread = float(np.sqrt(np.dot(w, (np.asarray(preds) - mean) ** 2)))
    noise = float(np.sqrt(np.dot(w, resid)))
    return mean, math.sqrt(spread**2 + noise**2 + 0.01**2)


@dataclass(frozen=True)
class CurveStopper:
    """Stop when ``P(final accuracy > incumbent) < probability``, after ``min_fraction`` of the
    epochs (and at least ``min_epochs``). Without an incumbent nothing is stopped."""

    probability: float = 0.05
    min_fraction: float = 0.3
    min_epochs: int = 3

    def __post_init__(self) -> None:
        if not 0 < self.probability < 1 or not 0 <= self.min_fraction < 1 or self.min_epochs < 2:
            raise ValueError("CurveStopper: need 0 < probability < 1, 0 <= min_fraction < 1, min_epochs >= 2")

    def chance(self, curve: Sequence[float], total_epochs: int, incumbent: float) -> float:
        """Probability that the curve ends above ``incumbent``."""
        mean, std = extrapolate(curve, total_epochs)
        return 0.5 * math.erfc((incumbent - mean) / (std * math.sqrt(2)))

    def should_stop(self, curve: Sequence[float], total_epochs: int, incumbent: float | None) -> bool:
        """Whether to stop a trial whose accuracies after each epoch so far are ``curve``."""
        n = len(curve)
        if incumbent is None or n >= total_epochs or n < max(self.min_epochs, self.min_fraction * total_epochs):
            return False
        return self.chance(curve, total_epochs, incumbent) < self.probability
