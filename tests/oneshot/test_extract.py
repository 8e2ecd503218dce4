"""An extracted subnet (standalone network, inherited weights) computes what the supernet's
path computes: macro, mbconv (incl. elastic width / depth) and nb201 single paths."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from oneshot_toys import tiny_spaces

from nasforge.hardware.metrics import TaskShape
from nasforge.oneshot.elastic import ElasticBatchNorm2d
from nasforge.oneshot.macro import MacroLayer
from nasforge.oneshot.supernet import build_supernet

SHAPE = TaskShape((3, 8, 8), 10)


def _trained(name: str, bn_affine: bool = True):
    """A supernet after a few path-sampled steps, so weights and BN statistics are not at init."""
    space = tiny_spaces()[name]
    torch.manual_seed(0)
    net = build_supernet(space, SHAPE, bn_affine=bn_affine)
    opt = torch.optim.SGD(net.parameters(), lr=0.1)
    rng = np.random.default_rng(0)
    x, y = torch.randn(8, 3, 8, 8), torch.randint(0, 10, (8,))
    for _ in range(3):
        loss = F.cross_entropy(net(x, space.sample(rng)), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
    return space, net


@pytest.mark.parametrize("name", ["macro", "mbconv", "nb201"])
@pytest.mark.parametrize("training", [False, True])
def test_extracted_subnet_equals_supernet_path(name, training):
    space, supernet = _trained(name)
    rng = np.random.default_rng(1)
    archs = [space.sample(rng) for _ in range(4)] + list(supernet.extremes())
    x = torch.randn(6, 3, 8, 8)
    for arch in archs:
        sub = supernet.extract(arch).train(training)
        assert type(sub) is type(space.build(arch, SHAPE))
        reference = copy.deepcopy(supernet).train(training)  # train mode updates BN statistics
        with torch.no_grad():
            torch.testing.assert_close(sub(x), reference(x, arch), rtol=0, atol=1e-5, msg=arch.key)


def test_extraction_with_affine_off_and_small_width():
    space, supernet = _trained("mbconv", bn_affine=False)
    arch = space.parse("w0.75|k3e3|k7e6,k5e4")  # width 0.75: stem and stage 0 both 8 ch -> residual
    x = torch.randn(4, 3, 8, 8)
    supernet.eval()
    with torch.no_grad():
        torch.testing.assert_close(supernet.extract(arch).eval()(x), supernet(x, arch), rtol=0, atol=1e-5)


def test_subnet_weights_are_slices_of_the_supernet():
    space, supernet = _trained("macro")
    arch = space.parse("11111111")
    sub = supernet.extract(arch)
    dw = sub[2].conv[1][0].weight  # layer 1 (stride 1), depthwise 3x3 of the k5e6 super-kernel
    torch.testing.assert_close(dw, supernet.layers[1].mbconv.depthwise.weight[:dw.shape[0], :, 1:4, 1:4])


def test_elastic_batchnorm_updates_only_the_used_slice():
    bn = ElasticBatchNorm2d(8).train()
    bn(torch.randn(4, 3, 5, 5) + 3.0)
    assert (bn.running_mean[:3] > 0.1).all() and (bn.running_mean[3:] == 0).all()


@pytest.mark.parametrize("stride,c_out", [(1, 4), (2, 8)])
@pytest.mark.parametrize("option", [0, 1, 2])
def test_tanglenas_weight_mixing_at_one_hot_equals_the_path(stride, c_out, option):
    torch.manual_seed(0)
    layer = MacroLayer(4, c_out, stride).eval()
    x = torch.randn(3, 4, 8, 8)
    with torch.no_grad():
        mixed = layer.mixed(x, F.one_hot(torch.tensor(option), 3).float())
        torch.testing.assert_close(mixed, layer(x, option), rtol=0, atol=1e-5)
