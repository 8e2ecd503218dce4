"""``benchmarks/oneshot.py rescore``: a finished (tiny) macro run's archs scored again from its
saved supernet, with the run's own settings (the same file) or changed evaluator settings."""

from __future__ import annotations

import csv
import re

import pytest

TINY = {"epochs": 1, "data_fraction": 0.03, "eval_images": 48, "calib_batches": 1, "search_trials": 1}


@pytest.fixture(scope="module")
def run(tmp_path_factory, benchmark_script):
    oneshot = benchmark_script("oneshot")
    root = tmp_path_factory.mktemp("rescore")
    oneshot.run_macro(["eq-spos"], [0], root, 12, "reduced", TINY, tag="-tiny")
    return oneshot, root / "macro" / "eq-spos-tiny" / "seed0"


def _read(path):
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


def test_rescore_with_the_runs_settings_gives_the_runs_ranking(run, capsys):
    oneshot, out = run
    oneshot.rescore([out], {}, "-same")
    assert _read(out / "ranking-same.csv") == _read(out / "ranking.csv")
    assert "supernet τ" in capsys.readouterr().out


def test_rescore_with_other_settings_scores_the_same_archs_differently(run, capsys):
    oneshot, out = run
    oneshot.rescore([out], {"eval_images": 16, "calib_batches": 2}, "-e16")
    first, again = _read(out / "ranking.csv"), _read(out / "ranking-e16.csv")
    assert [r["arch"] for r in again] == [r["arch"] for r in first]
    assert [r["true_accuracy"] for r in again] == [r["true_accuracy"] for r in first]
    # 16 images: every accuracy is a multiple of 1/16, which 48 images' scores are not all
    assert all(float(r["supernet_accuracy"]) * 16 == pytest.approx(round(float(r["supernet_accuracy"]) * 16))
               for r in again)
    assert [r["supernet_accuracy"] for r in again] != [r["supernet_accuracy"] for r in first]
    assert all(float(r["supernet_loss"]) > 0 for r in again)
    # an existing file is never overwritten
    before = (out / "ranking-e16.csv").read_text()
    oneshot.rescore([out], {"eval_images": 8}, "-e16")
    assert (out / "ranking-e16.csv").read_text() == before and "exists, kept: supernet τ" in capsys.readouterr().out
    rows = oneshot.ranking_rows(out, "ranking-e16.csv")
    assert {"supernet", "flops", "supernet-ridge"} <= {r["predictor"] for r in rows}


def test_rescore_refuses_training_settings_and_unfinished_runs(run, tmp_path):
    oneshot, out = run
    with pytest.raises(SystemExit, match="cannot change epochs"):
        oneshot.rescore([out], {"epochs": 3}, "-x")
    with pytest.raises(SystemExit, match="not a finished one-shot run"):
        oneshot.rescore([tmp_path], {}, "-x")


def test_rescore_on_the_training_images_too_from_the_command_line(run, capsys):
    oneshot, out = run
    # --set values read as the CLI's -S reads them (YAML): a bare word is a string
    oneshot.main(["rescore", "--runs", str(out), "--set", "eval_split=train+val", "eval_images=0", "--tag=-tv"])
    first, again = _read(out / "ranking.csv"), _read(out / "ranking-tv.csv")
    assert [r["arch"] for r in again] == [r["arch"] for r in first]
    assert [r["supernet_loss"] for r in again] != [r["supernet_loss"] for r in first]
    assert "ranking-tv.csv: supernet τ" in capsys.readouterr().out


def test_the_report_gives_each_rescoring_a_row_of_its_own(run, capsys):
    oneshot, out = run
    oneshot.rescore([out], {"eval_images": 12}, "-e12")
    capsys.readouterr()
    oneshot.report(out.parent.parent.parent)
    text = capsys.readouterr().out
    table = [line for line in text.splitlines() if line.startswith("| eq-spos-tiny")]
    assert any(line.startswith("| eq-spos-tiny | 1 |") for line in table)
    assert any(line.startswith("| eq-spos-tiny [ranking-e12] | 1 |") for line in table)
    # and its per-run τ line
    assert "macro eq-spos-tiny [ranking-e12] seed0: supernet τ" in text
    assert re.search(r"\[ranking-e12\] seed0: supernet τ .*; mean supernet accuracy 0\.\d{3}", text)


def test_layout_times_both_layouts_with_the_same_values(run, capsys):
    oneshot, out = run
    oneshot.main(["layout", "--runs", str(out), "--archs", "2"])
    row = [line for line in capsys.readouterr().out.splitlines() if line.startswith(f"| {out} |")]
    assert len(row) == 1
    cells = [c.strip() for c in row[0].strip("|").split("|")]
    assert cells[1] == "2" and cells[2] == "48"
    assert float(cells[3]) > 0 and float(cells[4]) > 0 and float(cells[6]) < 1e-4


def test_equal_compute_variants_never_get_more_passes_than_the_sandwich_rule(benchmark_script):
    oneshot = benchmark_script("oneshot")
    for sandwich_epochs in (4, 5):
        for name, (_, _, passes) in oneshot.EQUAL_COMPUTE.items():
            epochs = oneshot.equal_compute_epochs(name, sandwich_epochs)
            assert epochs * passes <= 4 * sandwich_epochs + 1e-9, name
            assert (epochs + 1) * passes > 4 * sandwich_epochs, name  # the most that fits
    assert oneshot.equal_compute_epochs("eq-fairnas", 5) == 6  # 18 of the sandwich rule's 20 path passes
    assert oneshot.equal_compute_epochs("eq-spos", 4) == 16
