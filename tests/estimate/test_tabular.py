"""Tabular benchmarks: keys look up the right rows, optima match the data's README, missing data
says what to do, and the evaluator is a well-behaved Evaluator."""

from __future__ import annotations

import pickle

import numpy as np
import pytest

from nasforge.core.objectives import Objective
from nasforge.core.paths import MissingDataError, data_dir
from nasforge.estimate.base import EVALUATORS
from nasforge.estimate.benchmarks import BENCHMARKS, MACRO_FILE, NB201_FILE, get_benchmark
from nasforge.estimate.tabular import TabularEvaluator
from nasforge.space import get_space

needs_data = pytest.mark.skipif(
    not ((data_dir() / NB201_FILE).is_file() and (data_dir() / MACRO_FILE).is_file()),
    reason="tabular benchmark files not found (set NASFORGE_DATA)")

BEST_NB201 = "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_3x3~2|"


def test_the_four_benchmarks_are_registered_and_are_evaluators():
    assert {"nb201-cifar10", "nb201-cifar100", "nb201-imagenet16", "macro"} <= set(BENCHMARKS.list())
    assert "tabular" in EVALUATORS.list()


@needs_data
@pytest.mark.parametrize("name, optimum", [("nb201-cifar10", 94.373), ("nb201-cifar100", 73.513),
                                           ("nb201-imagenet16", 47.311), ("macro", 93.127)])
def test_optimum_matches_the_data(name, optimum):
    bench = get_benchmark(name)
    assert bench.optimum(Objective("accuracy")) == pytest.approx(optimum, abs=1e-3)
    assert len(bench.table()) == (15625 if name.startswith("nb201") else 6561)


@needs_data
def test_nb201_key_lookup():
    bench = get_benchmark("nb201-cifar100")
    space = get_space("nb201")
    arch = space.parse(BEST_NB201)
    assert arch.body == BEST_NB201
    result = TabularEvaluator(bench.name).evaluate(arch)
    assert result.ok and result.metrics == {"accuracy": pytest.approx(73.5133, abs=1e-3)}
    other = TabularEvaluator("nb201-cifar10").evaluate(arch)
    assert other.metrics["accuracy"] == pytest.approx(94.363, abs=1e-3)
    # Every arch of the space has a row, and every row is an arch of the space.
    assert {a.body for a in space.enumerate()} == set(bench.table())


@needs_data
def test_macro_key_lookup_has_accuracy_params_flops():
    evaluator = EVALUATORS.get("tabular")(benchmark="macro")
    result = evaluator.evaluate(get_space("macro").parse("02012100"))
    assert result.ok
    assert result.metrics["accuracy"] == pytest.approx(np.mean([89.47000122070312, 88.94999694824219,
                                                                 89.16999816894531]))
    assert result.metrics["params"] == 890666 and result.metrics["flops"] == 47327744
    assert evaluator.metric_names() == ["accuracy", "params", "flops"]


@needs_data
def test_wrong_space_and_metric_fail_clearly():
    result = TabularEvaluator("macro").evaluate(get_space("nb201").parse(BEST_NB201))
    assert result.status == "failed" and "scores space 'macro'" in result.error
    with pytest.raises(ValueError, match="has no metric 'flops'"):
        get_benchmark("nb201-cifar10").check_objectives([Objective("flops", "min")])


@needs_data
def test_true_pareto_front_is_non_dominated():
    objectives = [Objective("accuracy", "max"), Objective("flops", "min")]
    bench = get_benchmark("macro")
    front, everything = bench.pareto_front(objectives), bench.losses(objectives)
    assert 1 < len(front) < 200
    for point in front:  # nothing in the table dominates a front point
        assert not ((everything <= point).all(axis=1) & (everything < point).any(axis=1)).any()


@needs_data
def test_evaluator_pickles_without_its_table_and_simulates_time():
    evaluator = TabularEvaluator("nb201-cifar10", simulated_seconds=12.5)
    arch = get_space("nb201").parse(BEST_NB201)
    assert evaluator.evaluate(arch).cost_seconds == 12.5
    clone = pickle.loads(pickle.dumps(evaluator))
    assert clone._table is None and clone.evaluate(arch).metrics == evaluator.evaluate(arch).metrics


def test_missing_data_names_the_file_and_the_variable(tmp_path, monkeypatch):
    monkeypatch.setenv("NASFORGE_DATA", str(tmp_path))
    with pytest.raises(MissingDataError) as info:
        get_benchmark("macro").table()
    message = str(info.value)
    assert MACRO_FILE in message and "NASFORGE_DATA" in message and str(tmp_path) in message
    result = TabularEvaluator("nb201-cifar10").evaluate(get_space("nb201").parse(BEST_NB201))
    assert result.status == "failed" and NB201_FILE in result.error and "NASFORGE_DATA" in result.error


def test_malformed_table_is_a_clear_error(tmp_path, monkeypatch):
    (tmp_path / NB201_FILE).write_text("a,b\n1,2\n")
    monkeypatch.setenv("NASFORGE_DATA", str(tmp_path))
    with pytest.raises(ValueError, match="ArchitectureString"):
        get_benchmark("nb201-cifar10").table()
