"""TangleNAS on every space (Sukthanker et al. 2024): the entangled NB201 edge (1x1 = centre of
the 3x3), the relaxed mbconv supernet, and the method on nb201, macro and mbconv."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from oneshot_toys import tiny_spaces, tiny_task

from nasforge.hardware.metrics import TaskShape
from nasforge.oneshot.base import get_method
from nasforge.oneshot.entangled_edge import EntangledEdge
from nasforge.oneshot.io import load_supernet, save_supernet
from nasforge.oneshot.mbconv import MBConvSupernet
from nasforge.oneshot.nb201 import NB201Supernet
from nasforge.oneshot.tanglenas import TangleNAS
from nasforge.space.layers import ReLUConvBN
from nasforge.space.nb201 import OPS

SHAPE = TaskShape((3, 8, 8), 10)


def _wide_mbconv():
    """A tiny mbconv space whose width multipliers change channel counts (16 -> 16/16/24)."""
    from nasforge.space.registry import get_space

    return get_space("mbconv", widths=(8, 16), strides=(1, 2), depths=(1, 2), stem=8, head=8)


def test_tanglenas_runs_on_every_space_with_a_supernet():
    assert set(TangleNAS.supported_spaces()) == {"nb201", "macro", "mbconv", "vit", "gpt"}


def test_entangled_edge_shares_one_weight():
    torch.manual_seed(0)
    edge = EntangledEdge(OPS, 4)
    assert "nor_conv_1x1" not in edge.candidates  # no weights of its own
    x = torch.randn(5, 4, 6, 6)
    conv1 = ReLUConvBN(4, 4, 1)
    edge.copy_to("nor_conv_1x1", conv1)
    torch.testing.assert_close(conv1[1].weight, edge.shared[1].weight[:, :, 1:2, 1:2])
    with torch.no_grad():
        torch.testing.assert_close(edge.single(x, OPS.index("nor_conv_1x1")), conv1(x))
        edge.shared[1].weight[:, :, 1, 1] += 1.0  # moving the centre moves both convolutions
        assert not torch.allclose(edge.single(x, OPS.index("nor_conv_1x1")), conv1(x))


def test_entangled_edge_mixes_convolutions_in_weight_space():
    torch.manual_seed(0)
    edge = EntangledEdge(OPS, 4).train()
    x = torch.randn(5, 4, 6, 6)
    one_conv = torch.tensor([0.1, 0.2, 0.0, 0.3, 0.4])  # none, skip, 1x1, 3x3, pool
    with torch.no_grad():  # one convolution candidate: weight mixing and output mixing agree
        torch.testing.assert_close(edge.mix(x, one_conv), edge.output_mix(x, one_conv))
        both = torch.tensor([0.1, 0.2, 0.3, 0.3, 0.1])
        assert not torch.allclose(edge.mix(x, both), edge.output_mix(x, both), atol=1e-3)
    calls = []
    handle = torch.nn.functional.conv2d
    try:
        torch.nn.functional.conv2d = lambda *a, **k: calls.append(1) or handle(*a, **k)
        edge.mix(x, both)
    finally:
        torch.nn.functional.conv2d = handle
    assert len(calls) == 1  # the two convolutions ran as one


def test_entangled_edge_refuses_partial_channels():
    with pytest.raises(ValueError, match="partial must be 1"):
        EntangledEdge(OPS, 4, partial=2)


@pytest.mark.parametrize("best", ["nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3"])
def test_tanglenas_edge_moves_alphas_to_the_better_op(best):
    torch.manual_seed(0)
    edge = EntangledEdge(OPS, 4).eval()
    for p in edge.parameters():
        p.requires_grad_(False)
    x = torch.randn(16, 4, 8, 8)
    with torch.no_grad():
        target = 2 * edge.single(x, OPS.index(best))
    alphas = torch.zeros(len(OPS), requires_grad=True)
    opt = torch.optim.Adam([alphas], lr=0.05)
    for _ in range(100):
        loss = (edge.mix(x, F.softmax(alphas, dim=0)) - target).pow(2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert OPS[int(alphas.argmax())] == best


def _trained_nb201():
    space = tiny_spaces()["nb201"]
    torch.manual_seed(0)
    net = NB201Supernet(space, SHAPE, entangle=True)
    opt = torch.optim.SGD(net.weight_parameters(), lr=0.1)
    rng = np.random.default_rng(0)
    x, y = torch.randn(8, 3, 8, 8), torch.randint(0, 10, (8,))
    for step in range(4):
        out = net(x) if step % 2 else net(x, space.sample(rng))  # relaxed and single-path steps
        loss = F.cross_entropy(out, y)
        opt.zero_grad()
        loss.backward()
        opt.step()
    return space, net


@pytest.mark.parametrize("training", [False, True])
def test_entangled_nb201_subnets_extract_exactly(training):
    space, supernet = _trained_nb201()
    x = torch.randn(6, 3, 8, 8)
    archs = [space.parse("|nor_conv_1x1~0|+|nor_conv_3x3~0|nor_conv_1x1~1|+|skip_connect~0|avg_pool_3x3~1|none~2|")]
    archs += list(space.sample_distinct(4, 2))
    for arch in archs:
        sub = supernet.extract(arch).train(training)
        reference = copy.deepcopy(supernet).train(training)
        with torch.no_grad():
            torch.testing.assert_close(sub(x), reference(x, arch), rtol=0, atol=1e-5, msg=arch.key)


def test_entangled_supernets_save_and_load(tmp_path):
    task = tiny_task()
    x = torch.from_numpy(task.x_val[:4])
    for net in (NB201Supernet(tiny_spaces()["nb201"], task, entangle=True),
                MBConvSupernet(tiny_spaces()["mbconv"], task, entangle=True)):
        loaded = load_supernet(save_supernet(net, tmp_path / f"{net.space.name}.pt"))
        assert loaded.config["entangle"] is True
        with torch.no_grad():
            torch.testing.assert_close(loaded(x), net.eval()(x))


def test_mbconv_relaxation_is_exact_at_one_hot():
    torch.manual_seed(0)
    space = _wide_mbconv()
    supernet = MBConvSupernet(space, SHAPE, entangle=True).train()
    x = torch.randn(6, 3, 8, 8)
    archs = list(space.sample_distinct(8, 3)) + list(supernet.extremes())
    for arch in archs:
        with torch.no_grad():
            supernet.alphas.fill_(0.0)
            for i, choice in enumerate(space.choices):
                supernet.alphas[i, choice.options.index(arch[choice.name])] = 1e4
            assert supernet.derive() == arch
            torch.testing.assert_close(supernet(x), supernet(x, arch), rtol=0, atol=1e-5, msg=arch.key)
    with torch.no_grad():  # a spread distribution is a mixture, not any one subnet
        supernet.alphas.fill_(0.0)
        assert not any(torch.allclose(supernet(x), supernet(x, a), atol=1e-3) for a in archs)


def test_mbconv_relaxation_trains_every_decision():
    torch.manual_seed(0)
    supernet = MBConvSupernet(_wide_mbconv(), SHAPE, entangle=True).train()
    F.cross_entropy(supernet(torch.randn(6, 3, 8, 8)), torch.randint(0, 10, (6,))).backward()
    grad = supernet.alphas.grad
    for i, choice in enumerate(supernet.space.choices):
        assert grad[i, :len(choice.options)].abs().sum() > 0, choice.name
        assert (grad[i, len(choice.options):] == 0).all()  # padding never moves


def test_plain_mbconv_supernet_has_no_relaxation():
    supernet = MBConvSupernet(tiny_spaces()["mbconv"], SHAPE)
    assert supernet.arch_parameters() == [] and supernet.arch_weights() == {}
    assert "alphas" not in supernet.state_dict()
    with pytest.raises(ValueError, match="one arch at a time"):
        supernet(torch.randn(2, 3, 8, 8))


@pytest.mark.parametrize("space", ["nb201", "mbconv"])
def test_tanglenas_derives_a_valid_arch(space):
    sp = tiny_spaces()[space]
    result = get_method("tanglenas", epochs=2, batch_size=12, arch_lr=0.05, seed=0).train(sp, tiny_task())
    assert result.arch == sp.arch(dict(result.arch))  # a valid, canonical arch of the space
    assert result.trajectory[-1].arch_weights.keys() == {c.name for c in sp.choices}
    first, last = result.trajectory[0].arch_weights, result.trajectory[-1].arch_weights
    assert first != last  # the architecture parameters train


@pytest.mark.parametrize("method,space", [("tanglenas", "nb201"), ("tanglenas", "mbconv"), ("proxyless", "macro"),
                                          ("proxyless", "mbconv")])
def test_new_method_space_pairs_train_on_the_runs_device(monkeypatch, tmp_path, method, space):
    """As tests/oneshot/test_device.py: on the spy device ``cpu:0`` every batch reaching the
    supernet was moved there, and the epoch equals a plain ``cpu`` one."""
    from device_spy import DEVICE, DeviceSpy

    from nasforge.oneshot.supernet import Supernet

    settings = dict(epochs=1, batch_size=12, latency_weight=1.0, latency_table=str(tmp_path / "lut.json"))
    plain = get_method(method, **settings)
    state = plain.begin(tiny_spaces()[space], tiny_task(), "cpu")
    plain.epoch(state)
    spy = DeviceSpy(monkeypatch, watch=Supernet)
    try:
        moved = get_method(method, **settings)
        moved_state = moved.begin(tiny_spaces()[space], tiny_task(), DEVICE)
        moved.epoch(moved_state)
        assert moved_state.supernet in spy.modules and spy.inputs
        assert all(spy.moved(x) for x in spy.inputs)
    finally:
        spy.close()
    assert moved_state.trajectory[0].train_loss == state.trajectory[0].train_loss
    assert moved_state.trajectory[0].arch_weights == state.trajectory[0].arch_weights
