"""report.html and compare.html in a real browser: headless Chromium loads each page with a probe
script injected before the page's own scripts. The probe records every console error, uncaught
exception, unhandled rejection and ``alert`` call; once the page has loaded it records the Plotly
plots drawn (their SVG, traces and points), then clicks table headers and types into the
filter box, recording the rows. It writes all of it as JSON into the DOM, which ``--dump-dom``
returns. Skipped, with the reason, where no Chromium is installed (CI installs it: ``.ci/run``).
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from oneshot_toys import tiny_spaces, tiny_task
from report_runs import injected_run

import nasforge
from nasforge.report.compare import write_compare
from nasforge.report.data import read_run
from nasforge.report.html import write_report

BROWSERS = ("chromium", "chromium-browser", "google-chrome")
CHROMIUM = next((path for path in map(shutil.which, BROWSERS) if path), None)
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason=f"no Chromium on PATH (looked for {', '.join(BROWSERS)})")

#: injected right after <head>: catches errors from the first script on, then probes the page
PROBE = """<script>(function () {
  var caught = [];
  var consoleError = console.error;
  console.error = function () {
    caught.push("console.error: " + Array.prototype.map.call(arguments, String).join(" "));
    return consoleError.apply(console, arguments);
  };
  window.addEventListener("error", function (e) { caught.push("uncaught: " + e.message); });
  window.addEventListener("unhandledrejection", function (e) { caught.push("unhandled rejection: " + e.reason); });
  window.alert = function (m) { caught.push("alert: " + m); };
  function rows(table) {
    return Array.prototype.filter.call(table.tBodies[0].rows, function (r) { return !r.hidden; });
  }
  function column(table, name) {
    var heads = Array.prototype.map.call(table.tHead.rows[0].cells, function (c) { return c.textContent; });
    var col = heads.indexOf(name);
    return rows(table).map(function (r) { return r.cells[col].textContent; });
  }
  function type(input, text) { input.value = text; input.dispatchEvent(new Event("input")); }
  function probe() {
    var out = {errors: caught, plots: {}, tables: {}};
    document.querySelectorAll(".js-plotly-plot").forEach(function (el) {
      out.plots[el.id] = {svg: el.querySelectorAll("svg.main-svg").length, traces: (el.data || []).length,
                          points: el.querySelectorAll(".scatterlayer .point, .boxlayer .point").length,
                          width: el.getBoundingClientRect().width};
    });
    var ask = window.NF_PROBE || {};
    document.querySelectorAll("table.nf-sortable").forEach(function (table) {
      var t = {rows: rows(table).length, header: Array.prototype.map.call(table.tHead.rows[0].cells,
               function (c) { return c.textContent; }), first: column(table, table.tHead.rows[0].cells[0].textContent)};
      var key = ask.sort;
      var th = Array.prototype.find.call(table.tHead.rows[0].cells, function (c) { return c.textContent === key; });
      if (th) {
        th.click(); t.ascending = column(table, key); t.ascendingFirst = column(table, t.header[0]);
        th.click(); t.descending = column(table, key); t.sortState = th.getAttribute("aria-sort");
      }
      var box = document.querySelector("input[data-filter='" + table.id + "']");
      if (box && ask.filter !== undefined) {
        type(box, ask.filter); t.filtered = column(table, t.header[0]);
        t.count = document.querySelector("[data-count='" + table.id + "']").textContent; type(box, "");
      }
      var menu = document.querySelector("select[data-status='" + table.id + "']");
      if (menu) {
        t.statuses = {};
        Array.prototype.forEach.call(menu.options, function (o) {
          menu.value = o.value; menu.dispatchEvent(new Event("input")); t.statuses[o.value] = rows(table).length;
        });
        menu.value = ""; menu.dispatchEvent(new Event("input"));
      }
      out.tables[table.id] = t;
    });
    var pre = document.createElement("pre"); pre.id = "probe"; pre.textContent = JSON.stringify(out);
    document.body.appendChild(pre);
  }
  window.addEventListener("load", function () { setTimeout(probe, 300); });
})();</script>"""


def chromium(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
                           "--window-size=1400,1000", f"--user-data-dir={tmp_path / 'profile'}", *args],
                          capture_output=True, text=True, timeout=120)


def probed(page: Path, tmp_path: Path, **ask: Any) -> dict[str, Any]:
    """What the probe saw of ``page`` (a copy with the probe injected, loaded by Chromium)."""
    copy = tmp_path / f"probed-{page.parent.name}.html"
    head = f"<script>window.NF_PROBE = {json.dumps(ask)};</script>{PROBE}"
    copy.write_text(page.read_text().replace('<meta charset="utf-8">', '<meta charset="utf-8">' + head, 1))
    done = chromium(tmp_path, "--virtual-time-budget=10000", "--dump-dom", copy.as_uri())
    assert done.returncode == 0, done.stderr[-2000:]
    assert '<pre id="probe">' in done.stdout, done.stderr[-2000:]
    text = done.stdout.split('<pre id="probe">', 1)[1].split("</pre>", 1)[0]
    return json.loads(text.replace("&lt;", "<").replace("&gt;", ">").replace("&quot;", '"').replace("&amp;", "&"))


def drawn(plot: dict[str, Any], traces: int) -> bool:
    return plot["svg"] >= 1 and plot["traces"] == traces and plot["width"] > 300


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A one-shot run (DARTS: architecture parameters), two multi-objective tabular runs with
    a constraint (some trials infeasible), and a run directory full of injected markup."""
    root = tmp_path_factory.mktemp("browser")
    nasforge.search(tiny_task(), tiny_spaces()["nb201"], "darts", seed=0, run_dir=root / "darts", final_retrain=False,
                    strategy_settings={"epochs": 3, "batch_size": 8, "calib_batches": 1, "threads": 1})
    for strategy in ("nsga2", "random"):
        nasforge.search("cifar10", "macro", strategy, evaluator="tabular", objectives=["accuracy:max", "flops:min"],
                        constraints=["params<=2000000"], trials=30, seed=1, run_dir=root / strategy)
    return {"darts": root / "darts", "nsga2": root / "nsga2", "random": root / "random",
            "injected": write_report(injected_run(root)).parent}


