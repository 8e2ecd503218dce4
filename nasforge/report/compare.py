"""Several finished runs on one page (``nasforge compare RUN1 RUN2 ...``).

Runs are compared on the objectives they all share (same metric, same direction), in the first
run's order; what is not shared is said on the page, and runs that share none are refused. Each
run keeps its own constraints (they decide what is feasible in it) and its own selected model.
The hypervolumes share one scale: each common objective, as a loss, scaled to [0, 1] between
the best and the worst feasible value over all the runs, reference point
:data:`~nasforge.report.views.HV_REFERENCE` in each, so their values can be set side by side.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from nasforge.core.objectives import Objective
from nasforge.experiment import run_dir as rd
from nasforge.experiment.selection import feasible_trials, pareto_trials
from nasforge.report import figures as fig
from nasforge.report.data import RunRecords, history, read_run
from nasforge.report.html import plotly_js, script_json, template
from nasforge.report.views import (
    Scale,
    budget_text,
    ending_text,
    hypervolume_curve,
    is_finished,
    losses,
    marks,
    scale_of,
)


@dataclass(frozen=True)
class RunRow:
    """One run's line in the comparison table."""

    name: str
    settings: list[str]  # task, space, strategy, evaluator, seed
    counted: int
    selected_arch: str | None
    selected_metrics: list[Any]  # one per common objective ("" where missing)
    final: str  # the retrained test accuracy or the table's truth, as text
    hypervolume: float | None
    ending: str


@dataclass(frozen=True)
class Comparison:
    names: list[str]
    runs: list[RunRecords]  # each with the common objectives as its objectives
    objectives: list[Objective]
    notes: list[str]  # what differs between the runs and is not compared
    scale: Scale | None
    rows: list[RunRow]
    config_rows: list[tuple[str, list[str], bool]]  # key, value per run, whether they differ
    config_yaml: list[str]


def read_runs(paths: Sequence[str | Path]) -> list[RunRecords]:
    """Read every run, refusing a missing folder, a folder that holds no run, and an unfinished
    run, each named, before anything is compared."""
    if len(paths) < 2:
        raise rd.RunDirError(f"compare needs two runs or more, got {len(paths)}")
    seen: dict[Path, str] = {}
    out = []
    for raw in paths:
        path = Path(raw)
        if not path.exists():
            raise rd.RunDirError(f"{path} does not exist")
        resolved = path.resolve()
        if resolved in seen:
            raise rd.RunDirError(f"{path} is given twice (as {seen[resolved]} already)")
        seen[resolved] = str(path)
        records = read_run(path)
        if not is_finished(records):
            raise rd.RunDirError(f"{path} is not finished (interrupted, or still running): "
                                 f"`nasforge resume {path}` completes it, then compare it")
        out.append(records)
    return out


def common_objectives(runs: Sequence[RunRecords]) -> tuple[list[Objective], list[str]]:
    """The objectives every run has (metric and direction), and notes on the others."""
    first = runs[0].objectives
    common = [o for o in first if all(o in r.objectives for r in runs[1:])]
    notes = []
    for r in runs:
        other = [str(o) for o in r.objectives if o not in common]
        if other:
            notes.append(f"{r.path.name}: objective{'s' if len(other) > 1 else ''} {', '.join(other)} "
                         "not shared by every run, left out of the comparison")
    if not common:
        listed = "; ".join(f"{r.path} has {', '.join(str(o) for o in r.objectives)}" for r in runs)
        raise rd.RunDirError(f"the runs share no objective, nothing to compare: {listed}")
    constraints = {tuple(str(c) for c in r.constraints) for r in runs}
    if len(constraints) > 1:
        notes.append("the runs have different constraints; each run's own decide which of its trials are "
                     "feasible")
    return common, notes


