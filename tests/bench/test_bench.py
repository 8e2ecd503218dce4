"""The benchmark protocol writes its files with the right columns, and its numbers add up."""

from __future__ import annotations

import csv

import numpy as np
import pytest
from typer.testing import CliRunner

from nasforge.bench.protocol import Job, make_jobs, run_jobs, run_one
from nasforge.bench.run import run_benchmark
from nasforge.bench.summary import points_for
from nasforge.cli import app
from nasforge.core.paths import data_dir
from nasforge.estimate.benchmarks import MACRO_FILE, NB201_FILE

pytestmark = pytest.mark.skipif(
    not ((data_dir() / NB201_FILE).is_file() and (data_dir() / MACRO_FILE).is_file()),
    reason="tabular benchmark files not found (set NASFORGE_DATA)")

SUMMARY = ["benchmark", "strategy", "queries", "mean_regret", "median_regret", "ci95", "relative_improvement"]


def read(path):
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


def test_tiny_run_writes_summary_curves_and_plot(tmp_path):
    result = run_benchmark(["nb201-cifar10", "macro"], ["random", "local"], 2, 12, tmp_path, workers=1)
    assert {p.name for p in result.files} == {"summary.csv", "curves.csv", "runs.csv", "regret.png"}
    with open(tmp_path / "summary.csv") as fh:
        assert next(csv.reader(fh)) == SUMMARY
    rows = read(tmp_path / "summary.csv")
    assert len(rows) == 2 * 2 * 2  # benchmarks x strategies x query points (10 and 12)
    assert {int(r["queries"]) for r in rows} == {10, 12}
    for r in rows:
        if r["strategy"] == "random":
            assert float(r["relative_improvement"]) == 0.0
        assert float(r["mean_regret"]) >= 0 and float(r["ci95"]) >= 0
    curves = read(tmp_path / "curves.csv")
    assert list(curves[0]) == ["benchmark", "strategy", "seed", "query", "best", "regret"]
    assert len(curves) == 2 * 2 * 2 * 12
    assert (tmp_path / "regret.png").stat().st_size > 1000


def test_regret_is_optimum_minus_best_and_never_grows():
    curve = run_one(Job("nb201-cifar10", "random", 0, 40))
    assert np.all(np.diff(curve.regret) <= 0) and np.all(curve.regret >= 0)
    np.testing.assert_allclose(curve.regret, 94.37333333333333 - curve.best)
    again = run_one(Job("nb201-cifar10", "random", 0, 40))
    np.testing.assert_array_equal(curve.regret, again.regret)


def test_multi_objective_run_reports_hypervolume(tmp_path):
    result = run_benchmark(["macro"], ["random", "nsga2"], 2, 25, tmp_path, objectives=["accuracy:max", "flops:min"],
                           workers=1)
    rows = read(tmp_path / "hypervolume.csv")
    assert list(rows[0]) == ["benchmark", "strategy", "queries", "mean_hypervolume", "median_hypervolume", "ci95",
                             "true_hypervolume", "mean_hv_regret"]
    for curve in result.curves:
        assert np.all(np.diff(curve.hypervolume) >= 0)
        assert 0 < curve.hypervolume[-1] <= curve.true_hypervolume + 1e-9
    assert "hypervolume" in read(tmp_path / "curves.csv")[0]
    assert (tmp_path / "hypervolume.png").is_file()


def test_worker_processes_give_the_same_curves_as_one_process():
    jobs = make_jobs(["macro"], ["random", "evolution"], 2, 15)
    serial = run_jobs(jobs, workers=1)
    parallel = run_jobs(jobs, workers=2)
    for a, b in zip(serial, parallel, strict=True):
        assert (a.strategy, a.seed) == (b.strategy, b.seed)
        np.testing.assert_array_equal(a.regret, b.regret)


def test_points_follow_the_protocol():
    assert points_for(300) == [10, 25, 50, 100, 200, 300]
    assert points_for(60) == [10, 25, 50, 60]


