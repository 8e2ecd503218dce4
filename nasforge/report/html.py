"""Render a run's report as one self-contained HTML page (plots embedded as PNG)."""

from __future__ import annotations

import base64
import html
import io
from pathlib import Path

from nasforge.experiment import run_dir as rd
from nasforge.report.data import RunRecords, history, pareto_view, read_run, trial_rows


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
    if view is not None:
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
    return out


def render(records: RunRecords) -> str:
    """The report page for ``records``."""
    esc = html.escape
    header, rows = trial_rows(records.trials)
    fmt = lambda v: f"{v:.4g}" if isinstance(v, float) else esc(str(v))  # noqa: E731
    table = "".join("<tr>" + "".join(f"<td>{fmt(v)}</td>" for v in row) + "</tr>" for row in rows)
    plots = "".join(f"<figure><img src='data:image/png;base64,{b64}' alt='{esc(title)}'>"
                    f"<figcaption>{esc(title)}</figcaption></figure>" for title, b64 in _plots(records))
    counts: dict[str, int] = {}
    for t in records.trials:
        counts[t.status] = counts.get(t.status, 0) + 1
    best = ""
    if records.summary:
        s = records.summary
        best = (f"<h2>Selected architecture</h2><p><code>{esc(s['arch'])}</code><br>"
                f"test accuracy {s['test_accuracy']:.4f} after retraining on train+val "
                f"({s['retrain_epochs']} epochs), {s['params']:,} parameters, {s['flops']:,} FLOPs</p>")
    cfg = records.config
    return f"""<!doctype html><html><head><meta charset="utf-8"><title>nasforge run {esc(records.path.name)}</title>
<style>body{{font-family:sans-serif;margin:2em;max-width:1200px}}table{{border-collapse:collapse;font-size:12px}}
td,th{{border:1px solid #ccc;padding:2px 6px}}figure{{display:inline-block;margin:0 1em}}code{{font-size:13px}}</style>
</head><body><h1>nasforge run <code>{esc(records.path.name)}</code></h1>
<p>task <b>{esc(str(cfg.get('task')))}</b>, space <b>{esc(str(cfg.get('space')))}</b>, strategy
<b>{esc(str(cfg.get('strategy')))}</b>, objectives {esc(', '.join(map(str, records.objectives)))}
{('constraints ' + esc(', '.join(map(str, records.constraints)))) if records.constraints else ''};
trials: {esc(', '.join(f'{k} {v}' for k, v in sorted(counts.items())))}</p>
{best}{plots}
<h2>Trials</h2><table><tr>{''.join(f'<th>{esc(h)}</th>' for h in header)}</tr>{table}</table>
</body></html>"""


def write_report(run_dir: str | Path) -> Path:
    """Write ``report.html`` into the run directory; returns its path."""
    records = read_run(run_dir)
    path = Path(run_dir) / rd.REPORT
    path.write_text(render(records))
    return path
