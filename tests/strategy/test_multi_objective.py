"""Multi-objective BANANAS (issue 21): hypervolume improvement over free costs.

The acquisition's geometry against pymoo's hypervolume, and the strategy against evolution,
NSGA-II and random search on NAS-Bench-Macro's (accuracy, params) front (the table prices params
without a query, as a run's cost source does).
"""

from __future__ import annotations

import numpy as np
import pytest

from nasforge.bench.protocol import Job, run_one
from nasforge.core.objectives import Objective
from nasforge.core.pareto import dominance_gap, hypervolume, hypervolume_improvement
from nasforge.core.paths import data_dir
from nasforge.core.services import Services
from nasforge.estimate.benchmarks import MACRO_FILE
from nasforge.space.registry import get_space
from nasforge.strategy.base import get_strategy


@pytest.mark.parametrize("columns", [2, 3])
def test_improvement_is_the_hypervolume_difference(columns):
    rng = np.random.default_rng(columns)
    front = rng.random((6, columns))
    ref = [1.1] * columns
    cands = rng.random((40, columns))
    expected = [hypervolume(np.vstack([front, c]), ref) - hypervolume(front, ref) for c in cands]
    assert np.allclose(hypervolume_improvement(front, cands, ref), expected, atol=1e-12)


def test_dominance_gap_is_the_additive_epsilon():
    front = np.array([[0.1, 0.9], [0.4, 0.5], [0.8, 0.2]])
    gap = dominance_gap(front, np.array([[0.5, 0.6], [0.05, 0.95], [0.9, 0.95]]))
    assert np.allclose(gap, [0.1, 0.0, 0.45])


def _setup(objectives, cost):
    strategy = get_strategy("bananas", n_init=2, surrogate="mlp_ensemble", multi_objective=True)
    services = Services(cost=cost)
    strategy.setup(get_space("macro"), [Objective.parse(o) for o in objectives], (), 0, services)
    return strategy


def test_forced_multi_objective_names_what_cannot_be_priced():
    def cost(metric):
        raise ValueError(f"cost {metric!r} is not available")

    with pytest.raises(ValueError, match="priced without training.*val_loss"):
        _setup(["accuracy:max", "val_loss:min"], cost)


def test_auto_falls_back_to_the_first_objective_without_prices():
    strategy = get_strategy("bananas", n_init=2, surrogate="mlp_ensemble")
    strategy.setup(get_space("macro"), [Objective.parse("accuracy:max"), Objective.parse("val_loss:min")], (), 0,
                   Services())
    assert strategy._pricing is None


@pytest.mark.skipif(not (data_dir() / MACRO_FILE).is_file(), reason="no NAS-Bench-Macro table")
def test_beats_evolution_nsga2_and_random_on_the_macro_front():
    objectives = ("accuracy:max", "params:min")
    seeds, queries = range(5), 25

    def mean_hv(strategy, **settings):
        return float(np.mean([run_one(Job("macro", strategy, s, queries, objectives, settings)).hypervolume[-1]
                              for s in seeds]))

    ours = mean_hv("bananas")
    peers = {name: mean_hv(name) for name in ("random", "evolution", "nsga2")}
    single = mean_hv("bananas", multi_objective=False)
    assert all(ours > hv for hv in peers.values()), (ours, peers)
    assert ours > single, (ours, single)  # the second objective is what the acquisition adds
