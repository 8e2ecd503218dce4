"""What the interactive report computes: the running hypervolume, the per-decision groups, how
a run ended, which trials are marked, and that every kind of run directory still renders (old
stores without a clock column or run facts, failed trials, nothing feasible)."""

from __future__ import annotations

import json
import platform
import sqlite3
from pathlib import Path

import numpy as np
import pytest
from pymoo.indicators.hv import HV
from report_runs import make_run

from nasforge.core.records import COMPLETE, FAILED, INFEASIBLE, RUNNING
from nasforge.experiment.storage import Storage
from nasforge.report.data import read_run
from nasforge.report.environment import gpus
from nasforge.report.html import figures, render
from nasforge.report.views import (
    decision_effects,
    ending_text,
    header,
    hypervolume_curve,
    marks,
    trial_table,
)
from nasforge.space import get_space

MO = {"task": "t", "space": "conv1d", "strategy": "random", "objectives": ["acc:max", "params:min"],
      "constraints": ["params<=500"], "budget": {"trials": 6, "minutes": None}, "seed": 3}


def mo_run(tmp_path: Path, name: str = "mo", **meta) -> Path:
    archs = get_space("conv1d").sample_distinct(6, 0)
    metrics = [{"acc": 0.5, "params": 100}, {"acc": 0.7, "params": 300}, {"acc": 0.9, "params": 900},  # infeasible
               {"acc": 0.6, "params": 150}, {}, {"acc": 0.8, "params": 400}]
    statuses = [COMPLETE, COMPLETE, COMPLETE, COMPLETE, FAILED, COMPLETE]
    trials = [(a, s, m, "boom" if s == FAILED else None) for a, s, m in zip(archs, statuses, metrics, strict=True)]
    return make_run(tmp_path / name, MO, trials, None, {"finished": True, **meta})


def test_the_hypervolume_after_each_trial_is_that_of_the_feasible_trials_so_far(tmp_path):
    records = read_run(mo_run(tmp_path))
    curve = hypervolume_curve(records)
    feasible = [(-m["acc"], m["params"]) for m in (t.metrics for t in records.trials)
                if m and m["params"] <= 500]
    low, high = np.min(feasible, axis=0), np.max(feasible, axis=0)
    expected, seen = [], []
    for t in records.trials:
        if t.status == COMPLETE and t.metrics["params"] <= 500:
            seen.append(((-t.metrics["acc"], t.metrics["params"]) - low) / (high - low))
        expected.append(float(HV(ref_point=np.array([1.1, 1.1]))(np.array(seen))) if seen else 0.0)
    assert curve.trial_index == [1, 2, 3, 4, 5, 6]
    assert curve.value == pytest.approx(expected)
    assert curve.value[2] == curve.value[1] and curve.value[4] == curve.value[3]  # infeasible, failed: no change
    assert curve.value[-1] > curve.value[0] and curve.clock == [1.0, 2.0, 3.0, 4.0, 5.0, 6.0]


def test_marks_and_the_table_show_the_selected_and_pareto_trials(tmp_path):
    records = read_run(mo_run(tmp_path))
    mark = marks(records)
    assert mark.selected == 6 and mark.pareto == {1, 2, 4, 6} and mark.feasible == {1, 2, 4, 6}
    table = trial_table(records, mark)
    assert table.metrics == ["acc", "params"]
    assert [r.badges for r in table.rows] == [("pareto",), ("pareto",), (), ("pareto",), (), ("selected", "pareto")]
    assert table.rows[4].error == "boom" and table.rows[4].metrics == ["", ""] and table.statuses == ["complete", "failed"]
    # a summary naming another arch (a one-shot run's derived one, say) moves the mark
    (records.path / "best").mkdir()
    (records.path / "best" / "summary.json").write_text(json.dumps({"arch": records.trials[1].arch.key}))
    assert marks(read_run(records.path)).selected == 2


