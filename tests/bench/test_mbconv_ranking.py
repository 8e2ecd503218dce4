"""``benchmarks/mbconv_ranking.py``: tiny truth and supernet runs on the pooled CIFAR-10 subset;
every supernet seed ranks exactly the truth's archs, and the report's correlations are those of
the joined numbers."""

from __future__ import annotations

import csv

import pytest
from scipy.stats import kendalltau


@pytest.fixture(scope="module")
def study(tmp_path_factory, benchmark_script):
    script = benchmark_script("mbconv_ranking")
    root = tmp_path_factory.mktemp("mbconv-ranking")
    script.run_truth(root, 3, {"epochs": 1, "data_fraction": 0.02})
    script.run_supernets(root, "sandwich", [0, 1], 3, {"epochs": 1, "data_fraction": 0.02, "eval_images": 32,
                                                       "calib_batches": 1})
    return script, root


def _ranking(path):
    with open(path / "ranking.csv", newline="") as fh:
        return {r["arch"]: float(r["supernet_accuracy"]) for r in csv.DictReader(fh)}


def test_every_seed_ranks_the_truths_archs(study):
    script, root = study
    known = script.truth(root)
    assert sorted(known) == sorted(script.truth_archs(3))
    for seed in (0, 1):
        assert sorted(_ranking(root / "supernet" / "sandwich" / f"seed{seed}")) == sorted(known)


def test_report_rows_are_the_joined_correlations(study, capsys):
    script, root = study
    known = script.truth(root)
    run = root / "supernet" / "sandwich" / "seed0"
    rows = {r["predictor"]: r for r in script.study(run, known, script.truth(root, "params"))}
    assert set(rows) == {"supernet", "flops", "supernet+flops", "supernet-ridge", "supernet-ridge+flops",
                         "supernet-ridge-pooled", "supernet-loss", "supernet-loss-ridge",
                         "supernet-loss-ridge-pooled", "params"}
    ranking = _ranking(run)
    keys = sorted(known)
    expected = kendalltau([ranking[k] for k in keys], [known[k] for k in keys]).statistic
    assert rows["supernet"]["kendall"] == pytest.approx(expected, nan_ok=True)
    capsys.readouterr()
    script.report(root)
    out = capsys.readouterr().out
    assert "truth: 3 subnets trained alone" in out and '"epochs": 1' in out
    table = [line for line in out.splitlines() if line.startswith("| sandwich |")]
    assert len(table) == 10 and all("| 2 |" in line for line in table)  # two seeds per predictor
