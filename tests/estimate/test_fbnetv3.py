"""FBNetV3's loop: Sobol candidates under a constraint, predictor-picked batches, constraint family."""

from __future__ import annotations

import numpy as np

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
