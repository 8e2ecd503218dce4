"""``mlp``: an ensemble of small MLPs (White et al. 2021 find MLP ensembles among the strongest
model-based predictors), optionally starting from FBNetV3's pretrained trunk (Dai et al. 2021)."""

from __future__ import annotations

import copy

import numpy as np
import torch
from torch import nn

from nasforge.estimate.predictors.base import Predictor, register_predictor
from nasforge.estimate.predictors.pretrain import StatsEncoder, make_trunk


@register_predictor("mlp")
class MLPEnsemble(Predictor):
    """``members`` MLPs (``layers`` x ``hidden`` ReLU) trained with AdamW on standardised targets;
    the prediction is their mean. With ``pretrained=True`` every member's trunk starts from one
    :class:`StatsEncoder` fitted by :meth:`pretrain` and is fine-tuned with all weights."""

    gives_uncertainty = True

    def __init__(self, members: int = 3, hidden: int = 64, layers: int = 2, epochs: int = 300,
                 lr: float = 1e-3, weight_decay: float = 1e-4, pretrained: bool = False,
                 pretrain_epochs: int = 60, seed: int = 0) -> None:
        self.members = members
        self.hidden = hidden
        self.layers = layers
        self.epochs = epochs
        self.lr = lr
        self.weight_decay = weight_decay
        self.pretrained = pretrained
        self.pretrain_epochs = pretrain_epochs
        self.seed = seed

    def _pretrain(self, x_pool: np.ndarray, stats_pool: np.ndarray) -> None:
        self._encoder = StatsEncoder(self.hidden, self.layers, self.pretrain_epochs, seed=self.seed).fit(
            x_pool, stats_pool)

    def _fit(self, x: np.ndarray, y: np.ndarray) -> None:
        xt = torch.as_tensor(x)
        yt = torch.as_tensor(y, dtype=torch.float32)[:, None]
        encoder = getattr(self, "_encoder", None) if self.pretrained else None
        self._nets = []
        with torch.random.fork_rng(devices=[]):  # seeded, and the caller's generator stays put
            for m in range(self.members):
                torch.manual_seed(self.seed * 1000 + m)
                trunk = copy.deepcopy(encoder.trunk) if encoder is not None else make_trunk(
                    x.shape[1], self.hidden, self.layers)
                net = nn.Sequential(trunk, nn.Linear(self.hidden, 1)).train()
                opt = torch.optim.AdamW(net.parameters(), lr=self.lr, weight_decay=self.weight_decay)
                for _ in range(self.epochs):  # full batch: training sets here are tiny
                    loss = nn.functional.mse_loss(net(xt), yt)
                    opt.zero_grad(set_to_none=True)
                    loss.backward()
                    opt.step()
                self._nets.append(net.eval())

    @torch.no_grad()
    def _members(self, x: np.ndarray) -> np.ndarray:
        xt = torch.as_tensor(x)
        return torch.stack([net(xt)[:, 0] for net in self._nets]).numpy().astype(np.float64)

    def _predict(self, x: np.ndarray) -> np.ndarray:
        return self._members(x).mean(0)

    def _predict_dist(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        members = self._members(x)
        return members.mean(0), members.std(0)
