"""FBNetV3 as a strategy: Sobol candidates under the resource bound, predictor-picked batches
through the experiment loop, the constraint family, and the ``nasforge fbnetv3`` preset."""

from __future__ import annotations

import json

import numpy as np
import pytest
from typer.testing import CliRunner

from nasforge.cli import app
from nasforge.core.objectives import Constraint, Objective
from nasforge.core.records import EvalResult
from nasforge.estimate.base import Evaluator
from nasforge.experiment.budget import Budget
from nasforge.experiment.experiment import Experiment
from nasforge.experiment.services import run_services
from nasforge.experiment.storage import Storage
from nasforge.hardware.metrics import TaskShape
from nasforge.space.joint import JointSpace
from nasforge.strategy.base import get_strategy
from nasforge.strategy.fbnetv3 import sobol_archs

SHAPE = TaskShape((1, 40), 10)
OBJ = [Objective("val_accuracy", "max"), Objective("params", "min")]


class Fake(Evaluator):
    """No training: a score that rewards width and a mid learning rate."""

    def _evaluate(self, arch):
        width = sum(int(arch[f"channels_{i}"]) for i in range(int(arch["depth"])))
        return {"val_accuracy": 0.5 + 0.004 * width - abs(np.log10(arch["lr"]) + 2) * 0.1}


class Timed(Fake):
    """Fake with a recorded training time: the highest learning rate takes four times as long."""

    def _evaluate(self, arch):
        return EvalResult(metrics=super()._evaluate(arch), cost_seconds=4.0 if arch["lr"] == 0.03 else 1.0)


def search(space, evaluator, budget, constraints=(), clock="wall", cost=None, **settings):
    settings = {"initial": 8, "batch": 4, "pool_size": 60, "predictor": "gbdt", "population": 12,
                "generations": 3, **settings}
    storage = Storage(":memory:")
    experiment = Experiment(space, get_strategy("fbnetv3", **settings), evaluator, storage, OBJ, budget,
                            constraints=list(constraints), seed=0, clock=clock,
                            services=run_services(space, None, 0, cost=cost, shape=SHAPE))
    return experiment, experiment.run()


def test_sobol_candidates_are_distinct_feasible_and_seeded():
    space = JointSpace("conv1d", recipe=["lr"])
    small = lambda a: a["depth"] <= 2  # noqa: E731
    archs = sobol_archs(space, 20, seed=0, accept=small)
    assert len({a.key for a in archs}) == 20 and all(small(a) for a in archs)
    assert [a.key for a in archs] == [a.key for a in sobol_archs(space, 20, 0, small)]
    assert [a.key for a in archs] != [a.key for a in sobol_archs(space, 20, 1, small)]


def test_search_stays_within_the_bound_improves_and_gives_a_family():
    space = JointSpace("conv1d", recipe=["lr"])
    experiment, trials = search(space, Fake(), Budget(trials=16), [Constraint("params", "<=", 20000)],
                                budgets=[2000, 5000, 20000])
    strategy = experiment.strategy
    assert len(trials) == 16 and all(strategy.cost(t.arch) <= 20000 for t in trials)
    family = strategy.family()
    assert [m["budget"] for m in family] == [2000, 5000, 20000]
    assert all(m["params"] <= m["budget"] for m in family)
    first = max(t.metrics["val_accuracy"] for t in trials[:8])
    assert max(t.metrics["val_accuracy"] for t in trials) >= first


def test_a_budget_on_the_simulated_clock_counts_each_recipes_cost():
    space = JointSpace("conv1d", recipe=["lr"])
    _, trials = search(space, Timed(), Budget(minutes=0.5), [Constraint("params", "<=", 20000)], clock="simulated")
    spent = [t.cost_seconds for t in trials]
    assert sum(spent[:-1]) < 30 <= sum(spent)  # stops starting trials once the budget is used
    assert 4.0 in spent and len(spent) < 30  # slow recipes leave room for fewer trials
    assert [t.clock for t in trials] == pytest.approx(np.cumsum(spent).tolist())


