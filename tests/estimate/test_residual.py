"""Residual predictors and live free statistics (issue 22): with two labels the residual GP is
the live-FLOPs ranking, with five it ranks NAS-Bench-201 better than FLOPs and than a plain GP,
with 100 it improves on its prior; dead edges are pruned exactly; bananas takes the predictor."""

from __future__ import annotations

import numpy as np
import pytest

from nasforge.core.paths import data_dir
from nasforge.estimate.predictors import get_predictor, rank_correlations
from nasforge.estimate.predictors.features import Featurizer
from nasforge.estimate.predictors.stats import FreeStats, prune_dead_edges
from nasforge.space import get_space

needs_data = pytest.mark.skipif(not (data_dir() / "nb201-tss-accuracy.csv").is_file(), reason="no NB201 table")
SEEDS = (0, 1, 2)


@pytest.fixture(scope="module")
def nb201():
    """Per seed: 100 training and 400 held-out NB201 CIFAR-10 archs as features and accuracies."""
    from nasforge.estimate.benchmarks import get_benchmark
    from nasforge.estimate.predictors.stats import free_stats_for

    bench = get_benchmark("nb201-cifar10")
    table, space = bench.table(), bench.space()
    keys = sorted(table)
    featurizer = Featurizer(space, free_stats_for(space, "nb201-cifar10"))
    featurizer.fit([space.parse(keys[i]) for i in np.random.default_rng(99).permutation(len(keys))[:500]])
    out = {}
    for seed in SEEDS:
        picks = np.random.default_rng(seed).permutation(len(keys))[:500]
        archs = [space.parse(keys[i]) for i in picks]
        x, y = featurizer.transform(archs), np.array([table[a.body]["accuracy"] for a in archs])
        out[seed] = (x[:100], y[:100], x[100:], y[100:])
    return out


def mean_tau(data, name: str, n: int, **settings) -> float:
    taus = []
    for x, y, x_test, y_test in data.values():
        taus.append(rank_correlations(y_test, get_predictor(name, **settings).fit(x[:n], y[:n]).predict(x_test))[0])
    return float(np.mean(taus))


@needs_data
def test_with_two_labels_it_is_the_free_statistic_ranking(nb201):
    """Two labels with different live FLOPs fit the prior exactly: nothing is left for the GP,
    the order is live FLOPs'."""
    checked = 0
    for x, y, x_test, _ in nb201.values():
        if x[0, -3] == x[1, -3]:
            continue  # the statistic cannot explain these two labels; the GP then does
        ours = get_predictor("resid_gp").fit(x[:2], y[:2]).predict(x_test)
        theirs = get_predictor("live_stat").fit(x[:2], y[:2]).predict(x_test)
        assert rank_correlations(theirs, ours)[0] == pytest.approx(1.0)
        checked += 1
    assert checked >= 2


@needs_data
def test_with_a_handful_of_labels_it_beats_flops_and_the_plain_gp(nb201):
    flops, plain = mean_tau(nb201, "free_stat", 5), mean_tau(nb201, "gp", 5, restarts=0)
    live, ours = mean_tau(nb201, "live_stat", 5), mean_tau(nb201, "resid_gp", 5)
    assert live > flops + 0.05, f"live FLOPs tau {live:.3f} vs FLOPs {flops:.3f}"
    assert ours > flops + 0.03, f"resid_gp tau {ours:.3f} with 5 labels vs FLOPs {flops:.3f}"
    assert ours > plain + 0.1, f"resid_gp tau {ours:.3f} with 5 labels vs gp {plain:.3f}"


@needs_data
def test_with_more_labels_it_improves_on_the_prior_and_on_the_plain_gp(nb201):
    few, many = mean_tau(nb201, "resid_gp", 5), mean_tau(nb201, "resid_gp", 100)
    live, plain = mean_tau(nb201, "live_stat", 100), mean_tau(nb201, "gp", 100)
    assert many > few + 0.03, f"resid_gp tau {few:.3f} with 5 labels, {many:.3f} with 100"
    assert many > live + 0.02, f"resid_gp tau {many:.3f} with 100 labels vs its prior alone {live:.3f}"
    assert many > plain - 0.005, f"resid_gp tau {many:.3f} vs gp {plain:.3f} with 100 labels"


def test_dead_edges_are_pruned_and_live_stats_count_only_live_operations():
    space = get_space("nb201", channels=4, cells=1)
    # node 1 feeds nothing (edges 2<-1 and 3<-1 are none): the conv on 1<-0 is dead
    arch = space.parse("|nor_conv_3x3~0|+|nor_conv_3x3~0|none~1|+|skip_connect~0|none~1|nor_conv_1x1~2|")
    pruned = prune_dead_edges(space, arch)
    assert pruned["edge_1_0"] == "none"
    assert {c.name: pruned[c.name] for c in space.choices if c.name != "edge_1_0"} == {
        c.name: arch[c.name] for c in space.choices if c.name != "edge_1_0"}
    # node 2 has no input (2<-0 and 2<-1 none): what leaves it is dead
    orphan = space.parse("|skip_connect~0|+|none~0|none~1|+|nor_conv_3x3~0|skip_connect~1|nor_conv_3x3~2|")
    assert prune_dead_edges(space, orphan)["edge_3_2"] == "none"
    alive = space.parse("|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_1x1~1|"
                        "nor_conv_3x3~2|")
    assert prune_dead_edges(space, alive) is alive
    stats = FreeStats(space, (3, 8, 8), 10)
    (live,), (total,) = stats.live([arch]), stats([arch])
    assert live[0] < total[0] and live[1] < total[1]
    assert np.array_equal(stats.live([alive]), stats([alive]))
    macro = get_space("macro")  # no DAG edges: nothing to prune
    some = macro.sample(np.random.default_rng(0))
    assert prune_dead_edges(macro, some) is some


