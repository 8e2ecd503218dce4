"""benchmarks/size_bands.py: the best validation accuracy per parameter band of run directories."""

from __future__ import annotations

import pytest

import nasforge


@pytest.fixture(scope="module")
def size_bands(benchmark_script):
    return benchmark_script("size_bands")


def test_report_reads_the_best_accuracy_per_band(size_bands, tmp_path, capsys):
    runs = []
    for strategy, seed in (("random", 0), ("evolution", 1)):
        runs.append(tmp_path / f"{strategy}-s{seed}")
        nasforge.search(space="nb201", strategy=strategy, evaluator="tabular", trials=12, seed=seed,
                        objectives=["accuracy:max", "params:min"],
                        run_dir=runs[-1], progress=False)
    trials = nasforge.load_run(runs[0]).trials
    sizes = sorted(t.metrics["params"] for t in trials)
    limits = [int(sizes[0]) - 1, int(sizes[len(sizes) // 2]), int(sizes[-1])]
    rows = size_bands.main(["report", *map(str, runs), "--bands", *map(str, limits), "--metric", "accuracy"])
    out = capsys.readouterr().out
    assert [(r["strategy"], r["seed"], r["trials"]) for r in rows] == [("evolution", 1, 12), ("random", 0, 12)]
    mine = rows[1]
    below, middle, top = (mine["bands"][limit] for limit in limits)
    assert below is None and middle <= top
    assert middle == max(t.metrics["accuracy"] for t in trials if t.metrics["params"] <= limits[1])
    assert mine["best"][0] == top == max(t.metrics["accuracy"] for t in trials)
    assert "| random | 0 | 12 | - |" in out
    with pytest.raises(SystemExit):
        size_bands.main(["report", str(tmp_path / "nothing")])
