"""Contract tests every registered space (and a user-defined one) must pass."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from nasforge.space import SPACES, Space, get_space

EXAMPLE_INPUT = {"conv1d": (1, 40), "conv1d+joint": (1, 40), "conv1d+quant": (1, 40)}  # every other built-in space takes CIFAR-sized images


class FakeTask:
    def __init__(self, shape, classes=10):
        self.input_shape = shape
        self.num_classes = classes
        self.name = "fake"


def custom_space() -> Space:
    def build(arch, task):
        return torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(int(np.prod(task.input_shape)), arch["width"]),
                                   torch.nn.ReLU(), torch.nn.Linear(arch["width"], task.num_classes))

    return Space({"width": [8, 16, 32], "act": ["relu", "gelu"]}, build=build, name="mlp")


#: settings of the registered spaces that cannot be built without any (hf-lm reads a checkpoint's config.json)
SPACE_SETTINGS = {"hf-lm": {"model": str(Path(__file__).parents[1] / "data" / "tiny-llama")}}
SPACE_FACTORIES = {name: (lambda n=name: get_space(n, **SPACE_SETTINGS.get(n, {}))) for name in SPACES.list()} | \
    {"custom": custom_space}


@pytest.fixture(params=sorted(SPACE_FACTORIES))
def space(request) -> Space:
    return SPACE_FACTORIES[request.param]()


def test_sample_is_valid_and_keys_round_trip(space):
    rng = np.random.default_rng(0)
    for _ in range(20):
        arch = space.sample(rng)
        assert space.parse(arch.key) == arch
        assert space.parse(arch.body) == arch
        assert space.from_json(arch.to_json()) == arch
        assert json.loads(arch.to_json())["key"] == arch.key
        assert space.arch(arch.to_dict()) == arch
        assert hash(arch) == hash(space.parse(arch.key))


def test_sampling_is_seeded(space):
    a = [space.sample(np.random.default_rng(1)).key for _ in range(5)]
    b = [space.sample(np.random.default_rng(1)).key for _ in range(5)]
    assert a == b


def test_mutation_is_one_edit_neighbour(space):
    rng = np.random.default_rng(2)
    for _ in range(10):
        arch = space.sample(rng)
        neighbours = space.neighbours(arch)
        keys = [n.key for n in neighbours]
        assert arch.key not in keys and len(keys) == len(set(keys))
        child = space.mutate(arch, rng)
        assert child.key in keys


def test_encoding_is_one_hot_per_choice(space):
    arch = space.sample(np.random.default_rng(3))
    vec = space.encode(arch)
    assert vec.shape == (space.encoding_size,)
    assert vec.sum() == len(space.choices)
    assert set(np.unique(vec)) <= {0.0, 1.0}


def test_bad_values_name_the_decision(space):
    arch = space.sample(np.random.default_rng(4))
    name = space.choices[0].name
    with pytest.raises(ValueError, match=name):
        space.arch({**arch.to_dict(), name: "no-such-option"})
    with pytest.raises(ValueError, match="missing"):
        space.arch({k: v for k, v in arch.to_dict().items() if k != name})
    with pytest.raises(ValueError, match="not an architecture key"):
        space.parse("certainly not a key")


def test_build_gives_logits(space):
    if not space.can_build:
        pytest.skip(f"{space.name} has no builder")
    if getattr(space, "task_kind", None) == "sequence":  # a language model: token ids in, logits per position out
        task = FakeTask((16,), classes=50)
        model = space.build(space.sample(np.random.default_rng(5)), task).eval()
        with torch.no_grad():
            out = model(torch.randint(0, 50, (2, 16)))
        assert out.shape == (2, 16, 50)
        return
    task = FakeTask(EXAMPLE_INPUT.get(space.name, (3, 32, 32)) if space.name != "mlp" else (1, 40))
    arch = space.sample(np.random.default_rng(5))
    model = space.build(arch, task).eval()
    with torch.no_grad():
        out = model(torch.randn(2, *task.input_shape))
    assert out.shape == (2, task.num_classes)


def test_empty_space_is_refused():
    with pytest.raises(ValueError, match="empty"):
        Space({})
    with pytest.raises(ValueError, match="no options"):
        Space({"a": []})
