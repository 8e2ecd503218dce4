"""A small ensemble of MLP regressors in NumPy, the surrogate of the BANANAS-style strategy.

White et al. 2021 (BANANAS) predict an architecture's accuracy with an ensemble of
independently initialised feed-forward networks and read the spread of the members as the
uncertainty. Here every member is a ReLU MLP trained full-batch with Adam on standardised
targets. All members train together as one batched computation on one flat float32 parameter
vector, so a refit on a few hundred points takes a few tens of milliseconds and needs no torch
(strategies never import it).
"""

from __future__ import annotations

import numpy as np
from threadpoolctl import threadpool_limits  # a requirement of scikit-learn


class MLPEnsemble:
    """``members`` MLPs with ``hidden`` units per layer; :meth:`predict` returns all members.

    ``bootstrap``: each member weighs the points by a bootstrap resample's counts (bagging), which
    makes the members disagree more where data are thin.
    """

    def __init__(self, members: int = 5, hidden: tuple[int, ...] = (32, 32), epochs: int = 100,
                 lr: float = 0.02, weight_decay: float = 1e-4, bootstrap: bool = False) -> None:
        self.bootstrap = bootstrap
        self.members = members
        self.hidden = tuple(hidden)
        self.epochs = epochs
        self.lr = lr
        self.weight_decay = weight_decay

    def _layout(self, d: int) -> list[tuple[int, int]]:
        sizes = (d, *self.hidden, 1)
        return list(zip(sizes[:-1], sizes[1:], strict=True))

    def _views(self, flat: np.ndarray, d: int) -> list[np.ndarray]:
        """Weight and bias views ``(e, fan_in, fan_out)``, ``(e, 1, fan_out)`` into ``flat``."""
        e, views, at = self.members, [], 0
        for fan_in, fan_out in self._layout(d):
            for shape in ((e, fan_in, fan_out), (e, 1, fan_out)):
                size = int(np.prod(shape))
                views.append(flat[at:at + size].reshape(shape))
                at += size
        return views

    def fit(self, x: np.ndarray, y: np.ndarray, rng: np.random.Generator) -> MLPEnsemble:
        """Train on ``x`` (n, d) and ``y`` (n,) from a fresh initialisation drawn from ``rng``."""
        x = np.asarray(x, dtype=np.float32)
        y = np.asarray(y, dtype=np.float64)
        self._mu, self._sd = float(y.mean()), float(y.std()) or 1.0
        t = ((y - self._mu) / self._sd).astype(np.float32)[None, :, None]
        n, d = x.shape
        size = sum(self.members * (fi * fo + fo) for fi, fo in self._layout(d))
        theta = np.zeros(size, dtype=np.float32)
        decay = np.zeros(size, dtype=np.float32)
        params = self._views(theta, d)
        for i, p in enumerate(params):
            if i % 2 == 0:  # He initialisation of the weights; biases start at zero
                p[...] = rng.normal(0.0, np.sqrt(2.0 / p.shape[1]), size=p.shape)
        for i, p in enumerate(self._views(decay, d)):
            p[...] = self.weight_decay if i % 2 == 0 else 0.0
        weights = np.ones((self.members, n, 1), dtype=np.float32)
        if self.bootstrap:
            picks = rng.integers(n, size=(self.members, n))
            for member in range(self.members):
                weights[member, :, 0] = np.bincount(picks[member], minlength=n)
        grad = np.zeros_like(theta)
        grads = self._views(grad, d)
        m, v = np.zeros_like(theta), np.zeros_like(theta)
        b1, b2 = 0.9, 0.999
        with threadpool_limits(1):  # matrices this small only lose time to thread hand-offs
            for step in range(1, self.epochs + 1):
                self._backward(params, grads, x, t, weights)
                g = grad + decay * theta
                m = b1 * m + (1 - b1) * g
                v = b2 * v + (1 - b2) * g * g
                theta -= (self.lr / (1 - b1**step)) * m / (np.sqrt(v / (1 - b2**step)) + 1e-8)
        self._theta, self._d = theta, d
        return self

    @staticmethod
    def _forward(params: list[np.ndarray], x: np.ndarray) -> tuple[list[np.ndarray], np.ndarray]:
        acts, h = [x], x
        for i in range(0, len(params) - 2, 2):
            h = np.maximum(h @ params[i] + params[i + 1], 0.0)
            acts.append(h)
        return acts, h @ params[-2] + params[-1]

    def _backward(self, params: list[np.ndarray], grads: list[np.ndarray], x: np.ndarray, t: np.ndarray,
                  weights: np.ndarray) -> None:
        acts, out = self._forward(params, x)
        delta = (2.0 / x.shape[0]) * weights * (out - t)  # d(weighted mean squared error)/d(out)
        for layer in range(len(params) // 2 - 1, -1, -1):
            a = acts[layer]
            grads[2 * layer][...] = (a.T @ delta) if a.ndim == 2 else a.transpose(0, 2, 1) @ delta
            grads[2 * layer + 1][...] = delta.sum(axis=1, keepdims=True)
            if layer:
                delta = (delta @ params[2 * layer].transpose(0, 2, 1)) * (a > 0)

    def predict(self, x: np.ndarray) -> np.ndarray:
        """Predictions of every member, shape ``(members, n)``, in the targets' units."""
        _, out = self._forward(self._views(self._theta, self._d), np.asarray(x, dtype=np.float32))
        return out[..., 0].astype(np.float64) * self._sd + self._mu
