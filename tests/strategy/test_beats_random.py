"""Search strategies beat random search on NAS-Bench-201 CIFAR-10 (10 fixed seeds, mean regret).

Evolution, local search and the TPE adapter at 100 queries; the BANANAS-style strategy, whose
surrogate is refitted every query (the slowest to run), at 50; REINFORCE, which learns slowly by
design, at 300. Runs go through the benchmark protocol's own
loop (:func:`nasforge.bench.protocol.run_one`), in this process.
"""

from __future__ import annotations

import numpy as np
import pytest

from nasforge.bench.protocol import Job, run_one
from nasforge.core.paths import data_dir
from nasforge.estimate.benchmarks import NB201_FILE

pytestmark = pytest.mark.skipif(not (data_dir() / NB201_FILE).is_file(), reason="no NB201 table (NASFORGE_DATA)")

SEEDS = range(10)
BENCHMARK = "nb201-cifar10"


def mean_regret(strategy: str, queries: int) -> float:
    return float(np.mean([run_one(Job(BENCHMARK, strategy, seed, queries)).regret[-1] for seed in SEEDS]))


@pytest.fixture(scope="module")
def random_regret() -> dict[int, float]:
    curves = [run_one(Job(BENCHMARK, "random", seed, 300)).regret for seed in SEEDS]
    return {q: float(np.mean([c[q - 1] for c in curves])) for q in (50, 100, 300)}


@pytest.mark.parametrize(("strategy", "queries"), [("evolution", 100), ("local", 100), ("bananas", 50), ("tpe", 100)])
def test_beats_random(strategy, queries, random_regret):
    ours = mean_regret(strategy, queries)
    assert ours < random_regret[queries], (f"{strategy}: mean regret {ours:.3f} vs random "
                                           f"{random_regret[queries]:.3f} at {queries} queries")


def test_reinforce_beats_random_at_300_queries(random_regret):
    ours = mean_regret("reinforce", 300)
    assert ours < random_regret[300], f"reinforce: mean regret {ours:.3f} vs random {random_regret[300]:.3f}"