def test_cli_tiny_run_and_clear_errors(tmp_path, monkeypatch):
    runner = CliRunner()
    out = tmp_path / "run"
    ok = runner.invoke(app, ["bench", "--benchmarks", "macro", "--strategies", "random,bananas", "--seeds", "2",
                             "--queries", "12", "-o", str(out), "--workers", "1", "-S", "bananas.n_init=5"])
    assert ok.exit_code == 0, ok.output
    assert {r["strategy"] for r in read(out / "summary.csv")} == {"random", "bananas"}
    bad = runner.invoke(app, ["bench", "--benchmarks", "nb999", "--out", str(tmp_path / "x")])
    assert bad.exit_code == 2 and "nb201-cifar10" in bad.output
    for objectives in (["--objective", "accuracy:max", "--objective", "flops:min"],
                       ["--objective", "accuracy:max,flops:min"],
                       ["--objectives", "accuracy:max,flops:min"]):  # the old spelling (docs/benchmarks.md)
        wrong = runner.invoke(app, ["bench", "--benchmarks", "nb201-cifar10", *objectives,
                                    "--out", str(tmp_path / "y")])
        assert wrong.exit_code == 2 and "no metric 'flops'" in wrong.output, wrong.output
    typed = runner.invoke(app, ["bench", "--benchmarks", "macro", "-S", "evolution.population_size=abc",
                                "--out", str(tmp_path / "t")])
    assert typed.exit_code == 2 and "population_size='abc'" in typed.output and not (tmp_path / "t").exists()
    monkeypatch.setenv("NASFORGE_DATA", str(tmp_path))
    missing = runner.invoke(app, ["bench", "--benchmarks", "macro", "--out", str(tmp_path / "z")])
    assert missing.exit_code == 2 and "NASFORGE_DATA" in missing.output and MACRO_FILE in missing.output


def test_proxy_guided_runs_report_their_proxy_compute(tmp_path):
    """A proxy-guided strategy's proxy evaluations and seconds are counted per query and written."""
    from nasforge.space import get_space

    table = tmp_path / "table"
    table.mkdir()
    keys = [a.key for a in get_space("nb201").enumerate()]
    with open(table / "proxies.csv", "w", newline="") as fh:  # a stand-in proxy: conv count
        csv.writer(fh).writerows([["arch", "convs"], *([k, k.count("conv")] for k in keys)])
    with open(table / "timings.csv", "w", newline="") as fh:  # each value "cost" 0.25 s
        csv.writer(fh).writerows([["arch", "convs"], *([k, 0.25] for k in keys)])
    settings = {"proxy-evolution": {"scorer": "table", "pool_size": 30, "candidates": 4,
                                    "scorer_settings": {"path": str(table), "column": "convs"}}}
    result = run_benchmark(["nb201-cifar10"], ["evolution", "proxy-evolution"], 2, 20, tmp_path / "out",
                           workers=1, settings=settings)
    guided = [c for c in result.curves if c.strategy == "proxy-evolution"]
    assert all(c.proxy_seconds is None for c in result.curves if c.strategy == "evolution")
    for c in guided:
        assert c.proxy_evaluations[0] >= 30 and np.all(np.diff(c.proxy_evaluations) >= 0)
        np.testing.assert_allclose(c.proxy_seconds, 0.25 * c.proxy_evaluations)
    cost = read(tmp_path / "out" / "proxy_cost.csv")
    assert {r["strategy"] for r in cost} == {"proxy-evolution"} and {int(r["queries"]) for r in cost} == {10, 20}
    runs = read(tmp_path / "out" / "runs.csv")
    assert {int(r["proxy_evaluations"]) > 0 for r in runs if r["strategy"] == "proxy-evolution"} == {True}
    assert {float(r["proxy_seconds"]) for r in runs if r["strategy"] == "evolution"} == {0.0}


@pytest.mark.parametrize("benchmark", ["nb201-cifar100", "nb201-imagenet16", "macro"])
def test_the_check_before_the_runs_lends_the_benchmarks_shape(benchmark):
    """fbnetv3 needs free statistics, sized by the benchmark's shape: the check before any run
    must lend the same services as the runs (it refused fbnetv3 off nb201-cifar10)."""
    from nasforge.bench.run import validate

    validate([benchmark], ["fbnetv3"], ["accuracy:max"], {})


def test_mean_sd_text_of_table_cells():
    from nasforge.bench.summary import mean_sd

    assert mean_sd([0.5, 0.7]) == "0.600 ± 0.141"  # sample standard deviation
    assert mean_sd([0.25]) == "0.250" and mean_sd([]) == "-"
    assert mean_sd([0.1, float("nan")]) == "nan"
    assert mean_sd([1.0, 2.0, 3.0], digits=1) == "2.0 ± 1.0"
