"""Every registered strategy x {train, tabular, proxy, supernet, predictor} x every space, through
``nasforge search`` with tiny budgets: each cell completes with a run directory or is refused
before starting with a message naming the incompatibility (``tests/matrix_harness.py``)."""

from __future__ import annotations

import pytest
from matrix_harness import EVALUATORS, SPACE_SETTINGS, prepare, run_cell

from nasforge.space.registry import SPACES
from nasforge.strategy.base import STRATEGIES

#: (evaluator, space) pairs that must be refused, and a word the message must hold
REFUSED = {
    ("tabular", "conv1d"): "there is no table of this space",
    ("tabular", "joint"): "there is no table of this space",
    ("tabular", "mbconv"): "there is no table of this space",
    ("supernet", "conv1d"): "needs a space with a supernet",
    ("supernet", "joint"): "needs a space with a supernet",
}


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    return prepare(tmp_path_factory.mktemp("matrix"))


def test_the_matrix_covers_every_registered_space():
    assert set(SPACES.list()) == set(SPACE_SETTINGS)


@pytest.mark.slow
@pytest.mark.parametrize("evaluator", EVALUATORS)
@pytest.mark.parametrize("strategy", STRATEGIES.list())
def test_cell(strategy, evaluator, files, tmp_path):
    for space in SPACE_SETTINGS:
        cell = run_cell(strategy, evaluator, space, files, tmp_path / space)
        expected = REFUSED.get((evaluator, space))
        if expected is None:
            assert cell.status == "completes", f"{strategy} x {evaluator} x {space} refused: {cell.message}"
        else:
            assert cell.status == "refused", f"{strategy} x {evaluator} x {space} should be refused"
            assert expected in cell.message and f"evaluator {evaluator!r}" in cell.message, cell.message
            assert f"space '{space if space != 'joint' else 'conv1d+joint'}'" in cell.message, cell.message
