"""Elastic MBConv space: canonical keys with inactive layers, networks for any image shape."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from nasforge.hardware.metrics import TaskShape, count_params
from nasforge.space import get_space


def test_inactive_decisions_are_canonicalised():
    space = get_space("mbconv")
    arch = space.sample(np.random.default_rng(0))
    values = arch.to_dict()
    values["depth_1"] = 2
    shallow = space.arch(values)
    changed = dict(values, kernel_1_3=7, expand_1_3=6, kernel_1_2=5)  # layers 2, 3 are inactive
    assert space.arch(changed) == shallow
    assert shallow["kernel_1_3"] == 3 and shallow["expand_1_2"] == 3
    assert len(shallow.body.split("|")[2].split(",")) == 2
    assert "kernel_1_2" not in space.active(shallow) and "kernel_1_1" in space.active(shallow)


def test_key_format_round_trips():
    space = get_space("mbconv")
    body = "w1.0|k3e4,k5e6|k7e3,k3e3,k3e3|k3e3,k3e3|k5e6,k5e6,k5e6,k5e6"
    arch = space.parse(body)
    assert arch.body == body and arch["depth_3"] == 4 and arch["expand_0_1"] == 6
    rng = np.random.default_rng(1)
    for _ in range(50):
        a = space.sample(rng)
        assert space.parse(a.key) == a
    for bad in ["w1.0|k3e4|k3e3,k3e3|k3e3,k3e3|k3e3,k3e3", "w2.0|k3e4,k3e3|k3e3,k3e3|k3e3,k3e3|k3e3,k3e3",
                "w1.0|k4e4,k3e3|k3e3,k3e3|k3e3,k3e3|k3e3,k3e3", "w1.0|k3e4,k3e3"]:
        with pytest.raises(ValueError, match="not an architecture key"):
            space.parse(bad)


@pytest.mark.parametrize("shape", [(3, 32, 32), (1, 28, 28), (3, 96, 80), (3, 8, 8)])
def test_builds_and_runs_for_image_shapes(shape):
    space = get_space("mbconv")
    arch = space.sample(np.random.default_rng(sum(shape)))
    task = TaskShape(shape, 7)
    x = torch.randn(2, *shape)
    with torch.no_grad():
        for spec in space.blocks(arch, task):
            assert tuple(x.shape[1:]) == spec.input_shape
            x = spec.build().eval()(x)
            assert tuple(x.shape[1:]) == spec.output_shape
        assert space.build(arch, task).eval()(torch.randn(2, *shape)).shape == (2, 7)


def test_width_and_depth_change_the_network():
    space = get_space("mbconv")
    base = space.parse("w1.0|k3e3,k3e3|k3e3,k3e3|k3e3,k3e3|k3e3,k3e3")
    task = TaskShape((3, 32, 32), 10)
    sizes = [count_params(space.build(space.arch(dict(base.to_dict(), width=w)), task))
             for w in (0.75, 1.0, 1.25)]
    assert sizes[0] < sizes[1] < sizes[2]
    deeper = space.arch(dict(base.to_dict(), depth_2=4))
    assert len(space.blocks(deeper, task)) == len(space.blocks(base, task)) + 2
