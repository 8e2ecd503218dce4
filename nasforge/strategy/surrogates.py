"""A small ensemble of MLP regressors in NumPy, the surrogate of the BANANAS-style strategy.

White et al. 2021 (BANANAS) predict an architecture's accuracy with an ensemble of
independently initialised feed-forward networks and read the spread of the members as the
uncertainty. Here every member is a ReLU MLP trained full-batch with Adam on standardised
targets; all members train together as one batched computation, so a refit on a few hundred
points takes milliseconds and needs no torch (strategies never import it).
"""

from __future__ import annotations

import numpy as np


class MLPEnsemble:
    """``members`` MLPs with ``hidden`` units per layer; :meth:`predict` returns all members.

    ``bootstrap``: each member trains on a bootstrap resample of the data (more diversity).
    """

    def __init__(self, members: int = 5, hidden: tuple[int, ...] = (32, 32), epochs: int = 200,
                 lr: float = 0.01, weight_decay: float = 1e-4, bootstrap: bool = False) -> None:
        self.members = members
        self.hidden = tuple(hidden)
        self.epochs = epochs
        self.lr = lr
        self.weight_decay = weight_decay
        self.bootstrap = bootstrap

    def fit(self, x: np.ndarray, y: np.ndarray, rng: np.random.Generator) -> MLPEnsemble:
        """Train on ``x`` (n, d) and ``y`` (n,) from a fresh initialisation drawn from ``rng``."""
        x = np.asarray(x, dtype=np.float64)
        y = np.asarray(y, dtype=np.float64)
        self._mu, self._sd = float(y.mean()), float(y.std()) or 1.0
        target = (y - self._mu) / self._sd
        n, e = len(x), self.members
        if self.bootstrap:
            idx = rng.integers(n, size=(e, n))
        else:
            idx = np.broadcast_to(np.arange(n), (e, n))
        xs, ts = x[idx], target[idx][..., None]  # (e, n, d), (e, n, 1)
        sizes = (x.shape[1], *self.hidden, 1)
        params = []
        for fan_in, fan_out in zip(sizes[:-1], sizes[1:], strict=True):
            params.append(rng.normal(0.0, np.sqrt(2.0 / fan_in), size=(e, fan_in, fan_out)))
            params.append(np.zeros((e, 1, fan_out)))
        m = [np.zeros_like(p) for p in params]
        v = [np.zeros_like(p) for p in params]
        b1, b2 = 0.9, 0.999
        for step in range(1, self.epochs + 1):
            grads = self._grads(params, xs, ts)
            for i, (p, g) in enumerate(zip(params, grads, strict=True)):
                if i % 2 == 0:
                    g = g + self.weight_decay * p
                m[i] = b1 * m[i] + (1 - b1) * g
                v[i] = b2 * v[i] + (1 - b2) * g * g
                p -= self.lr * (m[i] / (1 - b1**step)) / (np.sqrt(v[i] / (1 - b2**step)) + 1e-8)
        self._params = params
        return self

    @staticmethod
    def _forward(params: list[np.ndarray], x: np.ndarray) -> tuple[list[np.ndarray], np.ndarray]:
        acts = [x]
        h = x
        for i in range(0, len(params) - 2, 2):
            h = np.maximum(h @ params[i] + params[i + 1], 0.0)
            acts.append(h)
        return acts, h @ params[-2] + params[-1]

    def _grads(self, params: list[np.ndarray], x: np.ndarray, t: np.ndarray) -> list[np.ndarray]:
        acts, out = self._forward(params, x)
        delta = 2.0 * (out - t) / x.shape[1]  # d(mean squared error)/d(out), per member
        grads: list[np.ndarray] = [np.empty(0)] * len(params)
        for layer in range(len(params) // 2 - 1, -1, -1):
            a = acts[layer]
            grads[2 * layer] = a.transpose(0, 2, 1) @ delta
            grads[2 * layer + 1] = delta.sum(axis=1, keepdims=True)
            if layer:
                delta = (delta @ params[2 * layer].transpose(0, 2, 1)) * (a > 0)
        return grads

    def predict(self, x: np.ndarray) -> np.ndarray:
        """Predictions of every member, shape ``(members, n)``, in the targets' units."""
        x = np.asarray(x, dtype=np.float64)
        _, out = self._forward(self._params, np.broadcast_to(x, (self.members, *x.shape)))
        return out[..., 0] * self._sd + self._mu
