"""FBNetV3's loop: Sobol candidates under a constraint, predictor-picked batches, constraint family."""

from __future__ import annotations

import numpy as np
import pytest

from nasforge.estimate.base import Evaluator
from nasforge.estimate.predictors.fbnetv3 import FBNetV3Search, sobol_archs
from nasforge.estimate.predictors.stats import FreeStats
from nasforge.space.joint import JointSpace


class Fake(Evaluator):
    """No training: a score that rewards width and a mid learning rate."""

    def _evaluate(self, arch):
        width = sum(int(arch[f"channels_{i}"]) for i in range(int(arch["depth"])))
        return {"val_accuracy": 0.5 + 0.004 * width - abs(np.log10(arch["lr"]) + 2) * 0.1}


def test_sobol_candidates_are_distinct_and_feasible():
    space = JointSpace("conv1d", recipe=["lr"])
    stats = FreeStats(space, (1, 40), 10)
    archs = sobol_archs(space, 20, seed=0, accept=lambda a: stats.one(a)[0] <= 3000)
    assert len({a.key for a in archs}) == 20 and all(stats.one(a)[0] <= 3000 for a in archs)
    assert [a.key for a in archs] == [a.key for a in sobol_archs(space, 20, 0, lambda a: stats.one(a)[0] <= 3000)]


def test_search_and_constraint_family():
    space = JointSpace("conv1d", recipe=["lr"])
    stats = FreeStats(space, (1, 40), 10)
    search = FBNetV3Search(space, Fake(), stats, max_cost=20000, initial=8, batch=4, rounds=2, pool_size=60,
                           predictor="gbdt", population=12, generations=3, seed=0)
    result = search.run(budgets=[2000, 5000, 20000])
    assert len(result.measured) == 16 and all(m.cost <= 20000 for m in result.measured)
    assert [m.budget for m in result.family] == [2000, 5000, 20000]
    assert all(m.cost <= m.budget for m in result.family)
    best_first = max(m.metrics["val_accuracy"] for m in result.measured[:8])
    best_all = max(m.metrics["val_accuracy"] for m in result.measured)
    assert best_all >= best_first


def test_cli_writes_the_family(tmp_path):
    import json

    from typer.testing import CliRunner

    from nasforge.cli import app

    out = tmp_path / "fb"
    result = CliRunner().invoke(app, ["fbnetv3", "--epochs", "1", "--initial", "3", "--batch", "1", "--rounds", "1",
                                      "--pool-size", "12", "--budgets", "3000", "--recipe", "lr", "--out", str(out)])
    assert result.exit_code == 0, result.output
    family = json.loads((out / "family.json").read_text())
    assert len(family) == 1 and family[0]["params"] <= 3000 and "#lr=" in family[0]["arch"]


class Timed(Fake):
    """Fake with a recorded training time: the highest learning rate takes four times as long."""

    def _evaluate(self, arch):
        from nasforge.core.records import EvalResult

        return EvalResult(metrics=super()._evaluate(arch), cost_seconds=4.0 if arch["lr"] == 0.03 else 1.0)


def test_training_seconds_budget_counts_each_recipes_cost():
    space = JointSpace("conv1d", recipe=["lr"])
    stats = FreeStats(space, (1, 40), 10)
    search = FBNetV3Search(space, Timed(), stats, max_cost=20000, initial=8, batch=4, rounds=None, pool_size=60,
                           predictor="gbdt", population=12, generations=2, seed=0, train_seconds=30)
    result = search.run()
    spent = [m.seconds for m in result.measured]
    assert sum(spent[:-1]) < 30 <= sum(spent)  # stops starting trials once the budget is used
    assert 4.0 in spent and len(spent) < 30  # slow recipes leave room for fewer trials
    capped = FBNetV3Search(space, Timed(), stats, max_cost=20000, initial=8, batch=4, rounds=1, pool_size=60,
                           predictor="gbdt", seed=0, train_seconds=1000).run()
    assert len(capped.measured) == 12  # rounds still caps the batches


def test_a_search_that_cannot_stop_is_refused():
    space = JointSpace("conv1d", recipe=["lr"])
    with pytest.raises(ValueError, match="rounds, train_seconds"):
        FBNetV3Search(space, Fake(), FreeStats(space, (1, 40), 10), 20000, rounds=None)
    with pytest.raises(ValueError, match="train_seconds must be > 0"):
        FBNetV3Search(space, Fake(), FreeStats(space, (1, 40), 10), 20000, train_seconds=0)