def test_decision_effects_group_the_first_objective_by_the_value_taken(tmp_path):
    records = read_run(mo_run(tmp_path))
    effects = decision_effects(records)
    feasible = [t for t in records.trials if t.number in {1, 2, 4, 6}]
    varying = [d for d in feasible[0].arch if len({json.dumps(t.arch[d]) for t in feasible}) > 1]
    assert [e.decision for e in effects] == varying and effects
    for effect in effects:
        assert effect.metric == "acc" and len(effect.choices) >= 2
        for choice, values, numbers in zip(effect.choices, effect.values, effect.numbers, strict=True):
            chosen = [t for t in feasible if (t.arch[effect.decision] if isinstance(t.arch[effect.decision], str)
                                              else json.dumps(t.arch[effect.decision])) == choice]
            assert numbers == [t.number for t in chosen] and values == [t.metrics["acc"] for t in chosen]


@pytest.mark.parametrize("budget, statuses, meta, expected", [
    ({"trials": 3}, [COMPLETE] * 3, {"finished": True, "elapsed_seconds": 5.0}, "the trial budget ran out: 3 trials of 3"),
    ({"trials": 9, "minutes": 0.1}, [COMPLETE] * 3, {"finished": True, "elapsed_seconds": 6.2},
     "the time budget (0.1 minutes) ran out: 3 trials of 9 in 6.2 s"),
    ({"trials": 9}, [COMPLETE, INFEASIBLE], {"finished": True}, "finished before its budget: 2 trials of 9 (the strategy"),
    ({"trials": 9}, [COMPLETE, RUNNING], {}, "not finished: 1 trial of 9 so far (interrupted, or still running)"),
])
def test_the_header_says_how_the_run_ended(tmp_path, budget, statuses, meta, expected):
    archs = get_space("conv1d").sample_distinct(len(statuses), 0)
    config = {**MO, "objectives": ["acc:max"], "constraints": [], "budget": budget}
    run = make_run(tmp_path / "run", config, [(a, s, {"acc": 0.5}, None) for a, s in zip(archs, statuses, strict=True)],
                   None, meta)
    records = read_run(run)
    assert ending_text(records).startswith(expected)
    head = header(records)
    assert head.finished == ("finished" in meta) and ("seed", "3") in head.settings
    assert head.selection == "the feasible full-fidelity trial best on acc:max"


def test_an_old_run_without_clock_or_run_facts_still_renders(tmp_path):
    """A store from before trials kept the run's clock (no column) and before the run's facts
    (seed, finished) were kept: the page renders, without the by-clock buttons."""
    run = mo_run(tmp_path)
    (run / "pareto.csv").write_text("trial\n")  # what marked an old run as finished
    with sqlite3.connect(run / "trials.db") as conn:
        conn.execute("ALTER TABLE trials DROP COLUMN clock")
        conn.execute("DELETE FROM meta")
    records = read_run(run)
    assert records.meta == {} and all(t.clock is None for t in records.trials)
    figs = figures(records)
    assert "updatemenus" not in figs["history"]["layout"] and "updatemenus" not in figs["hypervolume"]["layout"]
    page = render(records)
    assert '<span class="pill ok">finished</span>' in page and "<dt>seed</dt><dd>3</dd>" in page  # from config.yaml


def test_failed_trials_and_nothing_feasible(tmp_path):
    archs = get_space("conv1d").sample_distinct(3, 0)
    trials = [(archs[0], FAILED, {}, "CUDA out of memory"), (archs[1], COMPLETE, {"acc": 0.4, "params": 900}, None),
              (archs[2], COMPLETE, {"acc": 0.6, "params": 800}, None)]
    run = make_run(tmp_path / "none", MO, trials, None, {"finished": True})
    records = read_run(run)
    assert set(figures(records)) == set()  # nothing feasible: no front, no curve, no per-decision groups
    page = render(records)
    assert "<b>No feasible trial</b>" in page and "meets params&lt;=500" in page
    assert 'id="selected"' not in page and "CUDA out of memory" in page
    assert '<tr data-status="failed">' in page


