"""REINFORCE controller (Williams 1992; Zoph & Le 2017, "Neural Architecture Search with
Reinforcement Learning"), in the factorised form used as the RL baseline of NAS-Bench-201.

The policy is one softmax over the options of each decision (logits ``theta``); an
architecture is sampled decision by decision. Each told result moves the logits along
``lr * advantage * grad log p(arch)``, where the advantage is the score (first objective, see
:mod:`nasforge.strategy.scoring`) minus an exponential moving-average baseline (decay
``baseline_decay``), divided by a moving estimate of the scores' spread so one learning rate
fits accuracies in percent and losses alike. Failed results teach nothing.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from nasforge.space.arch import Arch
from nasforge.strategy.base import Metrics, Strategy, register_strategy
from nasforge.strategy.scoring import score


@register_strategy("reinforce")
class Reinforce(Strategy):
    """A factorised softmax policy trained by REINFORCE with a moving-average baseline."""

    def __init__(self, lr: float = 0.5, baseline_decay: float = 0.9, entropy: float = 0.0) -> None:
        self.lr = lr
        self.baseline_decay = baseline_decay
        self.entropy = entropy

    def setup(self, *args: Any, **kwargs: Any) -> None:
        if not 0.0 <= self.baseline_decay < 1.0:
            raise ValueError(f"reinforce: baseline_decay must be in [0, 1), got {self.baseline_decay}")
        super().setup(*args, **kwargs)
        self.theta = [np.zeros(len(c)) for c in self.space.choices]
        self._cdf = [np.cumsum(p) for p in self.probabilities()]
        self._baseline: float | None = None
        self._spread: float | None = None

    def probabilities(self) -> list[np.ndarray]:
        """The policy: one probability vector per decision."""
        out = []
        for t in self.theta:
            p = np.exp(t - t.max())
            out.append(p / p.sum())
        return out

    def _propose(self) -> Arch:
        draws = self.rng.random(len(self.theta))
        values = {c.name: c.options[min(int(np.searchsorted(cdf, u, side="right")), len(c) - 1)]
                  for c, cdf, u in zip(self.space.choices, self._cdf, draws, strict=True)}
        try:
            return self.space.arch(values)
        except ValueError:  # not a legal combination: a uniform sample instead
            return self.space.sample(self.rng)

    def _observe(self, arch: Arch, metrics: Metrics) -> None:
        reward = score(metrics, self.objectives, self.constraints)
        if reward is None:
            return
        if self._baseline is None:
            self._baseline, self._spread = reward, 0.0
            return
        advantage = reward - self._baseline
        d = self.baseline_decay
        self._spread = d * self._spread + (1 - d) * abs(advantage)  # type: ignore[operator]
        self._baseline = d * self._baseline + (1 - d) * reward
        if self._spread <= 0:
            return
        step = self.lr * advantage / self._spread
        for t, p, c in zip(self.theta, self.probabilities(), self.space.choices, strict=True):
            grad = -p
            grad[c.index(arch[c.name])] += 1.0
            entropy_grad = -p * (np.log(p) + 1.0)
            entropy_grad -= p * entropy_grad.sum()
            t += step * grad + self.lr * self.entropy * entropy_grad
        self._cdf = [np.cumsum(p) for p in self.probabilities()]
