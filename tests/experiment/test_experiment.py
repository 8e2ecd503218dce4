"""The loop: budgets, failures, repeats, storage and replay."""

from __future__ import annotations

import numpy as np
from toys import ToyEvaluator, toy_space

from nasforge.core.objectives import Objective
from nasforge.core.records import CACHED, COMPLETE, FAILED
from nasforge.estimate.base import Evaluator
from nasforge.experiment.budget import Budget
from nasforge.experiment.experiment import Experiment
from nasforge.experiment.storage import Storage
from nasforge.strategy.base import Strategy, get_strategy


def make(tmp_path, evaluator=None, strategy="evolution", trials=40, name="t.db", budget=None, **kw):
    return Experiment(toy_space(), get_strategy(strategy), evaluator or ToyEvaluator(), Storage(tmp_path / name),
                      [Objective("score")], budget or Budget(trials=trials), **kw)


def test_runs_to_budget_and_stores_every_trial(tmp_path):
    exp = make(tmp_path)
    trials = exp.run()
    assert len(trials) == 40 and all(t.status == COMPLETE for t in trials)
    again = Storage(tmp_path / "t.db").trials()
    assert [t.arch.key for t in again] == [t.arch.key for t in trials]
    assert [t.metrics for t in again] == [t.metrics for t in trials]


def test_failed_trials_are_stored_and_search_continues(tmp_path):
    trials = make(tmp_path, ToyEvaluator(fail_every=3)).run()
    failed = [t for t in trials if t.status == FAILED]
    assert len(trials) == 40 and len(failed) == 13
    assert all("deliberate failure" in t.error for t in failed)


class NaNEvaluator(Evaluator):
    def _evaluate(self, arch):
        return {"score": float("nan") if arch["x0"] == 0 else 1.0}


def test_nan_metrics_are_failures(tmp_path):
    trials = make(tmp_path, NaNEvaluator(), strategy="random", trials=30).run()
    for t in trials:
        assert (t.status == FAILED) == (t.arch["x0"] == 0)
        if t.status == FAILED:
            assert "non-finite" in t.error


class Repeater(Strategy):
    """Proposes from a tiny set, repeats included (ask without the base's dedup)."""

    def __init__(self) -> None:
        pass

    def ask(self):
        return self.space.arch({f"x{i}": int(self.rng.integers(2)) for i in range(4)})


def test_repeats_are_answered_from_storage_and_not_counted(tmp_path):
    exp = Experiment(toy_space(), Repeater(), ToyEvaluator(), Storage(tmp_path / "r.db"), [Objective("score")],
                     Budget(trials=10))
    trials = exp.run()
    counted = [t for t in trials if t.status != CACHED]
    assert len(counted) == 10 and len({t.arch.key for t in counted}) == 10
    cached = [t for t in trials if t.status == CACHED]
    assert cached, "a 16-arch space sampled 10 times without repeats is very unlikely"
    by_key = {t.arch.key: t.metrics for t in counted}
    assert all(t.metrics == by_key[t.arch.key] for t in cached)


def test_finite_space_stops_early(tmp_path):
    space = toy_space(options=2, decisions=2)
    exp = Experiment(space, get_strategy("random"), ToyEvaluator(), Storage(tmp_path / "f.db"),
                     [Objective("score")], Budget(trials=100))
    assert len(exp.run()) == 4 and exp.exhausted


def test_time_budget_stops_asking(tmp_path):
    exp = make(tmp_path, budget=Budget(minutes=0.0005))  # 30 ms
    trials = exp.run()
    assert 0 < len(trials) < 256


def test_resume_reruns_trials_left_running(tmp_path):
    path = tmp_path / "k.db"
    make(tmp_path, trials=5, name="k.db", seed=1).run()
    storage = Storage(path)
    # simulate a crash after a sixth ask: a trial stored as running, never told
    arch = toy_space().sample(np.random.default_rng(99))
    storage.add_trial(arch)
    storage.close()
    trials = make(tmp_path, trials=12, name="k.db", seed=1).run()
    assert len(trials) == 12 and all(t.status == COMPLETE for t in trials)
    rerun = [t for t in trials if t.arch.key == arch.key]
    assert len(rerun) == 1 and rerun[0].attempt == 2


class CountingScorer:
    """A proxy (the toy score, slightly off) that counts its calls."""

    def __init__(self) -> None:
        self.calls = 0

    def __call__(self, arch):
        from toys import toy_score

        self.calls += 1
        return toy_score(arch) + 0.1 * arch["x0"]


def guided(tmp_path, scorer, trials, name="g.db"):
    strategy = get_strategy("proxy-evolution", population_size=4, sample_size=2, scorer=scorer, pool_size=20,
                            candidates=3)
    return Experiment(toy_space(), strategy, ToyEvaluator(), Storage(tmp_path / name), [Objective("score")],
                      Budget(trials=trials), seed=3)


def test_proxy_scores_are_stored_in_the_run_and_not_recomputed_on_resume(tmp_path):
    whole_scorer = CountingScorer()
    whole = guided(tmp_path, whole_scorer, 30, "whole.db").run()
    first_scorer = CountingScorer()
    guided(tmp_path, first_scorer, 12).run()
    again = CountingScorer()
    resumed = guided(tmp_path, again, 30).run()
    assert [t.arch.key for t in resumed] == [t.arch.key for t in whole]  # the same decisions
    assert first_scorer.calls + again.calls == whole_scorer.calls  # nothing scored twice
    stored = Storage(tmp_path / "g.db")
    assert stored.proxy_cost()["proxy_evaluations"] == whole_scorer.calls
    assert len(stored.proxy_scores()) == whole_scorer.calls
