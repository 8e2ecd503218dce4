"""Accuracy-predictor transfer from float to quantized networks (APQ, Wang et al. 2020, "APQ:
Joint Search for Network Architecture, Pruning and Quantization Policy").

Training a quantized candidate costs a float training plus a quantization-aware fine-tune, so
quantized labels are scarce while float labels are cheap. :class:`TransferMLP` first fits an
MLP ensemble on the *source* domain (float architectures, :meth:`TransferMLP.fit_source`), then
:meth:`~nasforge.estimate.predictors.base.Predictor.fit` fine-tunes every member on the few
quantized samples (fewer epochs, a smaller learning rate). Without source data ``fit`` trains
from scratch, which is the quantized-only baseline at the same number of quantized trainings.

Both domains share one encoding: the ``quant`` space's (:mod:`nasforge.space.quant`), a float
network being the point whose groups are all ``w32a32k1.0``
(:func:`float_point`). Targets are normal scores per domain (see ``NormalScores``), so the
lower accuracy level of quantized networks does not have to be learned from the few samples.
"""

from __future__ import annotations

import copy
from typing import Any

import numpy as np
import torch
from torch import nn

from nasforge.estimate.predictors.base import NormalScores, Predictor
from nasforge.estimate.predictors.pretrain import make_trunk


class TransferMLP(Predictor):
    """An ensemble of ``members`` MLPs (``layers`` x ``hidden``), trained on the source domain
    for ``epochs`` (``lr``) and fine-tuned on the target for ``finetune_epochs`` (``finetune_lr``);
    with no source, trained on the target for ``epochs`` at ``lr``."""

    gives_uncertainty = True

    def __init__(self, members: int = 3, hidden: int = 64, layers: int = 2, epochs: int = 300,
                 finetune_epochs: int = 100, lr: float = 1e-3, finetune_lr: float = 3e-4,
                 weight_decay: float = 1e-4, seed: int = 0) -> None:
        self.members = members
        self.hidden = hidden
        self.layers = layers
        self.epochs = epochs
        self.finetune_epochs = finetune_epochs
        self.lr = lr
        self.finetune_lr = finetune_lr
        self.weight_decay = weight_decay
        self.seed = seed

    def fit_source(self, x: np.ndarray, y: np.ndarray) -> TransferMLP:
        """Fit the ensemble on source-domain features and targets (float architectures)."""
        x, y = np.asarray(x, dtype=np.float32), np.asarray(y, dtype=np.float64)
        if len(x) != len(y) or len(x) < 2:
            raise ValueError(f"fit_source needs >= 2 rows with one target each; got {len(x)} rows, {len(y)} targets")
        z = NormalScores(y).forward(y)
        self._source = [self._train(self._new_net(x.shape[1], m), x, z, self.epochs, self.lr)
                        for m in range(self.members)]
        return self

    def _new_net(self, d_in: int, member: int) -> nn.Module:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(self.seed * 1000 + member)
            return nn.Sequential(make_trunk(d_in, self.hidden, self.layers), nn.Linear(self.hidden, 1))

    def _train(self, net: nn.Module, x: np.ndarray, z: np.ndarray, epochs: int, lr: float) -> nn.Module:
        xt, zt = torch.as_tensor(x), torch.as_tensor(z, dtype=torch.float32)[:, None]
        net.train()
        opt = torch.optim.AdamW(net.parameters(), lr=lr, weight_decay=self.weight_decay)
        for _ in range(epochs):  # full batch: the training sets are small
            loss = nn.functional.mse_loss(net(xt), zt)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
        return net.eval()

    def _fit(self, x: np.ndarray, y: np.ndarray) -> None:
        source = getattr(self, "_source", None)
        if source is not None and source[0][0][0].in_features != x.shape[1]:
            raise ValueError(f"target features have {x.shape[1]} columns, the source had {source[0][0][0].in_features}")
        if source is None:
            self._nets = [self._train(self._new_net(x.shape[1], m), x, y, self.epochs, self.lr)
                          for m in range(self.members)]
        else:
            self._nets = [self._train(copy.deepcopy(net), x, y, self.finetune_epochs, self.finetune_lr)
                          for net in source]

    @torch.no_grad()
    def _predict_dist(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        out = torch.stack([net(torch.as_tensor(x))[:, 0] for net in self._nets]).numpy()
        return out.mean(0), out.std(0)

    def _predict(self, x: np.ndarray) -> np.ndarray:
        return self._predict_dist(x)[0]


def float_point(space: Any, base_arch: Any) -> Any:
    """The arch of quant space ``space`` that is ``base_arch`` in float: every group ``w32a32k1.0``
    (32 and 1.0 must be options of the space)."""
    values = {n: (32 if n.startswith(("w_bits", "a_bits")) else 1.0) for n in space.extra_names}
    return space.join(base_arch, **values)
