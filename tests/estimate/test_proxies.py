"""Each zero-cost proxy against hand-computed values or known invariances on tiny networks."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch import nn

from nasforge.estimate.proxies import DEFAULT_PROXIES, PROXIES, get_proxy, parse_proxies
from nasforge.estimate.proxies.base import ProxyBatch, preserved
from nasforge.estimate.proxies.evaluator import ProxyEvaluator, score_all
from nasforge.space import get_space
from nasforge.task import task_from_arrays

K = 1e-5


def linear_batch(n: int = 6, d: int = 4, classes: int = 3, seed: int = 0) -> ProxyBatch:
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(n, d, generator=gen, dtype=torch.float64)
    y = torch.arange(n) % classes
    return ProxyBatch(x, y, classes)


def linear(d: int = 4, classes: int = 3, seed: int = 0) -> nn.Linear:
    torch.manual_seed(seed)
    return nn.Linear(d, classes, bias=False).double()


def ce_grad(model: nn.Linear, b: ProxyBatch) -> np.ndarray:
    """dL/dW of mean cross-entropy for logits x W^T, by hand."""
    w, x = model.weight.detach().numpy(), b.x.numpy()
    z = x @ w.T
    p = np.exp(z - z.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    onehot = np.eye(b.num_classes)[b.y.numpy()]
    return (p - onehot).T @ x / len(x)


def tiny_task(size: int = 8):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(200, 3, size, size)).astype(np.float32)
    return task_from_arrays(x, np.arange(200) % 10, name="tiny")


def tiny_space():
    return get_space("nb201", channels=4, cells=1)


def test_registry_lists_every_proxy():
    assert sorted(DEFAULT_PROXIES) == PROXIES.list()
    assert parse_proxies("synflow, nwot") == ("synflow", "nwot")
    with pytest.raises(KeyError, match="valid"):
        parse_proxies("synflow,nope")


def test_snip_grad_norm_plain_match_hand_gradients():
    model, b = linear(), linear_batch()
    g, w = ce_grad(model, b), model.weight.detach().numpy()
    assert get_proxy("snip").score(model, b) == pytest.approx(np.abs(w * g).sum())
    b.clear()
    assert get_proxy("grad_norm").score(model, b) == pytest.approx(np.linalg.norm(g))
    b.clear()
    assert get_proxy("plain").score(model, b) == pytest.approx((w * g).sum())
    assert get_proxy("l2_norm").score(model, b) == pytest.approx(np.linalg.norm(w))


def test_fisher_matches_hand_value():
    model, b = linear(), linear_batch()
    w, x = model.weight.detach().numpy(), b.x.numpy()
    z = x @ w.T
    p = np.exp(z - z.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    dz = (p - np.eye(3)[b.y.numpy()]) / len(x)
    expected = 0.5 * ((z * dz) ** 2).mean(0).sum()
    assert get_proxy("fisher").score(model, b) == pytest.approx(expected)


def test_grasp_matches_finite_difference_hessian():
    model, b = linear(), linear_batch()
    w = model.weight.detach().clone()

    def grad_at(weight: torch.Tensor) -> torch.Tensor:
        wt = weight.clone().requires_grad_(True)
        loss = nn.functional.cross_entropy(b.x @ wt.T, b.y)
        return torch.autograd.grad(loss, wt)[0]

    g = grad_at(w)
    eps = 1e-5
    hg = (grad_at(w + eps * g) - grad_at(w - eps * g)) / (2 * eps)
    assert get_proxy("grasp").score(model, b) == pytest.approx(float(-(w * hg).sum()), rel=1e-5)


def test_synflow_of_a_linear_chain_is_depth_times_flow_and_ignores_data():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 5, bias=False), nn.Linear(5, 3, bias=False))
    w1, w2 = (m.weight.detach().abs().double() for m in model)
    flow = float(torch.ones(3, dtype=torch.float64) @ w2 @ w1 @ torch.ones(4, dtype=torch.float64))
    a, b = linear_batch(seed=1), linear_batch(seed=2)
    a.x, b.x = a.x.float(), b.x.float() * 100
    assert get_proxy("synflow").score(model, a) == pytest.approx(2 * flow)
    assert get_proxy("synflow").score(model, b) == pytest.approx(2 * flow)


def test_jacov_and_epe_nas_of_identical_jacobians_are_the_minimum():
    model, b = linear(), linear_batch()  # linear: the same Jacobian for every input
    n = len(b.x)
    expected = -((n - 1) * (math.log(K) + 1 / K) + math.log(n + K) + 1 / (n + K))
    assert get_proxy("jacov").score(model, b) == pytest.approx(expected, rel=1e-6)
    b.clear()
    counts = np.bincount(b.y.numpy())
    assert get_proxy("epe_nas").score(model, b) == pytest.approx(float((counts**2).sum() * math.log(1 + K)))


def test_nwot_hand_value_and_constant_codes_minimum():
    b = ProxyBatch(torch.tensor([[1.0, -1.0], [1.0, 1.0]]), torch.tensor([0, 1]), 2)
    # codes (1,0) and (1,1): N_A = 2, d_H = 1, K = [[2,1],[1,2]], K + I has determinant 8
    assert get_proxy("nwot").score(nn.Sequential(nn.ReLU()), b) == pytest.approx(math.log(8))
    dead = nn.Sequential(nn.Linear(4, 16), nn.ReLU())
    nn.init.zeros_(dead[0].weight)
    nn.init.zeros_(dead[0].bias)
    x = linear_batch().x.float()
    batch = ProxyBatch(x, torch.zeros(len(x), dtype=torch.long), 2)
    low = get_proxy("nwot").score(dead, batch)
    assert low == pytest.approx(math.log(1 + len(x) * 16))
    alive = nn.Sequential(nn.Linear(4, 16), nn.ReLU())
    assert get_proxy("nwot").score(alive, batch) > low


def test_epsinas_is_zero_when_outputs_scale_with_the_weight():
    b = linear_batch()
    b.x = b.x.float()
    assert get_proxy("epsinas").score(nn.Linear(4, 3), b) == pytest.approx(0.0, abs=1e-6)


def test_epsinas_precision_changes_only_rounding_when_nothing_underflows():
    from nasforge.estimate.proxies.epsinas import Epsinas

    b = linear_batch()
    b.x = b.x.float()
    net = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 3), nn.Tanh())
    double = Epsinas((0.1, 1.0), torch.float64).score(net, b)
    single = Epsinas((0.1, 1.0), torch.float32).score(net, b)
    assert double > 0.01 and single == pytest.approx(double, rel=1e-4)


def test_gradsign_matches_hand_per_sample_signs():
    model, b = linear(), linear_batch()
    w, x = model.weight.detach().numpy(), b.x.numpy()
    total = np.zeros_like(w)
    for i in range(len(x)):
        z = x[i] @ w.T
        p = np.exp(z - z.max())
        p /= p.sum()
        total += np.sign(np.outer(p - np.eye(3)[b.y[i]], x[i]))
    assert get_proxy("gradsign").score(model, b) == pytest.approx(np.abs(total).sum())


def test_params_and_flops_equal_the_builders_counts():
    from nasforge.hardware.metrics import count_flops, count_params

    space, task = tiny_space(), tiny_task()
    arch = space.sample(np.random.default_rng(0))
    ev = ProxyEvaluator(("params", "flops"), task, space)
    result = ev.evaluate(arch)
    model = space.build(arch, task)
    assert result.metrics["params"] == count_params(model)
    assert result.metrics["flops"] == count_flops(model, (3, 8, 8))


def test_zen_reads_no_data_and_follows_the_seed():
    space, task = tiny_space(), tiny_task()
    arch = space.parse("|nor_conv_3x3~0|+|skip_connect~0|nor_conv_1x1~1|+|none~0|avg_pool_3x3~1|nor_conv_3x3~2|")
    model = ProxyEvaluator(task=task, space=space).build(arch)
    gen = torch.Generator().manual_seed(1)
    a = ProxyBatch(torch.randn(16, 3, 8, 8, generator=gen), torch.arange(16) % 10, 10, seed=0)
    b = ProxyBatch(torch.randn(16, 3, 8, 8, generator=gen) * 5, torch.arange(16) % 10, 10, seed=0)
    c = ProxyBatch(a.x, a.y, 10, seed=1)
    zen = get_proxy("zen")
    assert zen.score(model, a) == pytest.approx(zen.score(model, b))
    assert zen.score(model, a) != pytest.approx(zen.score(model, c))


def test_every_proxy_leaves_the_network_unchanged():
    space, task = tiny_space(), tiny_task()
    ev = ProxyEvaluator(task=task, space=space, batch_size=16)
    for arch in (space.sample(np.random.default_rng(s)) for s in range(3)):
        model = ev.build(arch)
        before = {k: v.clone() for k, v in model.state_dict().items()}
        values, _, errors = score_all(model, ev.batch(), DEFAULT_PROXIES)
        assert set(values) | set(errors) == set(DEFAULT_PROXIES)
        after = model.state_dict()
        for key, tensor in before.items():
            assert after[key].dtype == tensor.dtype
            assert torch.equal(after[key], tensor), f"{key} changed ({arch.key})"
        assert model.training and all(m.training for m in model.modules())
        assert all(p.grad is None and p.requires_grad for p in model.parameters())


def test_preserved_restores_grads_modes_and_dtype():
    model = nn.Sequential(nn.Linear(2, 2), nn.BatchNorm1d(2))
    model.eval()
    model[0].weight.grad = torch.ones(2, 2)
    with preserved(model):
        model.double().train()
        model[0].weight.data.fill_(3.0)
        model[0].weight.grad = None
        model(torch.randn(4, 2, dtype=torch.float64))
    assert model[0].weight.dtype == torch.float32 and not model.training
    assert torch.equal(model[0].weight.grad, torch.ones(2, 2))
    assert torch.equal(model[1].running_mean, torch.zeros(2))


def test_evaluator_is_deterministic_and_reports_times():
    space, task = tiny_space(), tiny_task()
    arch = space.sample(np.random.default_rng(3))
    names = ("snip", "grad_norm", "nwot", "jacov", "synflow")
    first = ProxyEvaluator(names, task, space, batch_size=16, seed=0, clock="cpu").evaluate(arch)
    again = ProxyEvaluator(names, task, space, batch_size=16, seed=0).evaluate(arch)
    other = ProxyEvaluator(names, task, space, batch_size=16, seed=1).evaluate(arch)
    assert first.ok and first.metrics == again.metrics
    assert first.metrics["snip"] != other.metrics["snip"]
    seconds = first.info["seconds"]
    assert set(seconds) == set(names) and all(s > 0 for s in seconds.values())
    # grad_norm reuses snip's pass and is charged for it (CPU time: immune to machine load)
    assert seconds["grad_norm"] >= 0.5 * seconds["snip"]


def test_cpu_clock_reports_thread_time():
    space, task = tiny_space(), tiny_task()
    arch = space.sample(np.random.default_rng(4))
    result = ProxyEvaluator(("snip", "nwot"), task, space, batch_size=16, clock="cpu").evaluate(arch)
    assert result.info["clock"] == "cpu" and all(s > 0 for s in result.info["seconds"].values())
    with pytest.raises(ValueError, match="clock"):
        ProxyEvaluator(clock="gpu")


def test_compute_scores_through_the_experiment_in_input_order():
    """Rows come in input order (a repeated arch once), from 1 or 2 workers alike, with the
    values the evaluator gives on its own; an arch no proxy can score keeps its error."""
    from nasforge.bench.proxy_study import compute

    space, task = tiny_space(), tiny_task()
    dead = space.parse("|none~0|+|none~0|none~1|+|none~0|none~1|none~2|")
    a, b, c = (space.sample(np.random.default_rng(s)) for s in range(3))
    archs = [a, dead, b, a, c]
    names = ("zen", "epsinas")
    streamed = []
    rows = compute(space, task, archs, names, batch_size=8, seed=0, workers=1, on_row=streamed.append)
    assert streamed == rows
    assert [r.key for r in rows] == [a.key, dead.key, b.key, c.key]
    ev = ProxyEvaluator(names, task, space, batch_size=8, seed=0, threads=1)
    for row in rows[::2]:
        assert row.values == ev.evaluate(space.parse(row.key)).metrics and not row.errors
        assert set(row.seconds) == set(names) and row.build_seconds > 0
    assert rows[1].values == {} and rows[1].errors["*"].startswith("RuntimeError: every proxy failed")
    parallel = compute(space, task, archs, names, batch_size=8, seed=0, workers=2)
    assert [(r.key, r.values, r.errors) for r in parallel] == [(r.key, r.values, r.errors) for r in rows]
    assert compute(space, task, [], names) == []
