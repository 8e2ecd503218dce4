"""Contract tests every registered zero-cost proxy must pass (see ``proxies/base.py``).

Parametrized over ``PROXIES.list()``: registering a proxy enrols it. A proxy that cannot pass a
check is listed in ``EXPECTED_FAILURES`` with a reason; it still runs, as a strict xfail, so a
fix shows up as an unexpected pass and the entry must go.

Networks are tiny (NB201 with 4 channels and one cell per stage on 8x8 inputs, 1-D CNNs on
length-16 inputs) and the batch holds 8 samples of 4 classes, two per class.
"""

from __future__ import annotations

import copy
import math
import random

import numpy as np
import pytest
import torch
from torch import nn

from nasforge.estimate.proxies import PROXIES
from nasforge.estimate.proxies.base import ProxyBatch, ProxyError, preserved
from nasforge.estimate.proxies.evaluator import score_all
from nasforge.hardware.metrics import TaskShape
from nasforge.space import get_space

NAMES = PROXIES.list()
CLASSES = 4
DATA_KINDS = ("batch", "labels", "synthetic", "none")

#: (proxy, check) -> why it cannot pass. Checks: metadata, finite, determinism, identical, twins,
#: unchanged, rng, data, order, degenerate.
EXPECTED_FAILURES: dict[tuple[str, str], str] = {}

#: Per space: the space, the input shape and a few architectures (one all-convolution, one
#: mixed, one with dead or parameter-free parts).
SPACES = {
    "nb201": (lambda: get_space("nb201", channels=4, cells=1), (3, 8, 8), [
        "|nor_conv_3x3~0|+|nor_conv_1x1~0|nor_conv_3x3~1|+|nor_conv_1x1~0|nor_conv_3x3~1|nor_conv_3x3~2|",
        "|nor_conv_3x3~0|+|skip_connect~0|nor_conv_1x1~1|+|none~0|avg_pool_3x3~1|nor_conv_3x3~2|",
        "|avg_pool_3x3~0|+|skip_connect~0|none~1|+|skip_connect~0|none~1|avg_pool_3x3~2|",
    ]),
    "conv1d": (lambda: get_space("conv1d", channels=(4, 8), kernels=(3, 5), max_depth=2), (1, 16), [
        "c8k3s1-c4k5s2|plain|batch|relu",
        "c4k5s2-c8k3s1|res|none|gelu",
        "c8k3s2|res|batch|silu",
    ]),
}
#: Output independent of the input: node 3 of every cell is fed only by ``none``.
DEGENERATE = "|nor_conv_3x3~0|+|nor_conv_1x1~0|nor_conv_3x3~1|+|none~0|none~1|none~2|"


def cases(check: str) -> list:
    """``NAMES``, those listed for ``check`` marked as strict expected failures."""
    return [pytest.param(n, marks=pytest.mark.xfail(reason=EXPECTED_FAILURES[(n, check)], strict=True))
            if (n, check) in EXPECTED_FAILURES else n for n in NAMES]


def network(space_name: str, key: str, seed: int = 0) -> nn.Module:
    """The network of ``key`` initialised from ``seed``, in train mode (as the evaluator gives it)."""
    factory, shape, _ = SPACES[space_name]
    space = factory()
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = space.build(space.parse(key), TaskShape(shape, CLASSES))
    return model.train()


def batch_for(shape: tuple[int, ...], data_seed: int = 0, seed: int = 0, labels: int = 0) -> ProxyBatch:
    """8 Gaussian samples of ``shape``; ``labels`` rotates the label assignment (still 2 per class)."""
    gen = torch.Generator().manual_seed(data_seed)
    x = torch.randn(8, *shape, generator=gen)
    y = (torch.arange(8) + labels) % CLASSES
    return ProxyBatch(x, y, CLASSES, seed=seed)


def score(name: str, model: nn.Module, batch: ProxyBatch) -> float:
    """One proxy on a fresh memo, inside ``preserved`` (the evaluator's guarantee); errors propagate."""
    batch.clear()
    with preserved(model):
        return PROXIES.get(name)().score(model, batch)


def first(space_name: str = "nb201") -> tuple[nn.Module, tuple[int, ...]]:
    _, shape, keys = SPACES[space_name]
    return network(space_name, keys[0]), shape


# ----------------------------------------------------------------------------------- checks
@pytest.mark.parametrize("name", cases("metadata"))
def test_class_declares_name_data_and_paper(name):
    cls = PROXIES.get(name)
    assert cls.name == name, "the class's name must be the name it is registered under"
    assert cls.data in DATA_KINDS, f"data must be one of {DATA_KINDS}"
    assert cls.paper, "every proxy cites where it comes from"
    assert hasattr(cls(), "score"), "the evaluator constructs a proxy with no arguments"


@pytest.mark.parametrize("space_name", sorted(SPACES))
@pytest.mark.parametrize("name", cases("finite"))
def test_returns_a_finite_float_on_small_networks(name, space_name):
    _, shape, keys = SPACES[space_name]
    for key in keys:
        value = score(name, network(space_name, key), batch_for(shape))
        assert isinstance(value, float), f"{key}: {type(value).__name__}, not float"
        assert math.isfinite(value), f"{key}: {value}"


@pytest.mark.parametrize("name", cases("determinism"))
def test_same_seed_same_value(name):
    model, shape = first()
    a = score(name, model, batch_for(shape))
    again = score(name, model, batch_for(shape))  # the same network, a new batch from the same seeds
    rebuilt = score(name, network("nb201", SPACES["nb201"][2][0]), batch_for(shape))
    assert a == again == rebuilt


