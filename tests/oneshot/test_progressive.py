"""OFA progressive shrinking (nasforge.oneshot.progressive): stages, channel sorting, resolution."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from oneshot_toys import tiny_spaces, tiny_task

from nasforge.oneshot.base import get_method
from nasforge.oneshot.elastic import ElasticMBConv
from nasforge.oneshot.progressive import sample_stage, sort_hidden_channels, stage_plan
from nasforge.oneshot.supernet import build_supernet
from nasforge.run.oneshot import search_supernet

TINY = {"epochs": 4, "batch_size": 12, "search_trials": 2, "calib_batches": 1, "eval_images": 8}


def test_stages_open_the_space_in_order_kernel_depth_width():
    space = tiny_spaces()["mbconv"]
    plan = stage_plan(space)
    assert [s.name for s in plan] == ["largest", "kernel", "depth", "width"]
    largest = build_supernet(space, tiny_task()).extremes()[0]
    rng = np.random.default_rng(0)
    varied = []
    for stage in plan:
        archs = [sample_stage(space, stage, rng) for _ in range(60)]
        varied.append({d for a in archs for d in space.active(dict(a)) if a[d] != largest[d]})
    assert varied[0] == set()
    assert varied[1] == {f"kernel_{s}_{i}" for s in (0, 1) for i in (0, 1)}  # at full depth
    assert varied[2] == varied[1] | {"depth_0", "depth_1"}
    assert varied[3] == {c.name for c in space.choices}
    assert [s.name for s in stage_plan(tiny_spaces()["macro"])] == ["largest", "kernel", "depth"]


def test_training_visits_the_stages_in_order_with_their_shares(monkeypatch):
    space, task = tiny_spaces()["mbconv"], tiny_task()
    method = get_method("ofa", **TINY, stage_fractions=(0.25, 0.25, 0.125, 0.375))
    seen = []
    forward = type(build_supernet(space, task)).forward
    monkeypatch.setattr(type(build_supernet(space, task)), "forward",
                        lambda self, x, arch=None: (seen.append(arch), forward(self, x, arch))[1])
    state = method.begin(space, task)
    while state.epochs_done < 4:
        method.epoch(state)
    assert state.stages_seen == ["largest"] * 2 + ["kernel"] * 2 + ["depth"] * 1 + ["width"] * 3
    assert [r.info["stage"] for r in state.trajectory] == [0.0, 1.0, 3.0, 3.0]  # of each epoch's last step
    largest = state.supernet.extremes()[0]
    assert seen[:2] == [largest, largest]  # the first stage trains the full network only
    assert state.teacher is not None and state.sorted
    assert not any(p.requires_grad for p in state.teacher.parameters())


def test_channel_sorting_keeps_the_full_network_and_orders_channels_by_importance():
    space, task = tiny_spaces()["mbconv"], tiny_task()
    torch.manual_seed(0)
    net = build_supernet(space, task)
    for m in net.modules():  # non-trivial BN statistics and affine parameters
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.uniform_(-1, 1), m.running_var.uniform_(0.5, 2), m.weight.data.uniform_(0.5, 2)
    net.eval()
    opt = torch.optim.SGD(net.parameters(), lr=0.1, momentum=0.9)
    x = torch.randn(3, 3, 8, 8)
    largest = net.extremes()[0]
    net(x, largest).sum().backward()
    opt.step()
    layer = next(m for m in net.modules() if isinstance(m, ElasticMBConv))
    buf = opt.state[layer.project.weight]["momentum_buffer"].clone()
    before = net(x, largest)
    perm = sort_hidden_channels(layer, opt)
    assert not torch.equal(perm, torch.arange(len(perm)))
    importance = layer.project.weight.abs().sum(dim=(0, 2, 3))
    assert torch.all(importance[:-1] >= importance[1:])
    torch.testing.assert_close(net(x, largest), before, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(opt.state[layer.project.weight]["momentum_buffer"], buf[:, perm])


def test_elastic_resolution_draws_each_side(monkeypatch):
    space, task = tiny_spaces()["macro"], tiny_task()
    sides = []
    cls = type(build_supernet(space, task))
    forward = cls.forward
    monkeypatch.setattr(cls, "forward", lambda self, x, arch=None: (sides.append(x.shape[-1]), forward(self, x, arch))[1])
    get_method("ofa", **TINY, resolutions=(6, 10)).train(space, task, search=search_supernet)
    assert set(sides) == {6, 10} and sides.count(6) > 2 and sides.count(10) > 2  # never the task's 8


def test_bad_ofa_settings_are_refused_naming_them():
    space, task = tiny_spaces()["mbconv"], tiny_task()
    with pytest.raises(ValueError, match=r"stage_fractions: 2 shares for the 4 stages of space 'mbconv' "
                                         r"\(largest, kernel, depth, width\)"):
        get_method("ofa", **TINY, stage_fractions=(0.5, 0.5)).begin(space, task)
    with pytest.raises(ValueError, match="stage_fractions must be non-negative and sum to 1"):
        get_method("ofa", stage_fractions=(0.5, 0.6, 0.0, 0.0))
    with pytest.raises(ValueError, match="resolutions must be image sides of at least 4"):
        get_method("ofa", resolutions=(2,))
    with pytest.raises(ValueError, match=r"one-shot method 'ofa' supports spaces .* not 'nb201' "
                                         r"\(progressive shrinking has a stage plan only for"):
        get_method("ofa", **TINY).begin(tiny_spaces()["nb201"], task)


def test_progressive_shrinking_runs_on_the_device_and_equals_a_cpu_run(monkeypatch):
    """Every stage (and the teacher) sees only batches sent to the run's device (``cpu:0``)."""
    from device_spy import DEVICE, DeviceSpy

    from nasforge.oneshot.supernet import Supernet

    space, task = tiny_spaces()["mbconv"], tiny_task()
    states = {}
    for device in ("cpu", DEVICE):
        spy = DeviceSpy(monkeypatch, watch=Supernet)
        try:
            method = get_method("ofa", **TINY)
            states[device] = state = method.begin(space, task, device)
            while state.epochs_done < 4:
                method.epoch(state)
        finally:
            spy.close()
            monkeypatch.undo()
    assert len(spy.inputs) > 8 and all(spy.moved(x) for x in spy.inputs)
    assert states[DEVICE].teacher is not None and states[DEVICE].sorted
    for (name, a), b in zip(states["cpu"].supernet.state_dict().items(),
                            states[DEVICE].supernet.state_dict().values(), strict=True):
        assert torch.equal(a, b), name
