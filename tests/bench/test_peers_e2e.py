"""benchmarks/peers_e2e.py: nasforge's default search against Optuna TPE and GP at equal CPU
seconds writes every column, and every method gets the same budget (within one short trial)."""

from __future__ import annotations

import csv
import math

import pytest

#: CPU seconds a method may run past the smoke test's budget (its last trial, which ends past it)
SLACK = 4.0


@pytest.fixture(scope="module")
def peers(benchmark_script):
    return benchmark_script("peers_e2e")


def test_hypervolume_and_front(peers):
    # one point at 1,000 params (log 3 of 5) with accuracy 0.5: area 0.5 * (5 - 3) / 5
    assert math.isclose(peers.hypervolume([(0.5, 1000)], ref_params=100_000), 0.2)
    # a dominated point adds nothing; a better, larger one adds its own strip
    assert math.isclose(peers.hypervolume([(0.5, 1000), (0.4, 10_000)], 100_000), 0.2)
    assert math.isclose(peers.hypervolume([(0.5, 1000), (0.9, 10_000)], 100_000), (0.5 + 0.9) / 5)
    assert peers.hypervolume([(0.9, 200_000)], 100_000) == 0.0  # beyond the reference
    rows = [{"arch": "a", "val_accuracy": 0.9, "params": 10}, {"arch": "b", "val_accuracy": 0.8, "params": 20},
            {"arch": "c", "val_accuracy": 0.95, "params": 30}]
    assert [r["arch"] for r in peers.pareto(rows)] == ["a", "c"]


def test_bad_method_is_refused_before_anything_runs(peers, tmp_path):
    with pytest.raises(SystemExit):
        peers.main(["--methods", "nasforge,optuna-cmaes", "--out", str(tmp_path / "x")])
    assert not (tmp_path / "x").exists()


def test_smoke_every_column_and_equal_cpu_budget(peers, tmp_path):
    budget = 3.0
    rows = peers.main(["--tasks", "mnist1d", "--seeds", "1", "--budget", str(budget), "--epochs", "1",
                       "--final-epochs", "1", "--out", str(tmp_path)])
    with open(tmp_path / "runs.csv", newline="") as fh:
        reader = csv.DictReader(fh)
        assert tuple(reader.fieldnames) == peers.COLUMNS
        written = list(reader)
    assert [r["method"] for r in written] == list(peers.METHODS)
    used = {r["method"]: float(r["cpu_s"]) for r in written}
    for r in written:
        assert all(r[c] != "" for c in peers.COLUMNS if c not in ("best_test_le5k",)), r
        assert int(r["trials"]) >= 2 and int(r["front_size"]) >= 1
        assert 0.0 < float(r["hypervolume"]) <= 1.0
        assert 0.0 < float(r["selected_test"]) <= 1.0
        # each stops at the first trial that ends past the budget: a one-epoch trial is short, but
        # the first one also pays one-off costs (about 2 CPU s here, more on a loaded machine)
        assert budget <= used[r["method"]] <= budget + SLACK, used
    assert max(used.values()) - min(used.values()) <= SLACK, used
    assert {row["method"] for row in rows} == set(peers.METHODS)
    summary = (tmp_path / "summary.md").read_text()
    assert "Wilcoxon p" in summary and "optuna-gp" in summary and "optuna-tpe" in summary
    # --summarize reads the blocks back, pairing by seed; the same block twice is refused
    again = peers.main(["--summarize", str(tmp_path)])
    assert [(r["method"], r["seed"], r["hypervolume"]) for r in again] == [
        (r["method"], int(r["seed"]), r["hypervolume"]) for r in written]
    with pytest.raises(SystemExit, match="more than one row"):
        peers.main(["--summarize", str(tmp_path), str(tmp_path)])


def test_summary_counts_only_seeds_every_method_ran(peers):
    def row(method, seed, hv):
        return {**dict.fromkeys(peers.COLUMNS, "1"), "task": "t", "method": method, "seed": seed,
                "hypervolume": str(hv)}

    rows = [row(m, s, hv) for s in (0, 1, 2) for m, hv in zip(peers.METHODS, (0.6, 0.5, 0.4), strict=True)]
    rows = [r for r in rows if not (r["seed"] == 2 and r["method"] == "optuna-gp")]  # seed 2 unfinished
    text = peers.summarise(rows)
    assert "| t | nasforge | 2 |" in text and "| t | optuna-tpe | 2 |" in text
    assert "| t | optuna-tpe | 2 | 2/0/0 | +0.1000 |" in text
    assert "left out" in text and "t nasforge seed 2" in text and "t optuna-tpe seed 2" in text
