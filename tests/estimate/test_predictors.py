"""Performance predictors: they rank a fixed NAS-Bench-201 sample better than a constant, free
statistics are exact, pretraining runs, and the study writes its table."""

from __future__ import annotations

import csv

import numpy as np
import pytest

from nasforge.core.paths import data_dir
from nasforge.estimate.predictors import PREDICTORS, get_predictor, rank_correlations
from nasforge.estimate.predictors.base import NormalScores
from nasforge.estimate.predictors.features import Featurizer
from nasforge.estimate.predictors.stats import FreeStats, count_stats, free_stats_for
from nasforge.space import get_space

needs_data = pytest.mark.skipif(not (data_dir() / "nb201-tss-accuracy.csv").is_file(), reason="no NB201 table")
FAST = {"mlp": {"members": 2, "epochs": 150}, "gp": {"restarts": 0}, "gbdt": {"n_estimators": 100},
        "rf": {"n_estimators": 100}}


@pytest.fixture(scope="module")
def nb201_sample():
    from nasforge.estimate.benchmarks import get_benchmark

    bench = get_benchmark("nb201-cifar10")
    table, space = bench.table(), bench.space()
    keys = sorted(table)
    order = np.random.default_rng(0).permutation(len(keys))
    archs = [space.parse(keys[i]) for i in order[:380]]
    x = Featurizer(space).transform(archs)
    y = np.array([table[a.body]["accuracy"] for a in archs])
    return x[:80], y[:80], x[80:], y[80:]


@needs_data
@pytest.mark.parametrize("name", ["gbdt", "rf", "gp", "mlp"])
def test_predictors_beat_a_constant(name, nb201_sample):
    x, y, x_test, y_test = nb201_sample
    constant = rank_correlations(y_test, get_predictor("constant").fit(x, y).predict(x_test))[0]
    tau = rank_correlations(y_test, get_predictor(name, seed=0, **FAST[name]).fit(x, y).predict(x_test))[0]
    assert constant == 0.0
    assert tau > 0.25, f"{name}: Kendall tau {tau:.3f} on 300 held-out NB201 archs"


def test_registry_lists_the_predictors():
    assert {"gbdt", "rf", "gp", "mlp", "constant", "free_stat"} <= set(PREDICTORS.list())
    with pytest.raises(ValueError, match="no setting"):
        get_predictor("gbdt", depth=3)


def test_additive_free_stats_are_exact():
    space = get_space("nb201", channels=4, cells=1)
    stats = FreeStats(space, (3, 16, 16), 10)
    assert stats.method == "additive"
    rng = np.random.default_rng(1)
    archs = [space.sample(rng) for _ in range(3)]
    assert np.array_equal(stats(archs), np.array([count_stats(space, a, (3, 16, 16), 10) for a in archs]))
    conv = FreeStats(get_space("conv1d"), (1, 40), 10)
    assert conv.method == "build"  # conditional decisions: not additive


@needs_data
def test_macro_stats_come_from_the_table():
    space = get_space("macro")
    stats = free_stats_for(space, "macro")
    assert stats.method == "table"
    assert stats([space.parse("22212220")]).shape == (1, 2)


def test_nb201_stats_count_each_datasets_network():
    space = get_space("nb201")
    arch = space.parse("|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_3x3~2|")
    (c10,), (c100,), (im16,) = (free_stats_for(space, b)([arch]) for b in
                                ("nb201-cifar10", "nb201-cifar100", "nb201-imagenet16"))
    head = 64 + 1  # the classifier's weights and bias per class (64 channels at the end)
    assert c100[0] - c10[0] == pytest.approx(90 * head)
    assert im16[0] - c10[0] == pytest.approx(110 * head)
    assert im16[1] < c10[1]  # 16x16 inputs: fewer FLOPs


def test_pretraining_learns_the_statistics_and_fine_tunes():
    space = get_space("nb201", channels=4, cells=1)
    stats = FreeStats(space, (3, 16, 16), 10)
    rng = np.random.default_rng(0)
    pool = list({a.key: a for a in (space.sample(rng) for _ in range(400))}.values())
    feat = Featurizer(space, stats).fit(pool)
    x, s = feat.transform(pool), feat.free_stats(pool)
    mlp = get_predictor("mlp", pretrained=True, members=2, epochs=50, pretrain_epochs=20, seed=0).pretrain(x, s)
    assert mlp._encoder.embed(x).shape == (len(pool), 64)
    y = s[:, 1] + rng.normal(0, 0.1, len(s))  # a target that the pretraining has seen coming
    tau = rank_correlations(y[200:], mlp.fit(x[:20], y[:20]).predict(x[200:]))[0]
    assert tau > 0.5
    plain = get_predictor("gbdt", pretrained=False).pretrain(x, s)  # no-op without pretrained=True
    assert not hasattr(plain, "_encoder")


def test_normal_scores_keep_order():
    y = np.array([10.0, 90.0, 91.0, 91.0, 93.0])
    t = NormalScores(y)
    z = np.linspace(-5, 5, 50)
    assert np.all(np.diff(t.inverse(z)) > 0)
    assert np.all(np.diff(t.forward(np.sort(y))) >= 0)


@needs_data
def test_study_writes_the_table(tmp_path):
    from nasforge.estimate.predictors.study import run_seed, write_study

    rows = run_seed("macro", 0, [10, 20], ["gbdt"], test_size=60, pool_size=100)
    assert {r.predictor for r in rows} == {"gbdt", "gbdt+pretrain", "free_stat", "live_stat"}
    paths = write_study(rows, tmp_path)
    with paths["csv"].open() as fh:
        reader = csv.DictReader(fh)
        assert reader.fieldnames == ["predictor", "train_size", "kendall", "spearman", "seconds"]
        assert len(list(reader)) == 8
    assert paths["plot"].stat().st_size > 0


@needs_data
def test_reference_predictors_can_be_asked_for_by_name():
    from nasforge.estimate.predictors.study import run_seed, variants

    assert variants(["constant", "free_stat", "mlp"]) == ["constant", "free_stat", "mlp", "mlp+pretrain", "live_stat"]
    rows = run_seed("macro", 0, [10], ["constant", "free_stat", "live_stat"], test_size=60, pool_size=100)
    assert [r.predictor for r in rows] == ["constant", "free_stat", "live_stat"]
    assert rows[1].kendall > 0.2  # FLOPs rank macro archs well; the constant cannot rank at all
