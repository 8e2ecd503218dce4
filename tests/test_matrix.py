"""Every registered strategy x {train, tabular, proxy, supernet, predictor} x every space, through
``nasforge search`` with tiny budgets: each cell completes with a run directory or is refused
before starting with a message naming the incompatibility (``tests/matrix_harness.py``)."""

from __future__ import annotations

import pytest
from matrix_harness import EVALUATORS, SPACE_SETTINGS, is_oneshot, prepare, run_cell, strategies

from nasforge.oneshot.base import METHODS
from nasforge.space.registry import SPACES

#: (evaluator, space) pairs that must be refused, and a word the message must hold
REFUSED = {
    ("tabular", "conv1d"): "there is no table of this space",
    ("tabular", "joint"): "there is no table of this space",
    ("tabular", "mbconv"): "there is no table of this space",
    ("supernet", "conv1d"): "it needs a space with a supernet",
    ("supernet", "joint"): "it needs a space with a supernet",
    ("tabular", "quant"): "there is no table of this space",
    ("supernet", "quant"): "it needs a space with a supernet",
    # hf-lm's sub-networks inherit a checkpoint's weights: only the lm-subnet evaluator scores them
    ("train", "hf-lm"): "space 'hf-lm' has no model builder",
    ("tabular", "hf-lm"): "there is no table of this space",
    ("proxy", "hf-lm"): "space 'hf-lm' has no model builder",
    ("supernet", "hf-lm"): "it needs a space with a supernet",
    ("predictor", "hf-lm"): "predictor data no-measurements-of-hf-lm does not exist",
    ("tabular", "vit"): "there is no table of this space",
    ("tabular", "gpt"): "there is no table of this space",
    ("proxy", "gpt"): "the zero-cost proxies score classifiers of float inputs",
}


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    return prepare(tmp_path_factory.mktemp("matrix"))


def test_the_matrix_covers_every_registered_space():
    assert set(SPACES.list()) == set(SPACE_SETTINGS)


@pytest.mark.slow
@pytest.mark.parametrize("evaluator", EVALUATORS)
@pytest.mark.parametrize("strategy", strategies())
def test_cell(strategy, evaluator, files, tmp_path):
    for space in SPACE_SETTINGS:
        cell = run_cell(strategy, evaluator, space, files, tmp_path / space)
        expected = expected_refusal(strategy, evaluator, space)
        if expected is None:
            assert cell.status == "completes", f"{strategy} x {evaluator} x {space} refused: {cell.message}"
        else:
            assert cell.status == "refused", f"{strategy} x {evaluator} x {space} should be refused"
            assert expected in cell.message, cell.message


def expected_refusal(strategy, evaluator, space):
    """What the refusal of a cell must say, or ``None`` for a cell that must complete."""
    name = {"joint": "conv1d+joint", "quant": "conv1d+quant"}.get(space, space)
    if is_oneshot(strategy):
        if evaluator != "train":
            return f"one-shot method {strategy!r} scores architectures with its own supernet; evaluator " \
                   f"{evaluator!r} does not apply"
        if space not in METHODS.get(strategy).supported_spaces():
            return f"one-shot method {strategy!r} cannot search space {name!r}"
        return None
    reason = REFUSED.get((evaluator, space))
    return None if reason is None else f"evaluator {evaluator!r} cannot search space {name!r}: {reason}"
