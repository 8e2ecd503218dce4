"""Gradient relaxations move architecture parameters toward the clearly better operation.

The synthetic problem: one edge, inputs x, target ``2 * op*(x)`` for one candidate ``op*``
(squared error); only the architecture parameters train, sampled through the supernet's own
``plan`` (softmax = DARTS, gumbel = GDAS, gumbel_soft = FBNet, binary = ProxylessNAS, partial
channels = PC-DARTS). TangleNAS: the same on one entangled macro layer.
"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from oneshot_toys import tiny_spaces, tiny_task

from nasforge.hardware.metrics import TaskShape
from nasforge.oneshot.base import OneShotSettings
from nasforge.oneshot.gradient import DARTS
from nasforge.oneshot.macro import MacroLayer
from nasforge.oneshot.nb201 import NB201Supernet, _apply
from nasforge.space.nb201 import OPS

SHAPE = TaskShape((3, 8, 8), 10)


@pytest.mark.parametrize("mode,partial", [("softmax", 1), ("gumbel", 1), ("gumbel_soft", 1),
                                          ("binary", 1), ("softmax", 2)])
@pytest.mark.parametrize("best", ["avg_pool_3x3", "nor_conv_3x3"])
def test_relaxation_moves_alphas_to_the_better_op(mode, partial, best):
    torch.manual_seed(0)
    supernet = NB201Supernet(tiny_spaces()["nb201"], SHAPE, partial=partial)
    supernet.generator = torch.Generator().manual_seed(0)
    supernet.mode = mode
    edge = supernet.blocks[1].edges["1_0"].eval()
    x = torch.randn(16, 4, 8, 8)
    with torch.no_grad():
        target = 2 * edge.single(x, OPS.index(best))
    opt = torch.optim.Adam([supernet.alphas], lr=0.05)
    for _ in range(100):
        loss = (_apply(edge, x, supernet.plan()[0]) - target).pow(2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    probs = F.softmax(supernet.alphas[0].detach(), dim=0)
    assert OPS[int(probs.argmax())] == best and probs.max() > 0.5, probs


@pytest.mark.parametrize("best", [0, 1, 2])
def test_tanglenas_moves_alphas_to_the_better_option(best):
    torch.manual_seed(0)
    layer = MacroLayer(4, 4, 1).eval()
    for p in layer.parameters():
        p.requires_grad_(False)
    x = torch.randn(16, 4, 8, 8)
    with torch.no_grad():
        target = layer(x, best)
    alphas = torch.zeros(3, requires_grad=True)
    opt = torch.optim.Adam([alphas], lr=0.05)
    for _ in range(100):
        loss = (layer.mixed(x, F.softmax(alphas, dim=0)) - target).pow(2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert int(alphas.argmax()) == best


def test_second_order_darts_reduces_to_first_order_for_a_tiny_step():
    """With xi -> 0 the unrolled gradient equals the first-order one (finite differences)."""
    task = tiny_task()
    x, y = torch.from_numpy(task.x_train[:8]), torch.from_numpy(task.y_train[:8])
    grads = {}
    for order, xi in ((1, 1e-6), (2, 1e-6), ("2 big", 0.5)):
        torch.manual_seed(0)
        net = NB201Supernet(tiny_spaces()["nb201"], task).train()
        settings = OneShotSettings(order=1 if order == 1 else 2, weight_decay=0.0)
        w_opt = torch.optim.SGD(net.weight_parameters(), lr=xi)
        a_opt = torch.optim.SGD(net.arch_parameters(), lr=0.0)
        for bn in net.modules():  # no running-stat drift between the extra forwards
            if isinstance(bn, torch.nn.BatchNorm2d):
                bn.momentum = 0.0
        DARTS().arch_step(net, a_opt, w_opt, x, y, x, y, settings)
        grads[order] = net.alphas.grad.clone()
    torch.testing.assert_close(grads[2], grads[1], rtol=1e-2, atol=1e-5)
    assert (grads["2 big"] - grads[1]).abs().max() > 1e-4  # the Hessian term is really there
