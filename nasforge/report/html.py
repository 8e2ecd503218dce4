"""Render a run's report as one self-contained HTML page (plots embedded as PNG).

The page is the Jinja2 template ``templates/report.html.j2`` with autoescaping on: everything read
from the run directory (config, trials, ``best/summary.json``) reaches the page as escaped text.
"""

from __future__ import annotations

import base64
import io
from functools import lru_cache
from pathlib import Path
from typing import Any

import jinja2

from nasforge.experiment import run_dir as rd
from nasforge.report.data import RunRecords, history, pareto_view, read_run, trajectory, trial_rows

#: the entries of ``best/summary.json`` the page shows
SUMMARY_KEYS = ("kind", "arch", "test_accuracy", "retrain_epochs", "params", "flops", "benchmark", "truth",
                "searched_with")


def _png(fig) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    return base64.b64encode(buf.getvalue()).decode()


def _plots(records: RunRecords) -> list[tuple[str, str]]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out = []
    view = pareto_view(records)
    if view is not None and view.points:  # nothing feasible: no Pareto plot (the page says so)
        fig, ax = plt.subplots(figsize=(6, 4))
        if view.points:
            ax.scatter(*zip(*view.points, strict=True), s=14, alpha=0.5, label="feasible trials")
        if view.front:
            ax.step(*zip(*view.front, strict=True), where="post", color="C3", lw=1.5)
            ax.scatter(*zip(*view.front, strict=True), s=30, color="C3", label="Pareto front")
        if records.objectives[1].metric in ("params", "flops"):
            ax.set_xscale("log")
        ax.set_xlabel(view.x_metric)
        ax.set_ylabel(view.y_metric)
        ax.legend()
        ax.grid(alpha=0.3)
        out.append(("Pareto front", _png(fig)))
        plt.close(fig)
    hist = history(records)
    if hist.trial_index:
        fig, ax = plt.subplots(figsize=(6, 4))
        ax.scatter(hist.trial_index, hist.value, s=12, alpha=0.5, label=hist.metric)
        ax.plot(hist.trial_index, hist.best_so_far, color="C3", label="best so far")
        ax.set_xlabel("trial")
        ax.set_ylabel(hist.metric)
        ax.legend()
        ax.grid(alpha=0.3)
        out.append(("Best so far", _png(fig)))
        plt.close(fig)
    path = trajectory(records)
    if path is not None:
        fig, ax = plt.subplots(figsize=(6, 4))
        if path.probability:
            for name, values in path.probability.items():
                ax.plot(path.epoch, values, marker=".", lw=1, label=name)
            ax.set_ylabel("probability of the finally derived option")
            ax.set_ylim(0, 1.02)
            if len(path.probability) <= 12:
                ax.legend(fontsize=7, ncol=2)
        else:
            ax.plot(path.epoch, path.train_loss, marker=".", color="C0")
            ax.set_ylabel("supernet training loss")
        ax.set_xlabel("epoch")
        ax.grid(alpha=0.3)
        out.append(("Trajectory", _png(fig)))
        plt.close(fig)
    return out


def render(records: RunRecords) -> str:
    """The report page for ``records`` (``templates/report.html.j2``, autoescaped)."""
    header, rows = trial_rows(records.trials)
    counts: dict[str, int] = {}
    for t in records.trials:
        counts[str(t.status)] = counts.get(str(t.status), 0) + 1
    cfg = records.config
    summary = None
    if records.summary is not None:
        summary = {key: records.summary.get(key) for key in SUMMARY_KEYS}
        truth = summary.get("truth")
        summary["truth"] = [(str(k), v) for k, v in truth.items()] if isinstance(truth, dict) else []
    selected = None
    if summary is None:  # no final retraining: the selection itself, with its search metrics
        from nasforge.experiment.selection import select_best

        best = select_best(records.trials, records.objectives, records.constraints)
        if best is not None:
            selected = (best.number, best.arch.key, [(str(k), v) for k, v in sorted(best.metrics.items())])
    path = trajectory(records)
    epochs = [] if path is None else [
        (e, loss, derived) for e, loss, derived in zip(path.epoch, path.train_loss, path.derived, strict=True)]
    derived = any(d for _, _, d in epochs)
    family = [(m.get("budget"), m.get("arch"), m.get("predicted"),
               (m.get("result") or {}).get("test_accuracy") if isinstance(m.get("result"), dict) else None)
              for m in records.family or []]
    return _template().render(
        name=records.path.name,
        config={key: str(cfg.get(key)) for key in ("task", "space", "strategy")},
        objectives=[str(o) for o in records.objectives],
        constraints=[str(c) for c in records.constraints],
        counts=sorted(counts.items()),
        summary=summary,
        selected=selected,
        epochs=epochs,
        derived=derived,
        family=family,
        correlations=[(r.get("predictor"), r.get("target"), r.get("bn_mode"), r.get("kendall"), r.get("spearman"),
                       r.get("n")) for r in records.correlations or []],
        plots=_plots(records),
        header=[str(h) for h in header],
        rows=rows,
    )


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


@lru_cache(maxsize=1)
def _template() -> jinja2.Template:
    env = jinja2.Environment(loader=jinja2.PackageLoader("nasforge.report", "templates"),
                             autoescape=True, undefined=jinja2.StrictUndefined)
    env.filters["num"] = number
    env.filters["cell"] = cell
    env.filters["text"] = text
    return env.get_template("report.html.j2")


def write_report(run_dir: str | Path, out: str | Path | None = None) -> Path:
    """Write ``report.html`` into the run directory (or the folder ``out``), atomically; returns
    its path. The run is only read (read-only), so a run on a read-only disk reports to ``out``."""
    records = read_run(run_dir)
    folder = Path(out) if out is not None else Path(run_dir)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / rd.REPORT
    rd.write_text_atomic(path, render(records))
    return path
