import numpy as np

from nasforge.space import get_space


def test_inactive_layers_are_canonical():
    space = get_space("conv1d")
    arch = space.parse("conv1d:c16k5s1-c32k3s2|res|batch|gelu")
    assert arch["depth"] == 2
    values = arch.to_dict()
    values["channels_4"] = 64  # an inactive decision: same network, same key
    assert space.arch(values) == arch


def test_neighbours_only_change_active_decisions():
    space = get_space("conv1d")
    arch = space.parse("conv1d:c16k5s1|plain|none|relu")
    for n in space.neighbours(arch):
        diff = [k for k in arch if n[k] != arch[k]]
        assert len(diff) >= 1
        assert all(k == "depth" or not k.endswith(("_1", "_2", "_3", "_4")) for k in diff)


def test_space_is_large():
    assert get_space("conv1d").size > 10**9
    rng = np.random.default_rng(0)
    keys = {get_space("conv1d").sample(rng).key for _ in range(200)}
    assert len(keys) == 200