def test_a_multi_objective_report_draws_its_plots_and_its_table_sorts_and_filters(runs, tmp_path):
    records = read_run(runs["nsga2"])
    key = records.trials[4].arch.key
    seen = probed(runs["nsga2"] / "report.html", tmp_path, sort="accuracy", filter=key.upper())
    assert seen["errors"] == []
    plots = seen["plots"]
    assert {"pareto", "history", "hypervolume", "decision-0"} <= set(plots), plots
    assert drawn(plots["pareto"], 4), plots["pareto"]  # feasible, constraints violated, front, selected
    assert plots["pareto"]["points"] >= 30  # every complete trial once, the front and the star again
    assert drawn(plots["history"], 3) and drawn(plots["hypervolume"], 1)
    decisions = [k for k in plots if k.startswith("decision-")]
    assert len(decisions) == 8 and all(plots[k]["svg"] and plots[k]["points"] for k in decisions)
    table = seen["tables"]["trials-table"]
    assert table["rows"] == len(records.trials) == 30
    assert table["first"] == [str(t.number) for t in records.trials]
    accuracy = [float(v) for v in table["ascending"]]
    assert accuracy == sorted(accuracy) and [float(v) for v in table["descending"]] == sorted(accuracy, reverse=True)
    assert table["sortState"] == "descending"
    assert table["ascendingFirst"][0] == str(min(records.trials, key=lambda t: t.metrics["accuracy"]).number)
    matching = [str(t.number) for t in records.trials if t.arch.key == key]  # the filter ignores case
    assert sorted(table["filtered"]) == sorted(matching) and table["count"] == f"{len(matching)} of 30 shown"
    infeasible = sum(t.metrics["params"] > 2_000_000 for t in records.trials)
    assert 0 < infeasible < 30
    assert table["statuses"][""] == 30 and table["statuses"]["complete"] == 30
    assert table["statuses"]["marked"] == len({*(t.number for t in records.trials if t.metrics["params"] <= 2e6
                                                 and _on_front(t, records.trials))})