def test_a_one_shot_run_ends_in_epochs(tmp_path):
    arch = get_space("conv1d").sample_distinct(1, 0)[0]
    config = {**MO, "objectives": ["acc:max"], "constraints": [], "budget": {"trials": 1, "minutes": 0.01},
              "strategy_settings": {"epochs": 3}}
    run = make_run(tmp_path / "oneshot", config, [(arch, COMPLETE, {"acc": 0.5}, None)], None,
                   {"finished": True, "elapsed_seconds": 0.9, "oneshot": {"method": "darts", "arch": arch.key}})
    storage = Storage(run / "trials.db")
    for epoch in (1, 2):
        storage.add_epoch(epoch, {"epoch": epoch, "train_loss": 1.0 / epoch, "arch_weights": {"op": [0.4, 0.6]}})
    storage.close()
    records = read_run(run)
    head = header(records)
    assert head.budget == "3 epochs, then up to 1 trials, 0.01 minutes (whichever ends first)"
    assert head.ending == ("the time budget (0.01 minutes) ended training: 2 of 3 epochs trained, then 1 "
                           "architecture evaluated with inherited weights")
    assert head.selection.startswith("the architecture the one-shot method darts returned")
    figs = figures(records)
    assert "history" not in figs and [t["name"] for t in figs["trajectory"]["data"]] == ["op", "training loss"]
    assert figs["trajectory"]["data"][0]["y"] == [0.6, 0.6]


def test_the_environment_card_prefers_what_the_run_recorded(tmp_path):
    recorded = {"versions": {"nasforge": "9.9", "torch": "8.8"}, "python": "3.99", "os": "Plan9", "cpu": "Z80",
                "cores": 1, "gpus": ["Voodoo 2"]}
    page = render(read_run(mo_run(tmp_path, environment=recorded)))
    assert "<h3>Environment</h3>" in page and "<dt>torch</dt><dd>8.8</dd>" in page
    assert "<dd>Z80 (1 cores)</dd>" in page and "<dd>Voodoo 2</dd>" in page and "<dd>3.99 on Plan9</dd>" in page
    here = render(read_run(mo_run(tmp_path, "here")))
    assert "<h3>Environment (where this report was written)</h3>" in here
    assert f"<dt>Python</dt><dd>{platform.python_version()} on" in here
    assert f"<dt>GPU</dt><dd>{', '.join(gpus()) or 'none found'}</dd>" in here


@pytest.mark.parametrize("objectives", [["acc:max", "params:min"], ["acc:max", "speed:max"], ["loss:min", "params:min"],
                                        ["loss:min", "speed:max"]])
def test_the_front_line_bounds_what_the_front_dominates(tmp_path, objectives):
    """The step line ("hv") runs from the best second objective to the worst, so its corners are
    never better than a trial on both objectives, whatever the directions."""
    y, x = (o.split(":")[0] for o in objectives)
    archs = get_space("conv1d").sample_distinct(3, 0)
    sign_y = 1 if objectives[0].endswith("max") else -1
    sign_x = 1 if objectives[1].endswith("min") else -1
    points = [(1.0, 0.1), (2.0, 0.5), (3.0, 0.9)]  # a front: worse on x, better on y
    trials = [(a, COMPLETE, {x: sign_x * px, y: sign_y * py}, None) for a, (px, py) in zip(archs, points, strict=True)]
    run = make_run(tmp_path / "run", {**MO, "objectives": objectives, "constraints": []}, trials, None, {"finished": True})
    line = figures(read_run(run))["pareto"]["data"][1]
    assert line["line"]["shape"] == "hv" and line["x"] == [sign_x * 1.0, sign_x * 2.0, sign_x * 3.0]
    # "hv" corners (x[i+1], y[i]): each is dominated by trial i (same y, worse x)
    for i in range(2):
        assert sign_x * line["x"][i + 1] > sign_x * line["x"][i]
    odd = render(read_run(mo_run(tmp_path, "odd", environment={"versions": ["torch"], "gpus": "all"})))
    assert "<h3>Environment (where this report was written)</h3>" in odd  # a malformed record is not shown
