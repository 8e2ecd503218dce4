"""Contract tests every registered strategy must pass (Optuna-style sampler checks).

Parametrized over ``STRATEGIES.list()``: registering a strategy enrols it. Optuna's samplers,
which the registry resolves by name (``optuna:SAMPLER``), are enrolled by ``OPTUNA``. A strategy
that cannot pass a check is listed in ``EXPECTED_FAILURES`` with a reason, never silently skipped.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
from toys import TOY_SERVICES, ToyEvaluator, toy_score, toy_space

from nasforge.core.objectives import Objective
from nasforge.experiment.budget import Budget
from nasforge.experiment.experiment import Experiment
from nasforge.experiment.storage import Storage
from nasforge.strategy.base import STRATEGIES, get_strategy

#: Optuna samplers run through the adapter, with their settings (the toy's integers are quantities)
OPTUNA = {"optuna:GPSampler": {"ordered": True}, "optuna:CmaEsSampler": {"ordered": True},
          "optuna:NSGAIISampler": {"population_size": 8}}
NAMES = [*STRATEGIES.list(), *OPTUNA]
#: a Gaussian-process fit per ask (its checks take about 30 s in all): run with the slow tests
SLOW = {"optuna:GPSampler"}
PARAMS = [pytest.param(n, marks=pytest.mark.slow) if n in SLOW else n for n in NAMES]
OBJ = [Objective("score", "max")]
MULTI = [Objective("score", "max"), Objective("size", "min")]
EXPECTED_FAILURES: dict[tuple[str, str], str] = {
    ("given", "determinism"): "proposes a fixed list: the seed is not used, so another seed cannot differ",
}


def objectives_for(name: str) -> list[Objective]:
    return MULTI if name in ("nsga2", "optuna:NSGAIISampler") else OBJ


def make(name: str):
    """A new strategy ``name`` with its contract settings."""
    return get_strategy(name, **OPTUNA.get(name, {}))


def xfail(name: str, check: str) -> None:
    reason = EXPECTED_FAILURES.get((name, check))
    if reason:
        pytest.xfail(reason)


def drive(strategy, n: int, seed: int = 0, fail: set[int] = frozenset(), name: str = "random"):
    """Ask/tell ``n`` times on the toy space; returns the asked keys."""
    space = toy_space()
    strategy.setup(space, objectives_for(name), (), seed, TOY_SERVICES)
    keys = []
    for i in range(n):
        arch = strategy.ask()
        if arch is None:
            break
        keys.append(arch.key)
        metrics = None if i in fail else {"score": toy_score(arch), "size": float(sum(arch.values()))}
        strategy.tell(arch, metrics)
    return keys


@pytest.mark.parametrize("name", PARAMS)
def test_asks_are_valid_and_unique(name):
    xfail(name, "valid")
    space = toy_space()
    keys = drive(make(name), 60, name=name)
    assert len(keys) == 60
    assert len(set(keys)) == len(keys), "a strategy must not propose the same architecture twice"
    for key in keys:
        assert space.parse(key).key == key


@pytest.mark.parametrize("name", PARAMS)
def test_same_seed_same_asks_and_other_seed_differs(name):
    xfail(name, "determinism")
    a = drive(make(name), 40, seed=3, name=name)
    b = drive(make(name), 40, seed=3, name=name)
    c = drive(make(name), 40, seed=4, name=name)
    assert a == b
    assert a != c


@pytest.mark.parametrize("name", PARAMS)
def test_params_round_trip(name):
    xfail(name, "params")
    s = make(name)
    clone = type(s)(**s.get_params())
    assert clone.get_params() == s.get_params()
    assert drive(s, 30, seed=1, name=name) == drive(clone, 30, seed=1, name=name)


@pytest.mark.parametrize("name", PARAMS)
def test_failed_results_are_accepted(name):
    xfail(name, "failures")
    keys = drive(make(name), 40, fail=set(range(0, 40, 3)), name=name)
    assert len(set(keys)) == 40


@pytest.mark.parametrize("name", PARAMS)
def test_finite_space_ends_cleanly(name):
    xfail(name, "finite")
    strategy = make(name)
    space = toy_space(options=2, decisions=3)  # 8 architectures
    strategy.setup(space, objectives_for(name), (), 0, TOY_SERVICES)
    seen = []
    for _ in range(20):
        arch = strategy.ask()
        if arch is None:
            break
        seen.append(arch.key)
        strategy.tell(arch, {"score": toy_score(arch), "size": float(sum(arch.values()))})
    assert sorted(seen) == sorted(a.key for a in space.enumerate())
    assert strategy.ask() is None


@pytest.mark.parametrize("name", PARAMS)
def test_replay_equals_live_run(name, tmp_path):
    """Stopping a run and resuming it from storage gives the trials of an uninterrupted run."""
    xfail(name, "replay")

    def experiment(path, trials):
        return Experiment(toy_space(), make(name), ToyEvaluator(), Storage(path), objectives_for(name),
                          Budget(trials=trials), seed=7, services=TOY_SERVICES)

    live = [t.arch.key for t in experiment(tmp_path / "live.db", 30).run()]
    experiment(tmp_path / "split.db", 11).run()
    resumed = [t.arch.key for t in experiment(tmp_path / "split.db", 30).run()]
    assert resumed == live


def test_same_asks_in_a_fresh_process():
    """Determinism must not depend on process state (hash seeds, import order)."""
    here = {name: drive(make(name), 15, seed=5, name=name) for name in NAMES}
    code = (
        f"import json, sys; sys.path.insert(0, {str(Path(__file__).parent)!r})\n"
        "from test_contract import drive, make, NAMES\n"
        "print(json.dumps({n: drive(make(n), 15, seed=5, name=n) for n in NAMES}))\n"
    )
    with tempfile.TemporaryDirectory() as tmp:
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp,
                             env={"PYTHONHASHSEED": "123", "PATH": "", "OMP_NUM_THREADS": "1",
                                  "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)},
                             check=True)
    assert json.loads(out.stdout.strip().splitlines()[-1]) == here


@pytest.mark.parametrize("name", PARAMS)
def test_constructor_only_stores_settings(name):
    s = make(name)
    assert set(vars(s)) <= set(s.get_params()), "constructors store their keyword arguments and nothing else"