def test_featurizer_puts_live_stats_first_and_flops_last():
    space = get_space("nb201", channels=4, cells=1)
    stats = FreeStats(space, (3, 8, 8), 10)
    archs = space.sample_distinct(20, 3)
    logs = Featurizer(space, stats).free_stats(archs)
    assert logs.shape == (20, 4)
    assert np.allclose(logs[:, 2:], np.log1p(stats(archs)))
    assert np.allclose(logs[:, :2], np.log1p(stats.live(archs)))


def test_residual_refuses_a_prior_column_outside_the_features():
    x = np.random.default_rng(0).normal(size=(10, 3)).astype(np.float32)
    with pytest.raises(ValueError, match="prior_column"):
        get_predictor("resid_gp").fit(x, np.arange(10.0))
    with pytest.raises(ValueError, match="prior_column"):
        get_predictor("resid_gp", prior_column=0).fit(np.hstack([x, x]), np.arange(10.0))


def test_bananas_with_the_residual_predictor_and_clear_refusals():
    from nasforge.core.objectives import Objective
    from nasforge.core.services import NO_SERVICES
    from nasforge.experiment.services import run_services
    from nasforge.strategy.base import get_strategy

    space = get_space("nb201", channels=4, cells=1)
    services = run_services(space, None, 0, shape=_Shape())
    objectives = [Objective.parse("score:max")]

    def score(arch):  # a target the live parameter count predicts, plus a per-op bonus
        return float(np.log1p(FreeStats(space, (3, 8, 8), 10).live([arch])[0, 0]) + 0.1 * (arch["edge_3_0"] == "skip_connect"))

    strategy = get_strategy("bananas", surrogate="resid_gp", n_init=4, n_random=20, n_mutations=2)
    strategy.setup(space, objectives, (), 0, services)
    seen = []
    for _ in range(10):
        arch = strategy.ask()
        seen.append(arch.key)
        strategy.tell(arch, {"score": score(arch)})
    assert len(set(seen)) == 10
    for surrogate, match in (("gbdt", "no uncertainty"), ("nope", "unknown predictor")):
        with pytest.raises(ValueError, match=match):
            get_strategy("bananas", surrogate=surrogate).setup(space, objectives, (), 0, services)
    with pytest.raises(ValueError, match="predictor service"):
        get_strategy("bananas", surrogate="resid_gp").setup(space, objectives, (), 0, NO_SERVICES)


class _Shape:
    input_shape = (3, 8, 8)
    num_classes = 10


@needs_data
def test_the_predictor_evaluator_uses_the_residual_gp_where_there_are_free_statistics():
    from nasforge.estimate.predictors.evaluator import PredictorEvaluator
    from nasforge.estimate.predictors.residual import ResidualGP
    from nasforge.estimate.predictors.sklearn_models import GBDT

    space = get_space("nb201", channels=4, cells=1)
    data = "benchmark:nb201-cifar10"
    with_stats = PredictorEvaluator(space, data, "accuracy", samples=20, task=_Shape())
    assert isinstance(with_stats.model()[1], ResidualGP)
    assert isinstance(PredictorEvaluator(space, data, "accuracy", samples=20).model()[1], GBDT)
    with pytest.raises(ValueError, match="free statistics"):
        PredictorEvaluator(space, data, "accuracy", predictor="resid_gp", samples=20).model()
    arch = space.sample(np.random.default_rng(0))
    assert np.isfinite(with_stats.evaluate(arch).metrics["predicted_accuracy"])


@needs_data
def test_the_study_runs_the_residual_predictor_on_path_features():
    from nasforge.estimate.predictors.study import run_seed

    rows = run_seed("nb201-cifar10", 0, [10, 40], ["resid_gp"], test_size=100, pool_size=50, pretrain=False,
                    features="auto+stats")
    assert [(r.predictor, r.train_size) for r in rows] == [
        ("resid_gp", 10), ("resid_gp", 40), ("free_stat", 10), ("free_stat", 40), ("live_stat", 10), ("live_stat", 40)]
    assert all(r.kendall > 0.3 for r in rows)
    with pytest.raises(ValueError, match="features"):
        run_seed("nb201-cifar10", 0, [10], ["resid_gp"], test_size=100, features="path")


def test_bananas_auto_surrogate_is_the_residual_gp_where_the_run_lends_free_statistics():
    from nasforge.core.objectives import Objective
    from nasforge.core.services import NO_SERVICES
    from nasforge.experiment.services import run_services
    from nasforge.strategy.base import get_strategy

    space = get_space("nb201", channels=4, cells=1)
    objectives = [Objective.parse("score:max")]
    for services, expected in ((run_services(space, None, 0, shape=_Shape()), "resid_gp"),
                               (run_services(space, None, 0), "mlp_ensemble"), (NO_SERVICES, "mlp_ensemble")):
        strategy = get_strategy("bananas")
        strategy.setup(space, objectives, (), 0, services)
        assert strategy._surrogate == expected