def compare(paths: Sequence[str | Path]) -> Comparison:
    """Read and compare the runs in ``paths`` (see the module's docstring)."""
    originals = read_runs(paths)
    objectives, notes = common_objectives(originals)
    runs = [dataclasses.replace(r, objectives=objectives) for r in originals]
    names = _names(originals)
    points = [losses(feasible_trials(r.trials, objectives, r.constraints), objectives) for r in runs]
    scale = scale_of(np.vstack(points)) if len(objectives) > 1 else None
    rows = []
    for name, original, run in zip(names, originals, runs, strict=True):
        mark = marks(original)  # the run's own selection, by its own objectives
        selected = next((t for t in original.trials if t.number == mark.selected), None)
        curve = hypervolume_curve(run, objectives, scale) if scale is not None else None
        cfg = original.config
        evaluator = cfg.get("evaluator")
        rows.append(RunRow(
            name,
            [str(cfg.get(k)) for k in ("task", "space", "strategy")]
            + [str(evaluator.get("name") if isinstance(evaluator, dict) else evaluator),
               str(original.meta.get("seed", cfg.get("seed")))],
            sum(t.counts_for_budget for t in original.trials),
            selected.arch.key if selected else None,
            [selected.metrics.get(o.metric, "") if selected else "" for o in objectives],
            _final(original.summary),
            curve.value[-1] if curve and curve.value else (0.0 if scale is not None else None),
            ending_text(original),
        ))
    keys, values = _config_table(originals)
    config_rows = [(k, v, len(set(v)) > 1) for k, v in zip(keys, values, strict=True)]
    return Comparison(names, runs, objectives, notes, scale, rows, config_rows,
                      [yaml.safe_dump(r.config, sort_keys=False, allow_unicode=True) for r in originals])


def _names(runs: Sequence[RunRecords]) -> list[str]:
    """Folder names, with their parents where two runs share one."""
    names = [r.path.name for r in runs]
    if len(set(names)) < len(names):
        names = [f"{r.path.parent.name}/{r.path.name}" for r in runs]
    if len(set(names)) < len(names):
        names = [str(r.path) for r in runs]
    return names


def _final(summary: dict[str, Any] | None) -> str:
    if not summary:
        return "not retrained"
    if summary.get("kind") == "table":
        truth = summary.get("truth") if isinstance(summary.get("truth"), dict) else {}
        return ", ".join(f"{k} {_fmt(v)}" for k, v in truth.items()) + " (table)"
    perplexity = f", test perplexity {_fmt(summary['test_perplexity'])}" if "test_perplexity" in summary else ""
    return f"test accuracy {_fmt(summary.get('test_accuracy'))}{perplexity} (retrained)"


def _fmt(value: Any) -> str:
    return f"{value:.4g}" if isinstance(value, (int, float)) and not isinstance(value, bool) else str(value)


def _config_table(runs: Sequence[RunRecords]) -> tuple[list[str], list[list[str]]]:
    keys: list[str] = []
    for r in runs:
        keys += [k for k in r.config if k not in keys]
    values = [[_compact(r.config[k]) if k in r.config else "(absent)" for r in runs] for k in keys]
    return keys, values


def _compact(value: Any) -> str:
    if isinstance(value, (dict, list)):
        return yaml.safe_dump(value, default_flow_style=True, sort_keys=False, allow_unicode=True, width=10**6).strip()
    return "null" if value is None else str(value)


# -------------------------------------------------------------------------------------- figures
def figures(comparison: Comparison) -> dict[str, dict[str, Any]]:
    """``compare-history`` (best so far, overlaid), ``compare-pareto`` (each run's feasible
    points and front, for two common objectives or more) and ``compare-hypervolume``."""
    out: dict[str, dict[str, Any]] = {}
    first = comparison.objectives[0]
    data = []
    for i, (name, run) in enumerate(zip(comparison.names, comparison.runs, strict=True)):
        hist = history(run)
        if hist.trial_index:
            data.append({"type": "scatter", "mode": "lines", "name": fig.esc(name), "x": hist.trial_index,
                         "y": hist.best_so_far, "line": {"shape": "hv", "width": 2.5, "color": _color(i)},
                         "hovertemplate": f"{fig.esc(name)}<br>trial %{{x}}: %{{y:.4g}}<extra></extra>"})
    if data:
        out["compare-history"] = {"data": data, "layout": fig.layout("", "trial (counted)",
                                                                      f"best {first.metric} so far")}
    if len(comparison.objectives) > 1:
        out.update(_pareto(comparison))
    return out


