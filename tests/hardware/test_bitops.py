"""BitOps and model bytes of quantized, pruned networks against a hand count."""

from __future__ import annotations

import torch
from torch import nn

from nasforge.hardware.bitops import layer_costs, quant_costs
from nasforge.hardware.metrics import hardware_metrics
from nasforge.space.quantnet import quantize_network

SHAPE = (1, 10)


def small_net() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv1d(1, 4, 3), nn.BatchNorm1d(4), nn.ReLU(),   # -> (4, 8)
                         nn.Conv1d(4, 6, 3, bias=False), nn.ReLU(),            # -> (6, 6)
                         nn.Flatten(), nn.Linear(36, 5))


def test_float_network_hand_count():
    got = hardware_metrics(small_net(), SHAPE, ("bitops", "model_bytes", "macs", "params"))
    macs = 8 * 4 * 1 * 3 + 6 * 6 * 4 * 3 + 5 * 36  # 96 + 432 + 180
    assert got["macs"] == macs == 708
    assert got["bitops"] == macs * 32 * 32
    assert got["model_bytes"] == 4 * got["params"] == 4 * (16 + 8 + 72 + 185)


def test_quantized_pruned_network_hand_count():
    policy = {0: (8, 4, 0.5), 1: (4, 8, 0.5), 2: (32, 8, 1.0)}
    net = quantize_network(small_net(), SHAPE, 3, policy.__getitem__)
    rows = layer_costs(net, SHAPE)
    # conv_a keeps 2 of 4 filters; conv_b sees 2 live input channels, keeps 3 of 6; the
    # classifier (never pruned) sees 3 live channels x 6 positions = 18 of its 36 inputs
    assert [(r["kept"], r["in_effective"]) for r in rows] == [(2, 1), (3, 2), (5, 18)]
    assert [r["macs"] for r in rows] == [8 * 2 * 1 * 3, 6 * 3 * 2 * 3, 5 * 18]
    bitops = 48 * 8 * 4 + 108 * 4 * 8 + 90 * 32 * 8
    size = ((6 + 4 * 2 + 4 * 2)      # conv_a: 6 int8 weights, 2 float biases, 2 scales
            + (9 + 4 * 3)            # conv_b: 18 4-bit weights = 9 bytes, no bias, 3 scales
            + (90 * 4 + 4 * 5)       # classifier in float: 90 weights, 5 biases
            + 4 * 8)                 # BatchNorm weight and bias, in full
    assert quant_costs(net, SHAPE) == {"bitops": float(bitops), "model_bytes": float(size)}
    assert hardware_metrics(net, SHAPE, ("bitops", "model_bytes")) == {"bitops": bitops, "model_bytes": size}


def test_pruned_channels_are_zero_after_their_batchnorm():
    net = quantize_network(small_net(), SHAPE, 3, {0: (32, 32, 0.5), 1: (32, 32, 1.0), 2: (32, 32, 1.0)}.__getitem__)
    first = net.quant_layers()[0]
    net.net[1].norm.bias.data.fill_(0.7)  # a BatchNorm shift would revive a channel masked only in the conv
    hidden = net.net[:3](torch.randn(3, *SHAPE))
    dead = first.mask == 0
    assert int(dead.sum()) == 2 and (hidden[:, dead] == 0).all() and (hidden[:, ~dead] != 0).any()
    # the masks keep the filters with the largest L1 norm
    norms = first.layer.weight.detach().abs().flatten(1).sum(1)
    assert norms[~dead].min() > norms[dead].max()


def test_costs_leave_the_network_as_it_was():
    net = quantize_network(small_net(), SHAPE, 3, lambda g: (4, 4, 0.5))
    net.set_mode(quantize=True, prune=False).train()
    quant_costs(net, SHAPE)
    assert net.modes() == (True, False) and net.training


def test_folding_the_masks_keeps_the_function():
    net = quantize_network(small_net(), SHAPE, 3, {0: (32, 32, 0.5), 1: (32, 32, 0.5), 2: (32, 32, 1.0)}.__getitem__)
    net.net[1].norm.bias.data.fill_(0.7)
    x = torch.randn(5, *SHAPE)
    before = net.eval()(x)
    net.fold_masks()
    assert net.modes() == (True, False)  # masks off: the zeros are in the weights now
    assert torch.allclose(net(x), before, atol=1e-6)
    assert (net.quant_layers()[0].layer.weight[net.quant_layers()[0].mask == 0] == 0).all()
