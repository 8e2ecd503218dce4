"""Plotly figures (plain ``{"data": [...], "layout": {...}}`` dicts) for the report pages.

Every text that comes from a run (architecture keys, metric and decision names, values) is
HTML-escaped here, because Plotly renders a subset of HTML in hover texts, names and titles;
``<br>`` and ``<b>`` are the only markup these figures add themselves.
"""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence
from typing import Any

from nasforge.core.objectives import Objective
from nasforge.core.records import Trial
from nasforge.experiment.selection import full_fidelity
from nasforge.report.data import History, RunRecords, Trajectory
from nasforge.report.views import DecisionEffect, HypervolumeCurve, Marks

Figure = dict[str, Any]

#: metrics spanning orders of magnitude, shown on a log axis
LOG_METRICS = ("params", "flops", "latency_ms", "memory", "size")
COLORS = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2", "#17becf", "#7f7f7f",
          "#bcbd22")
SELECTED = {"symbol": "star", "size": 18, "color": "#f5b700", "line": {"color": "#222", "width": 1.5}}


def esc(value: Any) -> str:
    """``value`` as text that Plotly shows literally."""
    return html.escape(str(value), quote=False)


def hover(trial: Trial, metrics: Sequence[str]) -> str:
    """The hover text of one trial: its number, architecture and ``metrics``."""
    lines = [f"<b>trial {trial.number}</b>", esc(trial.arch.key)]
    for m in metrics:
        if m in trial.metrics:
            v = trial.metrics[m]
            lines.append(f"{esc(m)}: {esc(f'{v:.6g}' if isinstance(v, float) else v)}")
    return "<br>".join(lines)


def layout(title: str, x: str, y: str, **extra: Any) -> dict[str, Any]:
    """The shared look: a title, axis titles (escaped), a legend above the plot."""
    out: dict[str, Any] = {
        "xaxis": {"title": {"text": esc(x)}, "zeroline": False},
        "yaxis": {"title": {"text": esc(y)}, "zeroline": False},
        "height": 440, "margin": {"l": 70, "r": 20, "t": 60, "b": 55},
        "legend": {"orientation": "h", "y": 1.02, "yanchor": "bottom", "x": 1, "xanchor": "right"},
        "hovermode": "closest", "template": "plotly_white",
    }
    if title:  # figures under a heading of their own have none (their buttons sit there)
        out["title"] = {"text": title, "x": 0.01, "font": {"size": 15}}
    out.update(extra)
    return out


def log_axis(metric: str, values: Sequence[float]) -> bool:
    positive = [v for v in values if v > 0]
    return metric in LOG_METRICS and len(positive) == len(values) and len(values) > 0


def pareto_figure(records: RunRecords, mark: Marks, title: str = "") -> Figure | None:
    """The first objective against the second: feasible trials, infeasible ones (constraints
    violated), the front as a step line, the selected trial as a star. ``None`` for one
    objective or when no trial reports both."""
    if len(records.objectives) < 2:
        return None
    y_obj, x_obj = records.objectives[0], records.objectives[1]
    shown = [o.metric for o in records.objectives]
    both = [t for t in records.trials if t.status == "complete" and full_fidelity(t)
            and x_obj.metric in t.metrics and y_obj.metric in t.metrics]
    feasible = [t for t in both if t.number in mark.feasible]
    if not feasible:
        return None
    infeasible = [t for t in both if t.number not in mark.feasible]
    front = front_order([t for t in feasible if t.number in mark.pareto], x_obj)
    data = [_points(feasible, x_obj.metric, y_obj.metric, shown, "feasible trials",
                    {"color": COLORS[0], "size": 7, "opacity": 0.55})]
    if infeasible:
        data.append(_points(infeasible, x_obj.metric, y_obj.metric, shown, "constraints violated",
                            {"color": "#999", "size": 7, "symbol": "x", "opacity": 0.6}))
    data.append({**_points(front, x_obj.metric, y_obj.metric, shown, "Pareto front",
                           {"color": COLORS[1], "size": 10, "symbol": "diamond"}),
                 "mode": "lines+markers", "line": {"shape": "hv", "color": COLORS[1], "width": 2}})
    selected = [t for t in feasible if t.number == mark.selected]
    if selected:
        data.append(_points(selected, x_obj.metric, y_obj.metric, shown, "selected", SELECTED))
    xs = [float(t.metrics[x_obj.metric]) for t in both]
    fig_layout = layout(title, str(x_obj), str(y_obj))
    if log_axis(x_obj.metric, xs):
        fig_layout["xaxis"]["type"] = "log"
    return {"data": data, "layout": fig_layout}


def front_order(front: Sequence[Trial], x_obj: Objective) -> list[Trial]:
    """Front trials from the best ``x_obj`` value to the worst: in that order a ``"hv"`` step
    line traces the boundary of the region the front dominates, whichever the directions."""
    return sorted(front, key=lambda t: x_obj.loss(float(t.metrics[x_obj.metric])))


def _points(trials: Sequence[Trial], x: str, y: str, shown: Sequence[str], name: str,
            marker: Mapping[str, Any]) -> dict[str, Any]:
    return {"type": "scatter", "mode": "markers", "name": esc(name),
            "x": [float(t.metrics[x]) for t in trials], "y": [float(t.metrics[y]) for t in trials],
            "text": [hover(t, shown) for t in trials], "hovertemplate": "%{text}<extra></extra>",
            "marker": dict(marker)}


