"""BN recalibration re-estimates running statistics and leaves every weight alone."""

from __future__ import annotations

import torch
from oneshot_toys import tiny_spaces

from nasforge.hardware.metrics import TaskShape
from nasforge.oneshot.bn import batch_norms, prepare_bn, recalibrate_bn
from nasforge.oneshot.supernet import build_supernet


def _subnet():
    space = tiny_spaces()["macro"]
    torch.manual_seed(0)
    supernet = build_supernet(space, TaskShape((3, 8, 8), 10))
    return supernet.extract(space.parse("12012012"))


def test_recalibration_changes_running_stats_not_weights():
    net = _subnet()
    weights = {k: v.clone() for k, v in net.named_parameters()}
    before = [bn.running_mean.clone() for bn in batch_norms(net)]
    batches = [torch.randn(8, 3, 8, 8) * 2 + 1 for _ in range(3)]
    assert recalibrate_bn(net, batches) == 24
    after = [bn.running_mean for bn in batch_norms(net)]
    assert any(not torch.equal(a, b) for a, b in zip(after, before, strict=True))
    for name, value in net.named_parameters():
        assert torch.equal(value, weights[name]), name
    assert not net.training
    assert all(bn.momentum == 0.1 for bn in batch_norms(net))  # restored


def test_recalibrated_stats_are_the_average_over_batches():
    net = torch.nn.Sequential(torch.nn.BatchNorm2d(2))
    batches = [torch.full((4, 2, 3, 3), 1.0), torch.full((4, 2, 3, 3), 3.0)]
    recalibrate_bn(net, batches)
    torch.testing.assert_close(net[0].running_mean, torch.tensor([2.0, 2.0]))


def test_train_mode_bn_uses_batch_statistics():
    net = prepare_bn(_subnet(), "train")
    x = torch.randn(6, 3, 8, 8)
    with torch.no_grad():  # a sample's output depends on the rest of its batch
        assert not torch.allclose(net(x)[:3], net(x[:3]))
    assert all(bn.running_mean is None for bn in batch_norms(net))
