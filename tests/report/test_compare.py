"""``nasforge compare``: runs read and checked before anything is written, compared on the
objectives they share, hypervolumes on one common scale."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from pymoo.indicators.hv import HV
from report_runs import make_run
from typer.testing import CliRunner

from nasforge.cli import app
from nasforge.core.records import COMPLETE, RUNNING
from nasforge.experiment.run_dir import RunDirError
from nasforge.report.compare import compare, figures, write_compare
from nasforge.space import get_space


def run(tmp_path: Path, name: str, points: list[tuple[float, float]], objectives=("acc:max", "params:min"),
        finished: bool = True, status: str = COMPLETE) -> Path:
    archs = get_space("conv1d").sample_distinct(len(points), len(name))
    config = {"task": "t", "space": "conv1d", "strategy": name, "objectives": list(objectives),
              "budget": {"trials": len(points)}, "seed": 0}
    metric = objectives[1].split(":")[0] if len(objectives) > 1 else "params"
    trials = [(a, status, {"acc": acc, metric: p}, None) for a, (acc, p) in zip(archs, points, strict=True)]
    return make_run(tmp_path / name, config, trials, None, {"finished": True} if finished else {})


def test_hypervolumes_share_one_reference_point(tmp_path):
    a = run(tmp_path, "a", [(0.5, 100), (0.7, 300)])
    b = run(tmp_path, "b", [(0.6, 100), (0.9, 500), (0.4, 50)])
    c = compare([a, b])
    assert [str(o) for o in c.objectives] == ["acc:max", "params:min"] and c.notes == []
    everything = np.array([(-0.5, 100), (-0.7, 300), (-0.6, 100), (-0.9, 500), (-0.4, 50)])
    low, high = everything.min(axis=0), everything.max(axis=0)

    def hv(points):
        return float(HV(ref_point=np.array([1.1, 1.1]))((np.array(points) - low) / (high - low)))

    assert c.rows[0].hypervolume == pytest.approx(hv([(-0.5, 100), (-0.7, 300)]))
    assert c.rows[1].hypervolume == pytest.approx(hv([(-0.6, 100), (-0.9, 500), (-0.4, 50)]))
    assert c.rows[1].hypervolume > c.rows[0].hypervolume  # b's front dominates a's
    assert c.rows[0].selected_metrics == [0.7, 300] and c.rows[1].selected_arch.startswith("conv1d:")
    assert ("strategy", ["a", "b"], True) in c.config_rows and ("seed", ["0", "0"], False) in c.config_rows
    figs = figures(c)
    assert [len(figs[k]["data"]) for k in ("compare-history", "compare-pareto", "compare-hypervolume")] == [2, 4, 2]


def test_runs_with_different_objectives_are_compared_on_the_shared_ones(tmp_path):
    a = run(tmp_path, "a", [(0.5, 100), (0.7, 300)])
    b = run(tmp_path, "b", [(0.6, 1e6), (0.9, 2e6)], objectives=("acc:max", "flops:min"))
    c = compare([a, b])
    assert [str(o) for o in c.objectives] == ["acc:max"] and c.scale is None
    assert c.notes == ["a: objective params:min not shared by every run, left out of the comparison",
                       "b: objective flops:min not shared by every run, left out of the comparison"]
    assert set(figures(c)) == {"compare-history"} and [r.hypervolume for r in c.rows] == [None, None]
    page = write_compare([a, b], tmp_path / "out" / "compare.html").read_text()
    assert "Compared on acc:max." in page and "flops:min not shared by every run" in page


@pytest.mark.parametrize("make, message", [
    (lambda p: [run(p, "a", [(0.5, 1)]), p / "missing"], "missing does not exist"),
    (lambda p: [run(p, "a", [(0.5, 1)]), p], "is not a nasforge run directory"),
    (lambda p: [run(p, "a", [(0.5, 1)])], "compare needs two runs or more, got 1"),
    (lambda p: [run(p, "a", [(0.5, 1)]), p / "a"], "is given twice"),
    (lambda p: [run(p, "a", [(0.5, 1)]), run(p, "b", [(0.5, 1)], finished=False, status=RUNNING)],
     r"b is not finished \(interrupted, or still running\): `nasforge resume .*b` completes it"),
    (lambda p: [run(p, "a", [(0.5, 1)]), run(p, "b", [(0.5, 1)], objectives=("acc:min",))],
     "the runs share no objective, nothing to compare: .*a has acc:max, params:min; .*b has acc:min"),
])
def test_what_cannot_be_compared_is_refused_naming_the_run(tmp_path, make, message):
    paths = make(tmp_path)
    with pytest.raises(RunDirError, match=message):
        write_compare(paths, tmp_path / "compare.html")
    assert not (tmp_path / "compare.html").exists()


def test_the_compare_command(tmp_path):
    a = run(tmp_path, "a", [(0.5, 100), (0.7, 300)])
    b = run(tmp_path, "b", [(0.6, 100)])
    out = tmp_path / "pages" / "ab.html"
    done = CliRunner().invoke(app, ["compare", str(a), str(b), "--out", str(out)])
    assert done.exit_code == 0, done.output
    assert done.output.strip() == str(out) and "<h1>nasforge: 2 runs compared</h1>" in out.read_text()
    refused = CliRunner().invoke(app, ["compare", str(a), str(tmp_path / "nope"), "--out", str(out)])
    assert refused.exit_code == 2 and "nope does not exist" in refused.output
    folder = CliRunner().invoke(app, ["compare", str(a), str(b), "--out", str(tmp_path)])
    assert folder.exit_code == 2 and "is a folder; --out names the page to write" in folder.output
