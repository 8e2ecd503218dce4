"""The hyperparameter lottery study: is a strategy's ranking a property of the strategy, or of
the hyperparameters it happened to be run with?

ArchGym (Krishnan et al. 2023) found that once each agent's own hyperparameters are tuned, the
agent families end up close, and that the spread across hyperparameter settings can exceed the
spread across seeds (the "hyperparameter lottery"). The study here runs each strategy with every
setting of a small grid over its own hyperparameters (:data:`DEFAULT_GRID`), on tabular
benchmarks, over seeds, through the benchmark protocol (:mod:`nasforge.bench.protocol`), and
reports per (benchmark, strategy) (:func:`summarize_lottery`):

- the final regret with the default settings, and the spread of the per-setting mean regret
  across settings (max - min, and the standard deviation) beside the spread across seeds (the
  standard deviation over seeds, averaged over settings);
- the *tuned* regret, honestly held out: the setting is chosen on the tuning seeds and its regret
  reported on the other (test) seeds, beside the default's regret on the same test seeds.

:func:`rankings` then ranks the strategies per benchmark by default and by tuned regret
(Kendall tau between the two rankings), which says which ranking survives tuning.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from nasforge.bench.protocol import Job, RunCurve

#: strategy -> {hyperparameter: values}; the grid is every combination (the strategy's default
#: included). ``random`` has no hyperparameters: its one setting is the reference.
DEFAULT_GRID: dict[str, dict[str, list[Any]]] = {
    "random": {},
    "evolution": {"population_size": [8, 16, 32, 64], "sample_size": [2, 4]},
    "local": {"n_init": [1, 10, 30], "restart_init": [1, 10]},
    "tpe": {"n_startup_trials": [5, 10, 30], "n_ei_candidates": [8, 24, 96]},
    "reinforce": {"lr": [0.1, 0.5, 2.0], "baseline_decay": [0.5, 0.9], "entropy": [0.0, 0.01]},
    "bananas": {"n_init": [5, 10, 30], "acquisition": ["its", "ucb"]},
}


def settings_grid(grid: Mapping[str, Sequence[Any]]) -> list[dict[str, Any]]:
    """Every combination of ``grid``'s values, in order (``[{}]`` for an empty grid)."""
    names = list(grid)
    return [dict(zip(names, values, strict=True)) for values in itertools.product(*(grid[n] for n in names))]


def label(settings: Mapping[str, Any]) -> str:
    """``population_size=8,sample_size=2`` (``default`` for no settings)."""
    return ",".join(f"{k}={v}" for k, v in settings.items()) or "default"


def lottery_jobs(benchmarks: Sequence[str], grid: Mapping[str, Mapping[str, Sequence[Any]]], seeds: int,
                 queries: int) -> list[Job]:
    """One job per (benchmark, strategy, setting, seed); refuses a setting the strategy does not have."""
    from nasforge.strategy.base import STRATEGIES

    jobs = []
    for strategy, hyper in grid.items():
        for settings in settings_grid(hyper):
            STRATEGIES.check_settings(strategy, settings)
            jobs += [Job(b, strategy, seed, queries, settings=settings) for b in benchmarks for seed in range(seeds)]
    return jobs


def default_settings(strategy: str) -> dict[str, Any]:
    """The constructor's defaults of ``strategy`` (what a run without settings uses)."""
    from nasforge.strategy.base import get_strategy

    return get_strategy(strategy).get_params()


@dataclass(frozen=True)
class LotteryRow:
    """One (benchmark, strategy): regret by settings and by seeds (see the module docstring)."""

    benchmark: str
    strategy: str
    settings: int
    default_regret: float  # mean over all seeds, default setting (nan if not in the grid)
    best_setting_regret: float  # mean over all seeds, the best setting (in hindsight)
    worst_setting_regret: float
    spread_settings: float  # max - min of the per-setting means
    std_settings: float  # standard deviation of the per-setting means
    std_seeds: float  # standard deviation over seeds, averaged over settings
    tuned_setting: str  # chosen on the tuning seeds
    tuned_test_regret: float  # its mean regret on the test seeds
    default_test_regret: float  # the default's mean regret on the test seeds


