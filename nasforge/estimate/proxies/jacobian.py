"""Proxies on the input Jacobian of an untrained network, ``J[n] = d sum(f(x_n)) / d x_n``.

Both share one forward/backward pass on the batch (network in train mode).
"""

from __future__ import annotations

import torch
from torch import nn

from nasforge.estimate.proxies import register_proxy
from nasforge.estimate.proxies.base import Proxy, ProxyBatch, input_jacobian, safe_corrcoef

K = 1e-5


def _jacobian(model: nn.Module, batch: ProxyBatch) -> torch.Tensor:
    return batch.shared("input_jacobian", lambda: input_jacobian(model, batch))


@register_proxy("jacov")
class JacobianCovariance(Proxy):
    """Jacobian covariance (Mellor et al. 2020, "Neural Architecture Search without Training",
    arXiv v1; used by Abdelfattah et al. 2021): with ``lambda_i`` the eigenvalues of the
    correlation matrix of the per-sample Jacobians and ``k = 1e-5``,
    ``-sum_i [log(lambda_i + k) + 1 / (lambda_i + k)]``. Inputs whose Jacobians do not vary
    count as perfectly correlated (the minimum)."""

    name = "jacov"
    data = "batch"
    paper = "Mellor et al. 2020 (v1)"

    def score(self, model: nn.Module, batch: ProxyBatch) -> float:
        eig = torch.linalg.eigvalsh(safe_corrcoef(_jacobian(model, batch))).clamp_min(0.0)
        return float(-(torch.log(eig + K) + 1.0 / (eig + K)).sum())


@register_proxy("epe_nas")
class EpeNas(Proxy):
    """EPE-NAS (Lopes et al. 2021, "EPE-NAS: Efficient Performance Estimation Without Training
    for Neural Architecture Search", ICANN): per class ``c``, ``s_c = sum_ij log(|Sigma_c,ij| + k)``
    over the correlation matrix of that class's Jacobians; the score is ``sum_c |s_c|`` for up to
    100 classes, else ``sum_c sum_c' |s_c - s_c'| / C`` with ``s_c`` divided by its matrix size."""

    name = "epe_nas"
    data = "labels"
    paper = "Lopes et al. 2021"

    def score(self, model: nn.Module, batch: ProxyBatch) -> float:
        jac = _jacobian(model, batch)
        many = batch.num_classes > 100
        per_class = []
        for c in torch.unique(batch.y).tolist():
            rows = jac[batch.y == c]
            if len(rows) < 2:
                continue  # a single sample has no correlation structure
            corr = safe_corrcoef(rows)
            s = torch.log(corr.abs() + K).sum()
            per_class.append(float(s) / len(rows) if many else float(s))
        if not many:
            return float(sum(abs(s) for s in per_class))
        vals = torch.tensor(per_class, dtype=torch.float64)
        return float((vals[:, None] - vals[None, :]).abs().sum() / max(len(vals), 1))
