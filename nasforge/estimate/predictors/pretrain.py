"""FBNetV3's predictor pretraining (Dai et al. 2021): learn an architecture representation from
free statistics of many unlabeled archs before any accuracy is measured.

:class:`StatsEncoder` is a small MLP trained to regress standardised free statistics (log params,
log FLOPs) from the features. Its hidden layers are then either the starting weights of the MLP
predictor (fine-tuned on the few measured accuracies, as in FBNetV3) or, for the scikit-learn
predictors, an extra learned embedding appended to their features.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn


def make_trunk(d_in: int, hidden: int, layers: int) -> nn.Sequential:
    """``layers`` x (Linear -> ReLU) of width ``hidden``."""
    mods: list[nn.Module] = []
    for i in range(layers):
        mods += [nn.Linear(d_in if i == 0 else hidden, hidden), nn.ReLU()]
    return nn.Sequential(*mods)


class StatsEncoder:
    """MLP trunk pretrained on free statistics; ``embed(x)`` gives its last hidden layer."""

    def __init__(self, hidden: int = 64, layers: int = 2, epochs: int = 60, batch_size: int = 128,
                 lr: float = 2e-3, seed: int = 0) -> None:
        self.hidden = hidden
        self.layers = layers
        self.epochs = epochs
        self.batch_size = batch_size
        self.lr = lr
        self.seed = seed
        self.trunk: nn.Sequential | None = None

    def fit(self, x: np.ndarray, stats: np.ndarray) -> StatsEncoder:
        """Train on ``x`` (features) -> standardised ``stats`` (e.g. log params, log FLOPs)."""
        gen = torch.Generator().manual_seed(self.seed)
        xt = torch.as_tensor(x, dtype=torch.float32)
        st = torch.as_tensor(stats, dtype=torch.float32)
        st = (st - st.mean(0)) / st.std(0).clamp_min(1e-8)
        with torch.random.fork_rng(devices=[]):  # seeded initialisation; the caller's generator stays put
            torch.manual_seed(self.seed)
            trunk = make_trunk(xt.shape[1], self.hidden, self.layers)
            head = nn.Linear(self.hidden, st.shape[1])
        opt = torch.optim.Adam([*trunk.parameters(), *head.parameters()], lr=self.lr)
        for _ in range(self.epochs):
            order = torch.randperm(len(xt), generator=gen)
            for start in range(0, len(xt), self.batch_size):
                idx = order[start:start + self.batch_size]
                loss = nn.functional.mse_loss(head(trunk(xt[idx])), st[idx])
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
        self.trunk = trunk.eval()
        return self

    @torch.no_grad()
    def embed(self, x: np.ndarray) -> np.ndarray:
        """The trunk's output for ``x`` (``(n, hidden)``)."""
        if self.trunk is None:
            raise RuntimeError("StatsEncoder: call fit() first")
        return self.trunk(torch.as_tensor(x, dtype=torch.float32)).numpy()