def _matches(settings: Mapping[str, Any], defaults: Mapping[str, Any]) -> bool:
    return all(defaults.get(k) == v for k, v in settings.items())


def summarize_lottery(curves: Sequence[RunCurve], settings_of: Sequence[Mapping[str, Any]],
                      tuning_seeds: Sequence[int]) -> list[LotteryRow]:
    """Rows per (benchmark, strategy) from the final regret of ``curves`` (``settings_of[i]`` is
    the setting of ``curves[i]``); the tuned setting is chosen on ``tuning_seeds``."""
    if len(curves) != len(settings_of):
        raise ValueError("summarize_lottery: one setting per curve")
    final: dict[tuple[str, str], dict[str, dict[int, float]]] = {}
    defaults: dict[tuple[str, str], str] = {}
    tuning = set(tuning_seeds)
    for curve, settings in zip(curves, settings_of, strict=True):
        key, name = (curve.benchmark, curve.strategy), label(settings)
        final.setdefault(key, {}).setdefault(name, {})[curve.seed] = float(curve.regret[-1])
        if _matches(settings, default_settings(curve.strategy)):
            defaults[key] = name
    rows = []
    for (bench, strategy), by_setting in final.items():
        means = {n: float(np.mean(list(v.values()))) for n, v in by_setting.items()}
        seeds_std = float(np.mean([np.std(list(v.values()), ddof=1) if len(v) > 1 else 0.0
                                   for v in by_setting.values()]))

        part = _part_mean(by_setting, tuning)
        tuned = min(by_setting, key=lambda n: (part(n, False), n))
        default = defaults.get((bench, strategy))
        values = np.array(list(means.values()))
        rows.append(LotteryRow(
            bench, strategy, len(by_setting), means[default] if default else math.nan, float(values.min()),
            float(values.max()), float(np.ptp(values)), float(values.std(ddof=1)) if len(values) > 1 else 0.0,
            seeds_std, tuned, part(tuned, True), part(default, True) if default else math.nan))
    return rows


def _part_mean(by_setting: Mapping[str, Mapping[int, float]], tuning: set[int]):
    """``(setting, test) -> mean final regret`` over the test seeds (``test``) or the tuning seeds."""

    def part(name: str, test: bool) -> float:
        values = [r for s, r in by_setting[name].items() if (s not in tuning) == test]
        return float(np.mean(values)) if values else math.nan

    return part


@dataclass(frozen=True)
class RankingRow:
    """Strategies of one benchmark ranked (best first) by default and by tuned test regret."""

    benchmark: str
    by_default: tuple[str, ...]
    by_tuned: tuple[str, ...]
    kendall_tau: float
    tuned_range: float  # best - worst tuned test regret across strategies
    mean_std_seeds: float  # the seed spread, for scale


def rankings(rows: Sequence[LotteryRow]) -> list[RankingRow]:
    """Per benchmark: the ranking by default settings, by tuned settings, their Kendall tau, and
    how far apart the tuned strategies end beside the seed spread."""
    from scipy.stats import kendalltau

    out = []
    for bench in dict.fromkeys(r.benchmark for r in rows):
        mine = [r for r in rows if r.benchmark == bench and not math.isnan(r.default_test_regret)]
        by_default = sorted(mine, key=lambda r: (r.default_test_regret, r.strategy))
        by_tuned = sorted(mine, key=lambda r: (r.tuned_test_regret, r.strategy))
        order = [r.strategy for r in by_default]
        tau = float(kendalltau(range(len(order)), [order.index(r.strategy) for r in by_tuned])[0]) \
            if len(mine) > 1 else math.nan
        tuned = [r.tuned_test_regret for r in mine]
        out.append(RankingRow(bench, tuple(order), tuple(r.strategy for r in by_tuned), tau,
                              float(max(tuned) - min(tuned)) if tuned else math.nan,
                              float(np.mean([r.std_seeds for r in mine])) if mine else math.nan))
    return out
