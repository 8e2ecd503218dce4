"""Render a run's report as one self-contained, offline HTML page with interactive plots.

The page is the Jinja2 template ``templates/report.html.j2`` (on ``base.html.j2``) with
autoescaping on: everything read from the run directory (config, trials, ``best/summary.json``)
reaches the page as escaped text. The plots are Plotly figures, drawn in the browser by
plotly.js, which is embedded once in the page (about 4.8 MB): no network is needed to view it.
The figures travel as JSON in a ``<script type="application/json">`` element, with ``<``, ``>``
and ``&`` written as ``\\u003c``-style escapes so that no text can close the element.
"""

from __future__ import annotations

import datetime as dt
import json
from functools import lru_cache
from pathlib import Path
from typing import Any

import jinja2
from markupsafe import Markup

from nasforge.experiment import run_dir as rd
from nasforge.report import figures as fig
from nasforge.report.data import RunRecords, history, read_run, trajectory
from nasforge.report.environment import current_environment
from nasforge.report.views import (
    decision_effects,
    finite,
    header,
    hypervolume_curve,
    marks,
    trial_table,
)

#: the entries of ``best/summary.json`` the page shows
SUMMARY_KEYS = ("kind", "arch", "test_accuracy", "retrain_epochs", "params", "flops", "benchmark", "truth",
                "searched_with", "test_perplexity")


def figures(records: RunRecords) -> dict[str, dict[str, Any]]:
    """The page's Plotly figures by element id: ``pareto``, ``history``, ``hypervolume``,
    ``trajectory`` and ``decision-N`` (each only where the run has what it shows)."""
    mark = marks(records)
    out: dict[str, dict[str, Any] | None] = {
        "pareto": fig.pareto_figure(records, mark),
        "history": fig.history_figure(records, history(records), mark),
    }
    curve = hypervolume_curve(records)
    if curve is not None:
        out["hypervolume"] = fig.hypervolume_figure(curve, str(records.meta.get("clock", "")))
    path = trajectory(records)
    if path is not None:
        out["trajectory"] = fig.trajectory_figure(path)
    for i, effect in enumerate(decision_effects(records)):
        out[f"decision-{i}"] = fig.decision_figure(effect)
    return {key: value for key, value in out.items() if value is not None}


def render(records: RunRecords) -> str:
    """The report page for ``records`` (``templates/report.html.j2``, autoescaped)."""
    cfg_summary = None
    if records.summary is not None:
        cfg_summary = {key: records.summary.get(key) for key in SUMMARY_KEYS}
        truth = cfg_summary.get("truth")
        cfg_summary["truth"] = [(str(k), v) for k, v in truth.items()] if isinstance(truth, dict) else []
    mark = marks(records)
    by_number = {t.number: t for t in records.trials}
    selected = None
    if mark.selected is not None:
        best = by_number[mark.selected]
        selected = (best.number, best.arch.key, [(str(k), v) for k, v in sorted(best.metrics.items())])
    path = trajectory(records)
    epochs = [] if path is None else [
        (e, loss, derived) for e, loss, derived in zip(path.epoch, path.train_loss, path.derived, strict=True)]
    family = [(m.get("budget"), m.get("arch"), m.get("predicted"),
               (m.get("result") or {}).get("test_accuracy") if isinstance(m.get("result"), dict) else None)
              for m in records.family or []]
    figs = figures(records)
    environment = records.meta.get("environment")
    recorded = (isinstance(environment, dict) and isinstance(environment.get("versions", {}), dict)
                and isinstance(environment.get("gpus", []), list))  # else: this machine's, said so
    return template("report.html.j2").render(
        name=records.path.name,
        head=header(records),
        environment=environment if recorded else current_environment(),
        environment_recorded=recorded,
        written=dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        summary=cfg_summary,
        selected=selected,
        single=len(records.objectives) == 1,
        nothing_feasible=not mark.feasible,
        epochs=epochs,
        derived=any(d for _, _, d in epochs),
        family=family,
        correlations=[(r.get("predictor"), r.get("target"), r.get("bn_mode"), r.get("kendall"), r.get("spearman"),
                       r.get("precision_top10pct", ""), r.get("precision_top5", ""), r.get("kendall_top10pct", ""),
                       r.get("n")) for r in records.correlations or []],
        figure_ids=list(figs),
        decisions=sorted((k for k in figs if k.startswith("decision-")), key=lambda k: int(k.split("-")[1])),
        table=trial_table(records, mark),
        data=script_json({"figures": figs}),
        plotly_js=plotly_js(),
    )


def script_json(value: Any) -> Markup:
    """``value`` as JSON that is safe inside a ``<script>`` element (no ``<``, ``>``, ``&`` or
    line separators appear literally; NaN and infinities become ``null``)."""
    text = json.dumps(finite(value), allow_nan=False, ensure_ascii=False, separators=(",", ":"))
    for char, escape in (("<", "\\u003c"), (">", "\\u003e"), ("&", "\\u0026"), ("\u2028", "\\u2028"),
                         ("\u2029", "\\u2029")):
        text = text.replace(char, escape)
    return Markup(text)


@lru_cache(maxsize=1)
def plotly_js() -> Markup:
    """The plotly.js bundle that ships with the ``plotly`` package, to embed in a page."""
    from plotly.offline import get_plotlyjs

    return Markup(get_plotlyjs().replace("</script", "<\\/script"))


def number(value: Any, spec: str) -> str:
    """``value`` formatted with ``spec`` when it is a number, else as :func:`text`."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return format(value, spec)
    return text(value)


def text(value: Any) -> str:
    """``value`` as text, "?" when missing (the template escapes it)."""
    return "?" if value is None else str(value)


def cell(value: Any) -> str:
    """A trials-table cell: floats to 4 significant digits, anything else as text."""
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def sort_key(value: Any) -> str:
    """A table cell's ``data-v``: the number itself for numbers, nothing otherwise (the table
    script then sorts by the cell's text)."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return repr(float(value))
    return ""


@lru_cache(maxsize=4)
def template(name: str) -> jinja2.Template:
    env = jinja2.Environment(loader=jinja2.PackageLoader("nasforge.report", "templates"),
                             autoescape=True, undefined=jinja2.StrictUndefined)
    env.filters["num"] = number
    env.filters["cell"] = cell
    env.filters["text"] = text
    env.filters["sortkey"] = sort_key
    return env.get_template(name)


def write_report(run_dir: str | Path, out: str | Path | None = None) -> Path:
    """Write ``report.html`` into the run directory (or the folder ``out``), atomically; returns
    its path. The run is only read (read-only), so a run on a read-only disk reports to ``out``."""
    records = read_run(run_dir)
    folder = Path(out) if out is not None else Path(run_dir)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / rd.REPORT
    rd.write_text_atomic(path, render(records))
    return path
