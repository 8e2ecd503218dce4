"""``regret.png`` and ``hypervolume.png``: mean over seeds vs queries (log x), 95% bands,
one panel per benchmark."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from nasforge.bench.protocol import RunCurve
from nasforge.bench.summary import ci95, groups


def _band(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    mean = values.mean(axis=0)
    half = np.array([ci95(values[:, q]) for q in range(values.shape[1])])
    return mean, half


def plot_curves(curves: Sequence[RunCurve], path: Path, what: str = "regret", unit: str = "accuracy points") -> Path:
    """Mean ``what`` (``regret`` or ``hypervolume``) per strategy, one panel per benchmark."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    by = groups(c for c in curves if getattr(c, what) is not None)
    benchmarks = list(dict.fromkeys(b for b, _ in by))
    fig, axes = plt.subplots(1, max(1, len(benchmarks)), figsize=(4.2 * max(1, len(benchmarks)), 3.6),
                             squeeze=False)
    for ax, bench in zip(axes[0], benchmarks, strict=False):
        for (b, strategy), runs in by.items():
            if b != bench:
                continue
            values = np.array([getattr(c, what) for c in runs], dtype=float)
            x = np.arange(1, values.shape[1] + 1)
            mean, half = _band(values)
            (line,) = ax.plot(x, mean, label=strategy, lw=1.4)
            low = np.maximum(mean - half, 0.0) if what == "regret" else mean - half
            ax.fill_between(x, low, mean + half, color=line.get_color(), alpha=0.18, lw=0)
        true = [c.true_hypervolume for c in curves if c.benchmark == bench and c.true_hypervolume is not None]
        if what == "hypervolume" and true:
            ax.axhline(true[0], color="black", ls="--", lw=1, label="true Pareto front")
        ax.set_xscale("log")
        ax.set_title(bench)
        ax.set_xlabel("queries (unique architectures)")
        ax.set_ylabel(f"mean regret ({unit})" if what == "regret" else "mean hypervolume (normalised)")
        ax.grid(alpha=0.3, which="both")
    axes[0][0].legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path
