"""Static metrics: FLOP convention, peak activation memory, model size, cost-model registry."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from nasforge.hardware import COST_MODELS, TaskShape, count_flops, get_cost_model, hardware_metrics
from nasforge.hardware.memory import peak_activation_bytes
from nasforge.space import get_space


def test_flops_count_two_per_multiply_add():
    conv = nn.Conv2d(3, 8, 3, padding=1, bias=False)
    assert count_flops(conv, (3, 32, 32)) == 2 * (3 * 8 * 9) * 32 * 32
    linear = nn.Linear(64, 10)  # the bias is not counted
    assert count_flops(linear, (64,)) == 2 * 64 * 10


def test_peak_activation_memory_follows_tensor_lifetimes():
    x_bytes, h_bytes, y_bytes = 3 * 1024 * 4, 8 * 1024 * 4, 4 * 1024 * 4
    inplace = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(inplace=True), nn.Conv2d(8, 4, 3, padding=1))
    assert peak_activation_bytes(inplace, (3, 32, 32)) == x_bytes + h_bytes + y_bytes
    copy = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.Conv2d(8, 4, 3, padding=1))
    assert peak_activation_bytes(copy, (3, 32, 32)) == x_bytes + 2 * h_bytes  # conv out + relu out
    # Weights (here the transposed view F.linear makes) are not activations.
    assert peak_activation_bytes(nn.Linear(3072, 1000), (3072,)) == (3072 + 1000) * 4
    assert peak_activation_bytes(inplace, (3, 32, 32), batch_size=4) == 4 * (x_bytes + h_bytes + y_bytes)


def test_hardware_metrics_of_a_macro_network():
    space = get_space("macro")
    model = space.build(space.parse("02012100"), TaskShape((3, 32, 32), 10))
    m = hardware_metrics(model, (3, 32, 32), ["params", "flops", "macs", "memory_mb", "size_mb"])
    assert list(m) == ["params", "flops", "macs", "memory_mb", "size_mb"]
    assert m["params"] == 890_666 and m["macs"] == 47_327_744 and m["flops"] == 2 * m["macs"]
    assert 0.2 < m["memory_mb"] < 5
    assert m["params"] * 4 / 2**20 < m["size_mb"] < m["params"] * 4 / 2**20 * 1.2
    with pytest.raises(ValueError, match="unknown hardware metric"):
        hardware_metrics(model, (3, 32, 32), ["latency"])


def test_cost_model_registry_and_static_models():
    assert {"params", "flops", "macs", "memory_mb", "size_mb", "measured", "lut", "gbdt"} <= set(COST_MODELS.list())
    space = get_space("macro")
    params = get_cost_model("params").setup(space)
    assert params.predict(space.parse("00000000")) == 387_882
    assert get_cost_model("macs").setup(space).predict(space.parse("00000000")) == 7_713_280
    with pytest.raises(RuntimeError, match="setup"):
        get_cost_model("params").predict(space.parse("00000000"))
    with pytest.raises(KeyError, match="valid"):
        get_cost_model("no-such-model")


def test_training_mode_is_restored():
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4)).train()
    count_flops(model, (3, 8, 8))
    peak_activation_bytes(model, (3, 8, 8))
    assert model.training and torch.equal(model[1].running_mean, torch.zeros(4))
