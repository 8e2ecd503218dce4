"""The quantization and pruning wrapper over every built-in space, a user's space and recipes."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from space.test_contract import FakeTask, custom_space

from nasforge.hardware.bitops import quant_costs
from nasforge.space import get_space
from nasforge.space.fakequant import ActQuant, fake_quant_weight
from nasforge.space.joint import JointSpace
from nasforge.space.quant import QuantSpace, is_quantized
from nasforge.space.quantnet import QuantizedNetwork

#: tiny settings of each built-in space and the input it takes
BASES = {
    "conv1d": ({"channels": [4, 8], "max_depth": 2}, (1, 40)),
    "nb201": ({"channels": 4, "cells": 1}, (3, 16, 16)),
    "macro": ({"stem": 4, "head": 8}, (3, 16, 16)),
    "mbconv": ({"widths": [8, 8], "strides": [1, 2], "depths": [1, 2], "stem": 8, "head": 8}, (3, 16, 16)),
    "joint": ({"base": "conv1d", "base_settings": {"channels": [4, 8], "max_depth": 2}, "recipe": ["lr"]}, (1, 40)),
}


def quant_over(name: str) -> tuple[QuantSpace, FakeTask]:
    if name == "custom":
        return QuantSpace(custom_space()), FakeTask((1, 40))
    settings, shape = BASES[name]
    return QuantSpace(name, base_settings=settings), FakeTask(shape)


@pytest.mark.parametrize("base", [*BASES, "custom"])
def test_wrapper_over_every_space(base):
    space, task = quant_over(base)
    rng = np.random.default_rng(0)
    for _ in range(3):
        arch = space.sample(rng)
        assert space.parse(arch.key) == arch and arch.key.count("@") == 1
        assert space.from_json(arch.to_json()) == arch
        assert space.base_arch(arch).key == arch.key.split("@")[0].replace(space.name, space.base.name, 1)
        net = space.build(arch, task)
        assert isinstance(net, QuantizedNetwork)
        layers = net.quant_layers()
        assert {q.group for q in layers} == set(range(min(space.groups, len(layers))))
        for q in layers:
            assert (q.weight_bits, q.act_bits, q.keep) == space.group_policy(arch, q.group)
        assert not layers[-1].prunable and all(q.prunable for q in layers[:-1])
        out = net.train()(torch.randn(4, *task.input_shape))
        out.sum().backward()
        assert out.shape == (4, 10)
        assert net.eval()(torch.randn(2, *task.input_shape)).shape == (2, 10)
    assert space.encode(arch).sum() == len(space.choices)
    assert is_quantized(space) and not is_quantized(space.base)


def test_decisions_change_the_costs():
    space, task = quant_over("conv1d")
    arch = space.sample(np.random.default_rng(1))
    full = {n: v for n, v in arch.to_dict().items()}
    for g in range(space.groups):
        full |= {f"w_bits_{g}": 32, f"a_bits_{g}": 32, f"keep_{g}": 1.0}
    small = dict(full) | {f"w_bits_{g}": 4 for g in range(space.groups)} | {f"keep_{g}": 0.5 for g in range(space.groups)}
    big_cost = quant_costs(space.build(space.arch(full), task), task.input_shape)
    small_cost = quant_costs(space.build(space.arch(small), task), task.input_shape)
    assert small_cost["bitops"] < big_cost["bitops"] / 8
    assert small_cost["model_bytes"] < big_cost["model_bytes"] / 3  # biases, scales and BatchNorm stay float


def test_recipe_decisions_compose_both_ways():
    inner = QuantSpace("joint", base_settings=BASES["joint"][0])
    outer = JointSpace(QuantSpace("conv1d", base_settings=BASES["conv1d"][0]), recipe=["lr"])
    for space in (inner, outer):
        arch = space.sample(np.random.default_rng(2))
        assert set(space.recipe_overrides(arch)) == {"lr"}
        assert space.parse(arch.key) == arch
        assert isinstance(space.build(arch, FakeTask((1, 40))), QuantizedNetwork)
        assert is_quantized(space)


def test_bad_settings_name_what_is_wrong():
    with pytest.raises(ValueError, match="weight_bits: 16"):
        QuantSpace("conv1d", weight_bits=[8, 16])
    with pytest.raises(ValueError, match="keep: 0"):
        QuantSpace("conv1d", keep=[0, 0.5])
    with pytest.raises(ValueError, match="groups"):
        QuantSpace("conv1d", groups=0)
    with pytest.raises(ValueError, match="group"):
        QuantSpace("conv1d").parse("conv1d+quant:c8k3s1|plain|batch|relu@w8a8k1.0")


def test_fake_quantization_grids_and_straight_through_gradients():
    w = torch.randn(3, 5, 4, requires_grad=True)
    q = fake_quant_weight(w, 4)
    for c in range(3):  # symmetric per channel: at most 15 levels, the largest weight exact
        assert len(torch.unique(q[c])) <= 15
        assert torch.isclose(q[c].abs().max(), w[c].abs().max())
    q.sum().backward()
    assert torch.equal(w.grad, torch.ones_like(w))
    act = ActQuant(4).train()
    x = torch.linspace(-1, 3, 200, requires_grad=True)
    y = act(x)
    assert len(torch.unique(y)) <= 16 and float(act.lo) == -1 and float(act.hi) == 3
    assert (y == 0).any()  # zero is on the grid
    y.sum().backward()
    scale, zero = act.qparams()  # the grid [-zero, 15 - zero] * scale: gradients pass inside, stop outside
    inside = (x >= -zero * scale) & (x <= (15 - zero) * scale)
    assert torch.equal(x.grad, inside.float()) and inside.float().mean() > 0.9
    act.eval()
    wide = act(torch.tensor([-5.0, 10.0]))  # the frozen range clamps
    assert torch.allclose(wide, torch.tensor([-zero * scale, (15 - zero) * scale]))


def test_registered_space_is_quant():
    space = get_space("quant", base="macro", groups=2, keep=[1.0])
    assert space.name == "macro+quant" and len(space.choices) == len(space.base.choices) + 6
