from __future__ import annotations

import numpy as np
import pytest

from nasforge.task.split import stratified_split


def test_split_is_stratified_exact_and_disjoint() -> None:
    y = np.repeat(np.arange(5), [100, 50, 30, 11, 9])
    kept, held = stratified_split(y, 0.2, seed=3)
    assert len(held) == 40 and len(kept) == 160
    assert np.array_equal(np.sort(np.concatenate([kept, held])), np.arange(len(y)))
    assert np.all(np.diff(kept) > 0) and np.all(np.diff(held) > 0)
    counts = np.bincount(y[held], minlength=5)
    assert np.all(np.abs(counts - 0.2 * np.bincount(y)) <= 1)


def test_split_is_deterministic_per_seed() -> None:
    y = np.random.default_rng(0).integers(0, 4, size=300)
    a, b, c = (stratified_split(y, 0.25, seed=s)[1] for s in (7, 7, 8))
    assert np.array_equal(a, b)
    assert not np.array_equal(a, c)


def test_every_class_stays_in_the_kept_part() -> None:
    y = np.array([0] * 10 + [1, 2, 2])
    kept, held = stratified_split(y, 0.5, seed=0)
    assert set(y[kept]) == {0, 1, 2}
    assert len(held) == 6 and set(y[held]) == {0, 2}


@pytest.mark.parametrize("fraction", [0.0, 1.0, -0.1])
def test_bad_fraction(fraction: float) -> None:
    with pytest.raises(ValueError, match="fraction"):
        stratified_split(np.arange(10) % 2, fraction, seed=0)