@pytest.mark.parametrize("name", cases("identical"))
def test_identical_networks_score_identically(name):
    model, shape = first("conv1d")
    twin = copy.deepcopy(model)
    assert score(name, model, batch_for(shape)) == score(name, twin, batch_for(shape))


def conv_twins(seed: int = 0) -> tuple[nn.Module, nn.Module]:
    """A 1-D CNN and the same network written with ``Conv2d`` (1 x k kernels) and the same weights."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        one = nn.Sequential(nn.Conv1d(2, 6, 3, padding=1), nn.BatchNorm1d(6), nn.ReLU(),
                            nn.Conv1d(6, 6, 3, stride=2, padding=1), nn.ReLU(),
                            nn.AdaptiveAvgPool1d(1), nn.Flatten(), nn.Linear(6, CLASSES))
        two = nn.Sequential(nn.Conv2d(2, 6, (1, 3), padding=(0, 1)), nn.BatchNorm2d(6), nn.ReLU(),
                            nn.Conv2d(6, 6, (1, 3), stride=(1, 2), padding=(0, 1)), nn.ReLU(),
                            nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(6, CLASSES))
    with torch.no_grad():
        for p, q in zip(one.parameters(), two.parameters(), strict=True):
            q.copy_(p.reshape(q.shape))
    return one.train(), two.train()


@pytest.mark.parametrize("name", cases("twins"))
def test_scores_the_function_not_the_layer_classes(name):
    """Conv1d and its Conv2d twin compute the same function with the same weights: same value."""
    one, two = conv_twins()
    b1 = batch_for((2, 16))
    b2 = ProxyBatch(b1.x.unsqueeze(2), b1.y, CLASSES)
    with torch.no_grad():
        assert torch.allclose(one(b1.x), two(b2.x), atol=1e-6)
    assert score(name, one, b1) == pytest.approx(score(name, two, b2), rel=1e-6, abs=1e-9)


def hooks(model: nn.Module) -> int:
    return sum(len(m._forward_hooks) + len(m._forward_pre_hooks) + len(m._backward_hooks)
               for m in model.modules())


@pytest.mark.parametrize("name", cases("unchanged"))
def test_leaves_the_network_unchanged(name):
    """Through the evaluator's ``score_all``: weights, buffers, dtypes, modes, grads, parameter
    objects, modules and hooks are as before, and so is the network's output."""
    for space_name in sorted(SPACES):
        model, shape = first(space_name)
        batch = batch_for(shape)
        probe = torch.randn(3, *shape, generator=torch.Generator().manual_seed(9))
        state = {k: v.clone() for k, v in model.state_dict().items()}
        params = [id(p) for p in model.parameters()]
        modules = [(n, type(m)) for n, m in model.named_modules()]
        hooks_before = hooks(model)
        with torch.no_grad():
            out = model.eval()(probe)
        model.train()
        values, _, errors = score_all(model, batch, [name])
        assert not errors, errors
        after = model.state_dict()
        for key, tensor in state.items():
            assert after[key].dtype == tensor.dtype and torch.equal(after[key], tensor), f"{key} changed"
        assert [id(p) for p in model.parameters()] == params
        assert [(n, type(m)) for n, m in model.named_modules()] == modules
        assert hooks(model) == hooks_before, "a hook was left on the network"
        assert all(m.training for m in model.modules())
        assert all(p.grad is None and p.requires_grad for p in model.parameters())
        with torch.no_grad():
            assert torch.equal(model.eval()(probe), out)


@pytest.mark.parametrize("name", cases("rng"))
def test_leaves_the_callers_random_state_alone(name):
    model, shape = first()
    torch.manual_seed(123)
    np.random.seed(123)
    random.seed(123)
    states = torch.get_rng_state(), np.random.get_state()[1].copy(), random.getstate()
    score(name, model, batch_for(shape))
    assert torch.equal(torch.get_rng_state(), states[0]), "torch's global generator moved"
    assert np.array_equal(np.random.get_state()[1], states[1]), "numpy's global generator moved"
    assert random.getstate() == states[2], "python's random module moved"


@pytest.mark.parametrize("name", cases("data"))
def test_reads_only_the_data_it_declares(name):
    """``none``/``synthetic``: other images and labels give the same value; ``batch``: other
    labels do; ``labels`` may read everything."""
    data = PROXIES.get(name).data
    model, shape = first()
    base = score(name, model, batch_for(shape))
    if data in ("none", "synthetic"):
        assert score(name, model, batch_for(shape, data_seed=5, labels=1)) == base
    if data == "batch":
        assert score(name, model, batch_for(shape, labels=1)) == base


@pytest.fixture(scope="module")
def together():
    """Every proxy on one network and batch, in registry order and reversed (shared passes)."""
    model, shape = first()
    forward = score_all(model, batch_for(shape), NAMES)
    backward = score_all(model, batch_for(shape), NAMES[::-1])
    return model, shape, forward, backward


@pytest.mark.parametrize("name", cases("order"))
def test_value_does_not_depend_on_the_other_proxies(name, together):
    model, shape, forward, backward = together
    alone = score(name, model, batch_for(shape))
    assert name not in forward[2] and name not in backward[2], (forward[2], backward[2])
    assert forward[0][name] == alone == backward[0][name]


@pytest.mark.parametrize("name", cases("degenerate"))
def test_degenerate_network_gives_a_value_or_a_proxy_error(name):
    """Output independent of the input (NB201 archs with a dead last node exist in the
    benchmark): a finite value, or a ProxyError saying why; never NaN or a crash."""
    model = network("nb201", DEGENERATE)
    try:
        value = score(name, model, batch_for((3, 8, 8)))
    except ProxyError as exc:
        assert str(exc)
    else:
        assert math.isfinite(value)