def test_neighbourhood_pairs_good_architectures_with_good_recipes():
    from nasforge.estimate.predictors.fbnetv3 import Measured

    space = JointSpace("conv1d", recipe=["lr", "ema"])
    stats = FreeStats(space, (1, 40), 10)
    search = FBNetV3Search(space, Fake(), stats, max_cost=1e7, pool_size=20, parents=2, neighbours=5, seed=0)
    a, b = sobol_archs(space.base, 2, seed=0)
    trials = [space.join(a, lr=0.03, ema=0.0), space.join(a, lr=0.01, ema=0.0), space.join(b, lr=0.001, ema=0.99)]
    search.measured = [Measured(t, {"val_accuracy": v}, search.cost(t), 1.0) for t, v in zip(trials, (0.9, 0.8, 0.7), strict=True)]
    seen = {t.key for t in trials}
    local = search._neighbourhood(np.random.default_rng(0), seen)
    keys = {c.key for c in local}
    assert space.join(b, lr=0.03, ema=0.0).key in keys  # the second architecture with the best recipe
    assert space.join(a, lr=0.001, ema=0.99).key in keys
    assert not keys & seen
    assert len(local) == 2 * 5 + 2  # 5 neighbours of each distinct architecture's best trial, 2 transplants


class Busy(Fake):
    """Fake that spends CPU time but reports a recorded cost of zero seconds."""

    def _evaluate(self, arch):
        from nasforge.core.records import EvalResult

        total = 0
        for i in range(200_000):
            total += i
        return EvalResult(metrics=super()._evaluate(arch), cost_seconds=1e-9)


def test_cpu_clock_counts_the_process_time():
    space = JointSpace("conv1d", recipe=["lr"])
    stats = FreeStats(space, (1, 40), 10)
    kwargs = dict(max_cost=20000, initial=4, batch=2, rounds=1, pool_size=30, predictor="gbdt", seed=0, neighbours=0)
    wall = FBNetV3Search(space, Busy(), stats, **kwargs).run()
    cpu = FBNetV3Search(space, Busy(), stats, clock="cpu", **kwargs).run()
    assert all(m.seconds == 1e-9 for m in wall.measured)  # the evaluator's recorded cost
    assert all(m.seconds > 1e-4 for m in cpu.measured)  # the work actually done


def test_a_cost_model_bounds_another_resource():
    space = JointSpace("conv1d", recipe=["lr"])
    stats = FreeStats(space, (1, 40), 10)

    def depth_cost(arch):  # a stand-in for a latency predictor: one "ms" per layer
        return float(arch["depth"])

    search = FBNetV3Search(space, Fake(), stats, max_cost=3, resource="latency_ms", cost_model=depth_cost,
                           initial=6, batch=3, rounds=1, pool_size=40, predictor="gbdt", population=8,
                           generations=2, seed=0)
    result = search.run(budgets=[2, 3])
    assert all(m.cost == m.arch["depth"] <= 3 for m in result.measured)
    assert [m.cost <= m.budget for m in result.family] == [True, True]
    with pytest.raises(ValueError, match="cost_model"):
        FBNetV3Search(space, Fake(), stats, 3, resource="latency_ms")


def test_cli_bounds_measured_latency(tmp_path):
    import json

    from typer.testing import CliRunner

    from nasforge.cli import app

    out = tmp_path / "fb"
    result = CliRunner().invoke(app, ["fbnetv3", "--epochs", "1", "--initial", "3", "--batch", "1", "--rounds", "1",
                                      "--pool-size", "12", "--budgets", "5", "--recipe", "lr", "--resource",
                                      "latency_ms", "--latency-samples", "8", "--out", str(out)])
    assert result.exit_code == 0, result.output
    (member,) = json.loads((out / "family.json").read_text())
    assert 0 < member["latency_ms"] <= 5 and member["measured_latency_ms"] > 0
    unknown = CliRunner().invoke(app, ["fbnetv3", "--resource", "watts"])
    assert unknown.exit_code == 2 and "--resource must be params, flops or latency_ms" in unknown.output