def test_neighbourhood_pairs_good_architectures_with_good_recipes():
    space = JointSpace("conv1d", recipe=["lr", "ema"])
    s = get_strategy("fbnetv3", pool_size=20, parents=2, neighbours=5, predictor="gbdt")
    s.setup(space, OBJ, (), 0, run_services(space, None, 0, shape=SHAPE))
    a, b = sobol_archs(space.base, 2, seed=0)
    trials = [space.join(a, lr=0.03, ema=0.0), space.join(a, lr=0.01, ema=0.0), space.join(b, lr=0.001, ema=0.99)]
    for t, v in zip(trials, (0.9, 0.8, 0.7), strict=True):
        s.asked.add(t.key)
        s.tell(t, {"val_accuracy": v})
    local = s._neighbourhood(np.random.default_rng(0))
    keys = {c.key for c in local}
    assert space.join(b, lr=0.03, ema=0.0).key in keys  # the second architecture with the best recipe
    assert space.join(a, lr=0.001, ema=0.99).key in keys
    assert not keys & {t.key for t in trials}
    assert len(local) == 2 * 5 + 2  # 5 neighbours of each distinct architecture's best trial, 2 transplants


def test_a_cost_service_bounds_another_resource():
    space = JointSpace("conv1d", recipe=["lr"])

    def cost(metric):  # a stand-in for a latency predictor: one "ms" per layer
        assert metric == "latency_ms"
        return lambda arch: float(arch["depth"])

    experiment, trials = search(space, Fake(), Budget(trials=9), [Constraint("latency_ms", "<=", 3)], cost=cost,
                                resource="latency_ms", initial=6, batch=3, budgets=[2, 3])
    assert all(t.arch["depth"] <= 3 for t in trials)
    assert [m["latency_ms"] <= m["budget"] for m in experiment.strategy.family()] == [True, True]


def test_pretraining_needs_free_statistics():
    space = JointSpace("conv1d", recipe=["lr"])
    s = get_strategy("fbnetv3", pool_size=20)
    with pytest.raises(ValueError, match="pretraining needs the free statistics"):
        s.setup(space, OBJ, (), 0, run_services(space, None, 0))


def test_the_preset_writes_a_run_with_the_family(tmp_path):
    out = tmp_path / "fb"
    result = CliRunner().invoke(app, ["fbnetv3", "--epochs", "1", "--final-epochs", "1", "--initial", "3", "--batch",
                                      "1", "--rounds", "1", "--pool-size", "12", "--budgets", "3000", "--recipe", "lr",
                                      "--out", str(out)])
    assert result.exit_code == 0, result.output
    family = json.loads((out / "best/family.json").read_text())
    assert len(family) == 1 and family[0]["params"] <= 3000 and "#lr=" in family[0]["arch"]
    assert family[0]["result"]["measured_params"] == family[0]["params"]
    assert (out / "trials.db").is_file() and (out / "report.html").is_file()
    shown = CliRunner().invoke(app, ["show", str(out), "--csv"])
    assert shown.exit_code == 0 and len(shown.output.strip().splitlines()) == 1 + 4


def test_the_preset_bounds_predicted_latency_and_measures_the_family(tmp_path):
    out = tmp_path / "fb"
    result = CliRunner().invoke(app, ["fbnetv3", "--epochs", "1", "--final-epochs", "1", "--initial", "3", "--batch",
                                      "1", "--rounds", "1", "--pool-size", "12", "--budgets", "5", "--recipe", "lr",
                                      "--resource", "latency_ms", "--latency-samples", "8", "--out", str(out)])
    assert result.exit_code == 0, result.output
    (member,) = json.loads((out / "best/family.json").read_text())
    assert 0 < member["latency_ms"] <= 5 and member["result"]["measured_latency_ms"] > 0
    assert (out / "latency" / "measured-cpu-torch.json").is_file()
    unknown = CliRunner().invoke(app, ["fbnetv3", "--resource", "watts"])
    assert unknown.exit_code == 2 and "--resource must be params, flops or latency_ms" in unknown.output
