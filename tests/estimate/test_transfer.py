"""APQ-style predictor transfer: float source, few quantized targets."""

from __future__ import annotations

import numpy as np
import pytest

from nasforge.core.ranking import rank_correlations
from nasforge.estimate.predictors.transfer import TransferMLP, float_point
from nasforge.space.quant import QuantSpace


def domains(seed: int, d_arch: int = 12, d_quant: int = 6, n: int = 120):
    """Source rows: architecture features only (quantization features at their float values);
    target rows: the same architecture effect plus a smaller quantization effect."""
    rng = np.random.default_rng(seed)
    w, v = rng.normal(size=d_arch), 0.4 * rng.normal(size=d_quant)
    xs = np.c_[rng.integers(0, 2, (n, d_arch)), np.zeros((n, d_quant))].astype(np.float32)
    xt = rng.integers(0, 2, (n, d_arch + d_quant)).astype(np.float32)
    return xs, xs[:, :d_arch] @ w, xt, xt[:, :d_arch] @ w + xt[:, d_arch:] @ v


def test_transfer_beats_target_only_with_few_samples():
    gains = []
    for seed in range(3):
        xs, ys, xt, yt = domains(seed)
        fast = {"members": 1, "epochs": 80, "finetune_epochs": 30}
        transfer = TransferMLP(seed=seed, **fast).fit_source(xs, ys).fit(xt[:10], yt[:10])
        scratch = TransferMLP(seed=seed, **fast).fit(xt[:10], yt[:10])
        gains.append(rank_correlations(transfer.predict(xt[10:]), yt[10:])[0]
                     - rank_correlations(scratch.predict(xt[10:]), yt[10:])[0])
    assert np.mean(gains) > 0.1 and sum(g > 0 for g in gains) >= 2


def test_source_and_target_must_share_the_encoding():
    xs, ys, xt, yt = domains(0)
    model = TransferMLP(members=1, epochs=5).fit_source(xs, ys)
    with pytest.raises(ValueError, match="columns"):
        model.fit(xt[:10, :5], yt[:10])
    with pytest.raises(ValueError, match=">= 2 rows"):
        TransferMLP().fit_source(xs[:1], ys[:1])


def test_float_point_is_the_unquantized_arch():
    space = QuantSpace("conv1d")
    base = space.base.sample(np.random.default_rng(0))
    arch = float_point(space, base)
    assert arch.key == f"conv1d+quant:{base.body}@w32a32k1.0/w32a32k1.0/w32a32k1.0"