def history_figure(records: RunRecords, hist: History, mark: Marks) -> Figure | None:
    """Each counted feasible trial's first objective and the best so far, against the trial
    count, with a button to switch to the run's clock (when the trials recorded it). ``None``
    for fewer than two such trials (a one-shot run's single evaluation, say)."""
    if len(hist.trial_index) < 2:
        return None
    by_number = {t.number: t for t in records.trials}
    shown = [o.metric for o in records.objectives]
    text = [hover(by_number[n], shown) for n in hist.number]
    sel = [i for i, n in enumerate(hist.number) if n == mark.selected]
    data = [
        {"type": "scatter", "mode": "markers", "name": "trial", "x": hist.trial_index, "y": hist.value,
         "text": text, "hovertemplate": "%{text}<extra></extra>", "marker": {"color": COLORS[0], "size": 6,
                                                                             "opacity": 0.5}},
        {"type": "scatter", "mode": "lines", "name": "best so far", "x": hist.trial_index, "y": hist.best_so_far,
         "line": {"shape": "hv", "color": COLORS[1], "width": 2.5}, "hoverinfo": "y"},
    ]
    if sel:
        data.append({"type": "scatter", "mode": "markers", "name": "selected", "x": [hist.trial_index[sel[0]]],
                     "y": [hist.value[sel[0]]], "text": [text[sel[0]]], "hovertemplate": "%{text}<extra></extra>",
                     "marker": SELECTED})
    fig_layout = layout("", "trial (counted)", hist.metric)
    if all(c is not None for c in hist.clock):
        xs_clock = [hist.clock, hist.clock] + ([[hist.clock[sel[0]]]] if sel else [])
        xs_trial = [hist.trial_index, hist.trial_index] + ([[hist.trial_index[sel[0]]]] if sel else [])
        fig_layout["updatemenus"] = [_x_switch(xs_trial, xs_clock, f"run clock (s, {esc(records.meta.get('clock', ''))})")]
    return {"data": data, "layout": fig_layout}


def _x_switch(by_trial: list[Any], by_clock: list[Any], clock_title: str) -> dict[str, Any]:
    """Plotly buttons that swap every trace's x between trial counts and the run's clock."""
    return {"type": "buttons", "direction": "right", "x": 0, "xanchor": "left", "y": 1.02, "yanchor": "bottom",
            "showactive": True, "pad": {"r": 4, "t": 0},
            "buttons": [
                {"label": "by trial", "method": "update",
                 "args": [{"x": by_trial}, {"xaxis.title.text": "trial (counted)"}]},
                {"label": "by clock", "method": "update",
                 "args": [{"x": by_clock}, {"xaxis.title.text": clock_title}]}]}


def decision_figure(effect: DecisionEffect) -> Figure:
    """One box per value of a decision, every trial drawn beside it."""
    data = []
    for i, (choice, values, numbers) in enumerate(zip(effect.choices, effect.values, effect.numbers, strict=True)):
        data.append({"type": "box", "name": esc(choice), "y": values, "boxpoints": "all", "jitter": 0.4,
                     "pointpos": 0, "marker": {"size": 4, "opacity": 0.6, "color": COLORS[i % len(COLORS)]},
                     "line": {"width": 1.2}, "text": [f"trial {n}" for n in numbers],
                     "hovertemplate": "%{text}: %{y:.4g}<extra>" + esc(choice) + "</extra>", "showlegend": False})
    fig_layout = layout(esc(effect.decision), "", effect.metric, height=300,
                        margin={"l": 60, "r": 10, "t": 40, "b": 60})
    fig_layout["title"]["font"] = {"size": 13}
    fig_layout["legend"] = {}
    fig_layout["xaxis"]["automargin"] = True
    return {"data": data, "layout": fig_layout}


def hypervolume_figure(curve: HypervolumeCurve, clock_name: str = "") -> Figure:
    """The running hypervolume (objectives scaled to [0, 1] over the points shown)."""
    data = [{"type": "scatter", "mode": "lines", "name": "hypervolume", "x": curve.trial_index, "y": curve.value,
             "line": {"shape": "hv", "color": COLORS[2], "width": 2.5}}]
    fig_layout = layout("", "trial (counted)",
                        "hypervolume (scaled objectives)")
    if all(c is not None for c in curve.clock):
        fig_layout["updatemenus"] = [_x_switch([curve.trial_index], [curve.clock], f"run clock (s, {esc(clock_name)})")]
    return {"data": data, "layout": fig_layout}


def trajectory_figure(path: Trajectory) -> Figure:
    """A one-shot run's epochs: per decision, the probability of the option finally derived
    (methods with architecture parameters), and the supernet's training loss."""
    data: list[dict[str, Any]] = []
    for i, (name, values) in enumerate(path.probability.items()):
        data.append({"type": "scatter", "mode": "lines+markers", "name": esc(name), "x": path.epoch, "y": values,
                     "line": {"color": COLORS[i % len(COLORS)], "width": 1.5}, "marker": {"size": 5}})
    loss = {"type": "scatter", "mode": "lines+markers", "name": "training loss", "x": path.epoch,
            "y": path.train_loss, "line": {"color": "#444", "dash": "dot", "width": 2}}
    if data:
        loss["yaxis"] = "y2"
        fig_layout = layout("", "epoch",
                            "probability of the finally derived option",
                            yaxis2={"title": {"text": "training loss"}, "overlaying": "y", "side": "right",
                                    "showgrid": False})
        fig_layout["yaxis"]["range"] = [0, 1.02]
        fig_layout["margin"]["r"] = 70
    else:
        fig_layout = layout("", "epoch", "training loss")
    data.append(loss)
    return {"data": data, "layout": fig_layout}
