"""Successive halving, Hyperband and ASHA over a fidelity decision of the space."""

from __future__ import annotations

import pytest
from toys import toy_score, toy_space

from nasforge.core.objectives import Objective
from nasforge.estimate.base import Evaluator
from nasforge.experiment.budget import Budget
from nasforge.experiment.experiment import Experiment
from nasforge.experiment.selection import select_best
from nasforge.experiment.storage import Storage
from nasforge.space.joint import JointSpace
from nasforge.strategy.base import get_strategy

OBJ = [Objective("score", "max")]
RUNGS = (1, 3, 9)
MF = ("successive_halving", "hyperband", "asha")


def mf_space() -> JointSpace:
    return JointSpace(toy_space(), recipe=(), fidelity={"epochs": list(RUNGS)})


def score(space: JointSpace, arch) -> float:
    """Higher fidelity scores higher; the base ranking is the same at every rung."""
    return toy_score(space.base_arch(arch)) + arch["epochs"]


class FidelityToy(Evaluator):
    def __init__(self) -> None:
        self.space = mf_space()

    def _evaluate(self, arch):
        return {"score": score(self.space, arch), "fidelity": self.space.fidelity_fraction(arch)}


def drive(name: str, n: int, seed: int = 0, **settings):
    space = mf_space()
    s = get_strategy(name, **settings)
    s.setup(space, OBJ, (), seed)
    asked = []
    for _ in range(n):
        arch = s.ask()
        asked.append(arch)
        s.tell(arch, {"score": score(space, arch)})
    return space, asked


def test_successive_halving_promotes_the_top_third():
    space, asked = drive("successive_halving", 13)
    assert [a["epochs"] for a in asked] == [1] * 9 + [3] * 3 + [9]
    base = [space.base_arch(a) for a in asked]
    top3 = sorted(base[:9], key=lambda a: -toy_score(a))[:3]
    assert {a.key for a in base[9:12]} == {a.key for a in top3}
    assert base[12].key == top3[0].key
    assert len({a.key for a in asked}) == len(asked)


def test_hyperband_bracket_sizes():
    _, asked = drive("hyperband", 9 + 3 + 1 + 5 + 1 + 3)
    assert [a["epochs"] for a in asked] == [1] * 9 + [3] * 3 + [9] + [3] * 5 + [9] + [9] * 3


def test_asha_promotes_only_from_the_top():
    space, asked = drive("asha", 40)
    results = {}
    for arch in asked:
        base = space.base_arch(arch).key
        rung = RUNGS.index(arch["epochs"])
        if rung:
            below = [k for (k, r) in results if r == rung - 1]
            ranked = sorted(below, key=lambda k: -results[(k, rung - 1)])
            assert base in ranked[:max(1, len(ranked) // 3)]
        results[(base, rung)] = toy_score(space.base_arch(arch))
    assert any(a["epochs"] == 9 for a in asked)


def test_no_fidelity_means_random_search_shape():
    s = get_strategy("hyperband")
    s.setup(toy_space(), OBJ, (), 0)
    assert s.rungs == (None,)
    assert s.ask() is not None


@pytest.mark.parametrize("name", MF)
def test_resume_mid_bracket_equals_uninterrupted_run(name, tmp_path):
    def experiment(path, trials):
        return Experiment(mf_space(), get_strategy(name), FidelityToy(), Storage(path), OBJ,
                          Budget(trials=trials), seed=3)

    live = [t.arch.key for t in experiment(tmp_path / "live.db", 30).run()]
    experiment(tmp_path / "split.db", 10).run()  # stops inside the first bracket's promotions
    resumed = [t.arch.key for t in experiment(tmp_path / "split.db", 30).run()]
    assert resumed == live


@pytest.mark.parametrize("name", ["hyperband", "asha"])
def test_selection_uses_only_full_fidelity_trials(name, tmp_path):
    trials = Experiment(mf_space(), get_strategy(name), FidelityToy(), Storage(tmp_path / "r.db"), OBJ,
                        Budget(trials=25), seed=0).run()
    best = select_best(trials, OBJ)
    assert best is not None and best.arch["epochs"] == RUNGS[-1]
    assert any(t.metrics["fidelity"] < 1 for t in trials)


def test_works_with_the_process_executor(tmp_path):
    from nasforge.experiment.executors import get_executor

    trials = Experiment(mf_space(), get_strategy("asha"), FidelityToy(), Storage(tmp_path / "p.db"), OBJ,
                        Budget(trials=16), seed=0, executor=get_executor("processes", workers=2)).run()
    keys = [t.arch.key for t in trials if t.status == "complete"]
    assert len(keys) == 16 and len(set(keys)) == 16
