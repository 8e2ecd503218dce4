"""Proxy-guided strategies: warm start, pre-screening, the per-run score cache, scorer lookup."""

from __future__ import annotations

import csv
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
from toys import toy_score, toy_space

from nasforge.core.objectives import Objective
from nasforge.core.services import ServiceMissingError, Services
from nasforge.estimate.proxies.scorer import SCORERS
from nasforge.experiment.services import run_services
from nasforge.strategy.base import get_strategy
from nasforge.strategy.guided import ScoreCache, resolve_scorer

OBJ = [Objective("score", "max")]


def run(strategy, n, seed=0, space=None):
    space = space or toy_space(options=6, decisions=4)
    strategy.setup(space, OBJ, (), seed)
    asked = []
    for _ in range(n):
        arch = strategy.ask()
        asked.append(arch)
        strategy.tell(arch, {"score": toy_score(arch)})
    return asked


@pytest.mark.parametrize("name", ["proxy-evolution", "proxy-warmstart"])
def test_warm_start_asks_the_top_of_the_pool_first(name):
    s = get_strategy(name, scorer=toy_score, pool_size=64, warm_start=5)
    asked = run(s, 5)
    scores = [toy_score(a) for a in asked]
    assert scores == sorted(scores, reverse=True)
    pool_best = sorted(s.scores.values.values(), reverse=True)[:5]
    assert scores == pool_best
    assert s.scores.evaluations == 64


def test_prescreening_proposes_the_best_scored_mutant():
    s = get_strategy("proxy-evolution", population_size=4, sample_size=2, scorer=toy_score,
                     pool_size=8, candidates=6)
    run(s, 4)
    seen = dict(s.scores.values)
    arch = s.ask()
    fresh = {k: v for k, v in s.scores.values.items() if k not in seen}
    assert fresh and s.scores.values[arch.key] == max(fresh.values())


def test_a_perfect_proxy_beats_plain_evolution():
    def best_after(name, seed, **settings):
        return max(toy_score(a) for a in run(get_strategy(name, **settings), 20, seed))

    plain = np.mean([best_after("evolution", seed) for seed in range(5)])
    guided = np.mean([best_after("proxy-evolution", seed, scorer=toy_score, pool_size=64)
                      for seed in range(5)])
    assert guided > plain


def test_score_cache_counts_once_and_ranks_failures_last():
    calls = []

    def flaky(arch):
        calls.append(arch.key)
        if arch["x0"] == 0:
            raise RuntimeError("cannot score")
        return float(arch["x1"])

    space = toy_space()
    cache = ScoreCache(flaky)
    archs = [space.arch({"x0": x0, "x1": x1, "x2": 0, "x3": 0}) for x0, x1 in ((0, 3), (1, 1), (2, 2))]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        order = cache.best_first(archs)
        cache.best_first(archs)
    assert [a["x1"] for a in order] == [2, 1, 3]
    assert len(calls) == 3 and cache.evaluations == 3
    assert list(cache.errors) == [archs[0].key] and len(caught) == 1
    assert cache.stats()["proxy_failures"] == 1 and cache.seconds >= 0


def test_inner_strategy_does_not_repeat_warm_start_archs():
    s = get_strategy("proxy-warmstart", strategy="random", scorer=toy_score, pool_size=30, warm_start=10)
    keys = [a.key for a in run(s, 40)]
    assert len(set(keys)) == 40
    assert len(s.inner.history) == 40


def test_named_scorers_and_table(tmp_path):
    assert {"synflow", "nwot", "params", "table"} <= set(SCORERS.list())
    space = toy_space()
    archs = [space.sample(np.random.default_rng(i)) for i in range(3)]
    with open(tmp_path / "proxies.csv", "w", newline="") as f:
        csv.writer(f).writerows([["arch", "synflow"], *([a.key, i] for i, a in enumerate(archs))])
    with open(tmp_path / "timings.csv", "w", newline="") as f:
        csv.writer(f).writerows([["arch", "build", "synflow", "errors"], *([a.key, 0.1, 0.5, ""] for a in archs)])
    score = resolve_scorer("table", {"path": str(tmp_path)}, run_services(space, "cifar10"))
    assert [score(a) for a in archs] == [0.0, 1.0, 2.0] and score.seconds(archs[0]) == 0.5
    cache = ScoreCache(score)
    for a in archs:
        cache(a)
    assert cache.seconds == pytest.approx(1.5)


def test_strategies_with_a_callable_scorer_never_import_torch():
    code = (f"import sys; sys.path.insert(0, {str(Path(__file__).parents[1])!r})\n"
            "from toys import toy_score, toy_space\n"
            "from nasforge.core.objectives import Objective\n"
            "from nasforge.strategy.base import get_strategy\n"
            "s = get_strategy('proxy-evolution', scorer=toy_score, pool_size=16)\n"
            "s.setup(toy_space(), [Objective('score', 'max')], (), 0)\n"
            "for _ in range(30):\n"
            "    a = s.ask(); s.tell(a, {'score': toy_score(a)})\n"
            "print('torch' in sys.modules)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_proxy_local_starts_from_the_pool_top_and_tries_best_scored_neighbours_first():
    s = get_strategy("proxy-local", n_init=3, scorer=toy_score, pool_size=32)
    asked = run(s, 3)
    assert [toy_score(a) for a in asked] == sorted(s.scores.values.values(), reverse=True)[:3]
    nxt = s.ask()
    current = s._current[0]
    ranked = sorted(s.space.neighbours(current), key=lambda a: -toy_score(a))
    assert nxt.key == next(a.key for a in ranked if a.key not in {b.key for b in asked})


def test_a_named_scorer_needs_the_runs_services():
    s = get_strategy("proxy-evolution", scorer="synflow", pool_size=8, warm_start=4)
    with pytest.raises(ServiceMissingError, match="proxy-evolution needs a scorer service"):
        s.setup(toy_space(), OBJ, (), 0)
    seen = {}

    def factory(name, settings):
        seen.update(name=name, settings=settings)
        return toy_score

    s = get_strategy("proxy-evolution", scorer="synflow", scorer_settings={"batch_size": 8}, pool_size=8,
                     warm_start=4)
    s.setup(toy_space(), OBJ, (), 0, Services(scorer=factory))
    s.ask()
    assert seen == {"name": "synflow", "settings": {"batch_size": 8}}
