"""The hyperparameter lottery summary: spreads across settings and seeds, tuning on held-out
seeds, and the rankings before and after tuning (on hand-made curves, then one real small sweep)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from nasforge.bench.protocol import RunCurve, run_jobs
from nasforge.gym.lottery import label, lottery_jobs, rankings, settings_grid, summarize_lottery


def _curve(strategy, seed, regret):
    return RunCurve("b", strategy, seed, np.array([0.0]), np.array([regret]), None, None, 0.0, 0)


def test_grid_and_labels():
    assert settings_grid({"a": [1, 2], "b": ["x"]}) == [{"a": 1, "b": "x"}, {"a": 2, "b": "x"}]
    assert settings_grid({}) == [{}]
    assert label({"a": 1, "b": "x"}) == "a=1,b=x" and label({}) == "default"
    with pytest.raises(ValueError, match="population_siz"):
        lottery_jobs(["nb201-cifar10"], {"evolution": {"population_siz": [4]}}, 1, 5)


def test_summary_spreads_tuning_and_rankings():
    # evolution: default (16, 4) mediocre; (8, 2) best on every seed. random: one setting.
    table = {("evolution", "population_size=16,sample_size=4"): [2.0, 2.0, 3.0, 3.0],
             ("evolution", "population_size=8,sample_size=2"): [0.0, 1.0, 0.0, 1.0],
             ("random", "default"): [1.5, 1.5, 2.5, 2.5]}
    curves, settings = [], []
    for (strategy, name), values in table.items():
        setting = {} if name == "default" else {k: int(v) for k, v in (p.split("=") for p in name.split(","))}
        for seed, regret in enumerate(values):
            curves.append(_curve(strategy, seed, regret))
            settings.append(setting)
    rows = {r.strategy: r for r in summarize_lottery(curves, settings, tuning_seeds=[0, 1])}
    evo = rows["evolution"]
    assert evo.settings == 2 and evo.default_regret == 2.5 and evo.best_setting_regret == 0.5
    assert evo.spread_settings == 2.0
    assert evo.std_seeds == pytest.approx(np.mean([np.std([2, 2, 3, 3], ddof=1), np.std([0, 1, 0, 1], ddof=1)]))
    assert evo.tuned_setting == "population_size=8,sample_size=2"
    assert evo.tuned_test_regret == 0.5 and evo.default_test_regret == 3.0
    assert rows["random"].spread_settings == 0.0 and rows["random"].default_test_regret == 2.5
    (rank,) = rankings(list(rows.values()))
    assert rank.by_default == ("random", "evolution") and rank.by_tuned == ("evolution", "random")
    assert rank.kendall_tau == pytest.approx(-1.0) and rank.tuned_range == 2.0


def test_a_real_small_sweep():
    grid = {"random": {}, "evolution": {"population_size": [4, 16], "sample_size": [4]}}
    jobs = lottery_jobs(["nb201-cifar10"], grid, seeds=4, queries=15)
    assert len(jobs) == 12
    curves = run_jobs(jobs, workers=1)
    rows = summarize_lottery(curves, [j.settings for j in jobs], tuning_seeds=[0, 1])
    assert {r.strategy: r.settings for r in rows} == {"random": 1, "evolution": 2}
    assert all(r.std_seeds >= 0 and not math.isnan(r.tuned_test_regret) for r in rows)
