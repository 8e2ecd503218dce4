"""FairNAS strict-fairness path sampling (nasforge.oneshot.fair, ``sampling="fair"``)."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest
import torch
from oneshot_toys import tiny_spaces, tiny_task

from nasforge.oneshot.base import get_method
from nasforge.oneshot.fair import fair_paths, path_count
from nasforge.oneshot.spos import begin_supernet, supernet_epoch
from nasforge.space.space import Space


@pytest.mark.parametrize("space", ["macro", "nb201"])
def test_every_option_of_every_decision_exactly_once_per_step(space):
    space = tiny_spaces()[space]
    rng = np.random.default_rng(0)
    m = path_count(space)
    assert m == max(len(c.options) for c in space.choices) and m > 2
    counts = {c.name: Counter() for c in space.choices}
    steps = 20
    for _ in range(steps):
        paths = fair_paths(space, rng)
        assert len(paths) == m
        for c in space.choices:
            assert sorted(map(c.index, (p[c.name] for p in paths))) == list(range(m))
            counts[c.name].update(p[c.name] for p in paths)
    assert all(set(n.values()) == {steps} for n in counts.values())  # strictly equal, not just on average


def test_a_decision_with_fewer_options_takes_each_and_repeats_some():
    space = Space({"a": [1, 2, 3, 4], "b": ["x", "y"]}, name="mixed")
    seen = set()
    for seed in range(10):
        paths = fair_paths(space, np.random.default_rng(seed))
        assert sorted(p["a"] for p in paths) == [1, 2, 3, 4]
        b = Counter(p["b"] for p in paths)
        assert b == Counter({"x": 2, "y": 2})  # two permutations of (x, y) fill the 4 slots
        seen.add(tuple(p["b"] for p in paths))
    assert len(seen) > 1  # the slots are drawn at random
    assert [p.key for p in fair_paths(space, np.random.default_rng(3))] == \
        [p.key for p in fair_paths(space, np.random.default_rng(3))]


class _Constrained(Space):
    name = "constrained"

    def is_valid(self, values):
        return values["a"] <= values["b"]


def test_a_space_that_rejects_every_fair_draw_is_named():
    # valid only when a's and b's permutations are equal (1 draw in 6): found by redrawing
    space = _Constrained({"a": [1, 2, 3], "b": [1, 2, 3]})
    for seed in range(30):
        paths = fair_paths(space, np.random.default_rng(seed))
        assert [p["a"] for p in paths] == [p["b"] for p in paths]
    never = _Constrained({"a": [2, 3], "b": [1, 2]})  # a=3 needs b>=3: no fair draw is valid
    with pytest.raises(ValueError, match="fair sampling.*space 'constrained'"):
        fair_paths(never, np.random.default_rng(0))


def test_one_fair_step_updates_every_options_weights():
    """After one step of ``fairnas`` every weight of the supernet has a gradient; one SPOS step
    leaves the options it did not draw untouched."""
    space, task = tiny_spaces()["macro"], tiny_task()
    common = {"epochs": 1, "batch_size": 24, "data_fraction": 0.5, "weight_decay": 0.0}
    untouched = {}
    for method in ("fairnas", "spos"):
        state = begin_supernet(space, task, get_method(method, **common).settings)
        before = [p.detach().clone() for p in state.supernet.weight_parameters()]
        supernet_epoch(state)
        after = list(state.supernet.weight_parameters())
        untouched[method] = sum(bool(torch.equal(a, b)) for a, b in zip(after, before, strict=True))
    assert untouched["fairnas"] == 0
    assert untouched["spos"] > 0


def test_fair_sampling_refuses_complexity_sampling():
    with pytest.raises(ValueError, match="complexity_sampling.*fair"):
        begin_supernet(tiny_spaces()["macro"], tiny_task(), get_method("fairnas", complexity_sampling=True).settings)