def _pareto(comparison: Comparison) -> dict[str, dict[str, Any]]:
    y_obj, x_obj = comparison.objectives[0], comparison.objectives[1]
    shown = [o.metric for o in comparison.objectives]
    data, curves, xs = [], [], []
    for i, (name, run) in enumerate(zip(comparison.names, comparison.runs, strict=True)):
        pool = feasible_trials(run.trials, run.objectives, run.constraints)
        if not pool:
            continue
        front = fig.front_order(pareto_trials(run.trials, run.objectives, run.constraints), x_obj)
        xs += [float(t.metrics[x_obj.metric]) for t in pool]
        group = f"run{i}"
        data.append({"type": "scatter", "mode": "markers", "name": fig.esc(name), "legendgroup": group,
                     "showlegend": False, "x": [float(t.metrics[x_obj.metric]) for t in pool],
                     "y": [float(t.metrics[y_obj.metric]) for t in pool],
                     "text": [f"{fig.esc(name)}<br>{fig.hover(t, shown)}" for t in pool],
                     "hovertemplate": "%{text}<extra></extra>",
                     "marker": {"size": 6, "opacity": 0.35, "color": _color(i)}})
        data.append({"type": "scatter", "mode": "lines+markers", "name": fig.esc(name), "legendgroup": group,
                     "x": [float(t.metrics[x_obj.metric]) for t in front],
                     "y": [float(t.metrics[y_obj.metric]) for t in front],
                     "text": [f"{fig.esc(name)}<br>{fig.hover(t, shown)}" for t in front],
                     "hovertemplate": "%{text}<extra></extra>",
                     "line": {"shape": "hv", "width": 2.5, "color": _color(i)},
                     "marker": {"size": 9, "symbol": "diamond", "color": _color(i)}})
        curve = hypervolume_curve(run, comparison.objectives, comparison.scale)
        if curve is not None:
            curves.append({"type": "scatter", "mode": "lines", "name": fig.esc(name), "x": curve.trial_index,
                           "y": curve.value, "line": {"shape": "hv", "width": 2.5, "color": _color(i)}})
    out: dict[str, dict[str, Any]] = {}
    if data:
        layout = fig.layout("", str(x_obj), str(y_obj))
        if fig.log_axis(x_obj.metric, xs):
            layout["xaxis"]["type"] = "log"
        out["compare-pareto"] = {"data": data, "layout": layout}
    if curves:
        out["compare-hypervolume"] = {"data": curves, "layout": fig.layout(
            "", "trial (counted)", "hypervolume (common scale)")}
    return out


def _color(i: int) -> str:
    return fig.COLORS[i % len(fig.COLORS)]


def render(comparison: Comparison) -> str:
    """The comparison page (``templates/compare.html.j2``, autoescaped)."""
    figs = figures(comparison)
    return template("compare.html.j2").render(
        c=comparison, budgets=[budget_text(r.config, bool(r.epochs)) for r in comparison.runs], figure_ids=list(figs),
        objectives=[str(o) for o in comparison.objectives],
        written=dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        data=script_json({"figures": figs}), plotly_js=plotly_js())


def write_compare(paths: Sequence[str | Path], out: str | Path) -> Path:
    """Compare the runs in ``paths`` and write the page to the file ``out`` (atomically); the
    runs are only read. Returns ``out``."""
    out = Path(out)
    if out.is_dir():
        raise rd.RunDirError(f"{out} is a folder; --out names the page to write, e.g. {out / 'compare.html'}")
    page = render(compare(paths))
    out.parent.mkdir(parents=True, exist_ok=True)
    rd.write_text_atomic(out, page)
    return out
