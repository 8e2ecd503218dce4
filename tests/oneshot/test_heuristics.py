"""BigNAS heuristics of the sandwich rule (nasforge.oneshot.heuristics)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from oneshot_toys import tiny_spaces, tiny_task

from nasforge.oneshot.base import get_method
from nasforge.oneshot.heuristics import (
    ComplexitySampler,
    add_decay,
    block_flops,
    residual_blocks,
)
from nasforge.oneshot.spos import begin_supernet
from nasforge.run.oneshot import search_supernet

TINY = {"epochs": 2, "batch_size": 12, "search_trials": 2, "calib_batches": 1, "eval_images": 8}


def test_zero_init_last_bn_zeroes_every_residual_blocks_last_gamma():
    space, task = tiny_spaces()["macro"], tiny_task()
    state = begin_supernet(space, task, get_method("sandwich", zero_init_last_bn=True).settings)
    blocks = residual_blocks(state.supernet)
    assert len(blocks) == 5  # 8 layers, 3 of them open a stage (stride 2)
    assert all(torch.all(b.bn3.weight == 0) for b in blocks)
    others = [m for m in state.supernet.modules() if hasattr(m, "bn3") and m not in blocks]
    assert others and all(torch.all(m.bn3.weight == 1) for m in others)
    with pytest.raises(ValueError, match="'nb201' supernet has no residual blocks"):
        begin_supernet(tiny_spaces()["nb201"], task, get_method("sandwich", zero_init_last_bn=True).settings)
    with pytest.raises(ValueError, match="set bn_affine true"):
        begin_supernet(space, task, get_method("sandwich", zero_init_last_bn=True, bn_affine=False).settings)


def test_decay_only_on_the_largest_childs_weights_never_bn_or_bias():
    space, task = tiny_spaces()["nb201"], tiny_task()
    state = begin_supernet(space, task, get_method("sandwich", decay_scope="largest", weight_decay=0.1).settings)
    assert all(g["weight_decay"] == 0 for g in state.opt.param_groups)
    assert state.decayed and all(p.dim() > 1 for p in state.decayed)
    assert {id(p) for p in state.supernet.parameters() if p.dim() == 1}.isdisjoint(map(id, state.decayed))
    a, b = torch.nn.Parameter(torch.ones(2, 2)), torch.nn.Parameter(torch.ones(2, 2))
    a.grad = torch.zeros(2, 2)
    add_decay([a, b], 0.1)
    assert torch.allclose(a.grad, torch.full((2, 2), 0.1)) and b.grad is None  # unused weights: no decay
    with pytest.raises(ValueError, match="decay_scope='largest'.*sandwich"):
        begin_supernet(space, task, get_method("spos", decay_scope="largest").settings)


def test_largest_only_decay_matches_by_hand_on_one_step():
    """One sandwich step (largest + smallest, no momentum): with ``decay_scope="largest"`` a weight
    the largest path uses (the stem kernel) moves as with decay on all; a BN gamma and a weight
    only the smallest uses (the identity's 1x1 projection) move by exactly ``lr * wd * w`` less."""
    space, task = tiny_spaces()["macro"], tiny_task()
    common = {**TINY, "epochs": 1, "lr": 0.05, "momentum": 0.0, "num_random": 0, "distill": False,
              "weight_decay": 0.5, "data_fraction": 0.5, "grad_clip": 1e9}
    before, after = {}, {}
    for scope in ("all", "largest"):
        method = get_method("sandwich", **common, decay_scope=scope)
        state = method.begin(space, task)
        before[scope] = {k: v.clone() for k, v in state.supernet.state_dict().items()}
        method.epoch(state)
        after[scope] = state.supernet.state_dict()
    assert all(torch.equal(before["all"][k], before["largest"][k]) for k in before["all"])

    def moved(scope, name):
        return after[scope][name] - before[scope][name]

    torch.testing.assert_close(moved("all", "stem.0.weight"), moved("largest", "stem.0.weight"))
    for name in ("stem.1.weight", "layers.0.projection.0.weight"):
        expected = -common["lr"] * common["weight_decay"] * before["all"][name]
        assert expected.abs().max() > 1e-3
        torch.testing.assert_close(moved("all", name) - moved("largest", name), expected, rtol=1e-4, atol=1e-6)


def test_complexity_sampling_spreads_flops_evenly():
    from nasforge.hardware.metrics import TaskShape

    space, shape = tiny_spaces()["macro"], TaskShape((3, 8, 8), 3)
    sampler = ComplexitySampler(space, shape, seed=0, pool=400)
    flops = block_flops(space, shape)
    rng = np.random.default_rng(1)
    spread = np.array([flops(sampler.sample(rng)) for _ in range(300)])
    uniform = np.array([flops(space.sample(rng)) for _ in range(300)])
    edges = np.linspace(sampler.flops[0], sampler.flops[-1], 4)

    def shares(values):
        return np.histogram(np.clip(values, edges[0], edges[-1]), bins=edges)[0] / len(values)

    assert shares(spread).min() > 0.25  # about a third in each FLOPs tercile
    assert shares(uniform).min() < 0.2  # uniform sampling crowds the middle
    assert flops(space.arch(dict.fromkeys((c.name for c in space.choices), 2))) > sampler.flops[-1] * 0.9


def test_sandwich_trains_with_every_heuristic_and_is_seeded():
    space, task = tiny_spaces()["mbconv"], tiny_task()
    settings = {**TINY, "zero_init_last_bn": True, "decay_scope": "largest", "complexity_sampling": True}
    a = get_method("sandwich", **settings).train(space, task, search=search_supernet)
    b = get_method("sandwich", **settings).train(space, task, search=search_supernet)
    assert [r.train_loss for r in a.trajectory] == [r.train_loss for r in b.trajectory]
    assert np.isfinite([r.train_loss for r in a.trajectory]).all() and a.arch == b.arch