def _on_front(trial, trials) -> bool:
    feasible = [t for t in trials if t.metrics["params"] <= 2e6]
    a, f = trial.metrics["accuracy"], trial.metrics["flops"]
    return not any(t.metrics["accuracy"] >= a and t.metrics["flops"] <= f and
                   (t.metrics["accuracy"] > a or t.metrics["flops"] < f) for t in feasible)


def test_a_one_shot_report_draws_the_architecture_parameters(runs, tmp_path):
    seen = probed(runs["darts"] / "report.html", tmp_path, sort="trial", filter="no such text")
    assert seen["errors"] == []
    records = read_run(runs["darts"])
    assert drawn(seen["plots"]["trajectory"], 6 + 1)  # one line per NB201 edge, and the training loss
    table = seen["tables"]["trials-table"]
    assert table["rows"] == len(records.trials) >= 1 and table["filtered"] == [] and table["count"].startswith("0 of")


def test_markup_in_a_run_directory_runs_nothing_in_the_browser(runs, tmp_path):
    seen = probed(runs["injected"] / "report.html", tmp_path, sort="status", filter="script")
    assert seen["errors"] == []  # no alert() from any of the injected payloads, no error
    assert drawn(seen["plots"]["pareto"], 3) and seen["plots"]["history"]["svg"]
    table = seen["tables"]["trials-table"]
    assert "<script>alert(12)</script>" in table["header"]  # shown as text
    assert sorted(table["filtered"]) == ["1", "3", "4"]  # the rows holding a payload: its arch, its error, its status


def test_the_compare_page_overlays_the_runs(runs, tmp_path):
    page = write_compare([runs["nsga2"], runs["random"]], tmp_path / "compare.html")
    seen = probed(page, tmp_path, sort="hypervolume", filter="random")
    assert seen["errors"] == []
    plots = seen["plots"]
    assert drawn(plots["compare-history"], 2) and drawn(plots["compare-pareto"], 4)  # points and front per run
    assert drawn(plots["compare-hypervolume"], 2)
    table = seen["tables"]["runs-table"]
    assert table["rows"] == 2 and table["first"] == ["nsga2", "random"] and table["filtered"] == ["random"]
    hv = [float(v) for v in table["descending"]]
    assert hv == sorted(hv, reverse=True) and all(0 < v <= 1.21 for v in hv)


def test_the_screenshot_shows_the_page(runs, tmp_path):
    from PIL import Image

    shot = tmp_path / "report.png"
    done = chromium(tmp_path, f"--screenshot={shot}", "--virtual-time-budget=5000",
                    (runs["nsga2"] / "report.html").as_uri())
    assert shot.is_file(), done.stderr[-2000:]
    image = Image.open(shot).convert("RGB")
    assert image.size == (1400, 1000)
    r, g, b = np.asarray(image, dtype=int).transpose(2, 0, 1)
    red = int(((r > 180) & (g < 90) & (b < 90)).sum())  # the Pareto front's line and markers
    dark = int((r + g + b < 200).sum())  # text, borders, axes
    assert red > 200 and dark > 0.005 * 1400 * 1000


def test_the_probe_sees_console_errors_exceptions_and_alerts(tmp_path):
    """The probe itself: a page that logs an error, throws and calls alert() is caught at it."""
    page = tmp_path / "bad" / "page.html"
    page.parent.mkdir()
    page.write_text('<!doctype html><html><head><meta charset="utf-8"></head><body><script>'
                    'console.error("logged"); alert("hi"); undefinedFunction();</script></body></html>')
    errors = probed(page, tmp_path)["errors"]
    assert errors[0] == "console.error: logged" and errors[1] == "alert: hi"
    assert "undefinedFunction" in errors[2] and len(errors) == 3
