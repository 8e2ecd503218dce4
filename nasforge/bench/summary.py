"""From run curves to the protocol's tables: pure functions, then CSV writers.

``summary.csv``: per benchmark, strategy and query count, the mean and median regret over
seeds, the half-width of the 95% confidence interval of the mean (Student's t), and the
relative improvement over random search, ``100 * (best - random's best) / random's best``
with the means over seeds of the best value found (Yang et al. 2020, "NAS evaluation is
frustratingly hard"; positive means better than random, also for a minimised metric).
"""

from __future__ import annotations

import csv
import math
from collections.abc import Iterable, Sequence
from dataclasses import astuple, dataclass, fields
from pathlib import Path
from typing import Any

import numpy as np
from scipy import stats

from nasforge.bench.protocol import RunCurve

POINTS = (10, 25, 50, 100, 200, 300)
BASELINE = "random"


@dataclass(frozen=True)
class SummaryRow:
    benchmark: str
    strategy: str
    queries: int
    mean_regret: float
    median_regret: float
    ci95: float
    relative_improvement: float


@dataclass(frozen=True)
class HypervolumeRow:
    benchmark: str
    strategy: str
    queries: int
    mean_hypervolume: float
    median_hypervolume: float
    ci95: float
    true_hypervolume: float
    mean_hv_regret: float


def ci95(values: np.ndarray) -> float:
    """Half-width of the 95% confidence interval of the mean (0 for fewer than two values)."""
    n = len(values)
    if n < 2:
        return 0.0
    return float(stats.t.ppf(0.975, n - 1) * values.std(ddof=1) / math.sqrt(n))


def mean_sd(values: Sequence[float], digits: int = 3) -> str:
    """``values`` as table text: ``"mean ± sd"`` (sample standard deviation), one value as it is,
    ``"-"`` for none, ``"nan"`` when any is undefined (e.g. a correlation of constant scores)."""
    if not values:
        return "-"
    if any(v != v for v in values):
        return "nan"
    if len(values) == 1:
        return f"{values[0]:.{digits}f}"
    return f"{np.mean(values):.{digits}f} ± {np.std(values, ddof=1):.{digits}f}"


def points_for(queries: int, points: Sequence[int] = POINTS) -> list[int]:
    """The protocol's query counts up to ``queries`` (and ``queries`` itself)."""
    out = [p for p in points if p <= queries]
    return out if out and out[-1] == queries else [*out, queries]


def groups(curves: Iterable[RunCurve]) -> dict[tuple[str, str], list[RunCurve]]:
    """Curves by (benchmark, strategy), in first-seen order."""
    out: dict[tuple[str, str], list[RunCurve]] = {}
    for c in curves:
        out.setdefault((c.benchmark, c.strategy), []).append(c)
    return out


def summarize(curves: Sequence[RunCurve], queries: int, maximize: bool = True,
              baseline: str = BASELINE) -> list[SummaryRow]:
    """One :class:`SummaryRow` per benchmark, strategy and protocol query count."""
    by = groups(curves)
    rows = []
    for (bench, strategy), runs in by.items():
        regret = np.array([c.regret for c in runs])
        best = np.array([c.best for c in runs])
        base = by.get((bench, baseline))
        for q in points_for(queries):
            r = regret[:, q - 1]
            improvement = math.nan
            if base is not None:
                ref = float(np.mean([c.best[q - 1] for c in base]))
                sign = 1.0 if maximize else -1.0
                improvement = sign * 100.0 * (float(best[:, q - 1].mean()) - ref) / abs(ref) if ref else math.nan
            rows.append(SummaryRow(bench, strategy, q, float(r.mean()), float(np.median(r)), ci95(r), improvement))
    return rows


def summarize_hypervolume(curves: Sequence[RunCurve], queries: int) -> list[HypervolumeRow]:
    """Hypervolume per benchmark, strategy and query count (runs with several objectives)."""
    rows = []
    for (bench, strategy), runs in groups(c for c in curves if c.hypervolume is not None).items():
        hv = np.array([c.hypervolume for c in runs])
        true = float(runs[0].true_hypervolume or 0.0)
        for q in points_for(queries):
            h = hv[:, q - 1]
            rows.append(HypervolumeRow(bench, strategy, q, float(h.mean()), float(np.median(h)), ci95(h), true,
                                       true - float(h.mean())))
    return rows


@dataclass(frozen=True)
class ProxyCostRow:
    benchmark: str
    strategy: str
    queries: int
    mean_proxy_evaluations: float
    mean_proxy_seconds: float


def summarize_proxy_cost(curves: Sequence[RunCurve], queries: int) -> list[ProxyCostRow]:
    """Mean proxy evaluations and seconds spent by each query count (proxy-guided runs only)."""
    rows = []
    for (bench, strategy), runs in groups(c for c in curves if c.proxy_seconds is not None).items():
        evals = np.array([c.proxy_evaluations for c in runs])
        secs = np.array([c.proxy_seconds for c in runs])
        for q in points_for(queries):
            rows.append(ProxyCostRow(bench, strategy, q, float(evals[:, q - 1].mean()), float(secs[:, q - 1].mean())))
    return rows


def curve_rows(curves: Sequence[RunCurve]) -> tuple[list[str], list[tuple]]:
    """``curves.csv``: one row per run and query."""
    multi = any(c.hypervolume is not None for c in curves)
    header = ["benchmark", "strategy", "seed", "query", "best", "regret"] + (["hypervolume"] if multi else [])
    rows = []
    for c in curves:
        for q in range(len(c.regret)):
            row = (c.benchmark, c.strategy, c.seed, q + 1, _num(c.best[q]), _num(c.regret[q]))
            if multi:
                row += (_num(c.hypervolume[q]) if c.hypervolume is not None else "",)
            rows.append(row)
    return header, rows


def run_rows(curves: Sequence[RunCurve]) -> tuple[list[str], list[tuple]]:
    """``runs.csv``: seconds, free repeats and proxy cost (evaluations, seconds) of each run."""
    header = ["benchmark", "strategy", "seed", "seconds", "repeats", "proxy_evaluations", "proxy_seconds"]
    return header, [(c.benchmark, c.strategy, c.seed, round(c.seconds, 4), c.repeats,
                     int(c.proxy_evaluations[-1]) if c.proxy_evaluations is not None else 0,
                     round(float(c.proxy_seconds[-1]), 4) if c.proxy_seconds is not None else 0.0)
                    for c in curves]


def write_csv(path: Path, header: Sequence[str], rows: Iterable[Sequence]) -> Path:
    with open(path, "w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def dataclass_rows(rows: Sequence[Any], cls: type) -> tuple[list[str], list]:
    """Header and value rows of a list of dataclass records (floats rounded for reading)."""
    header = [f.name for f in fields(cls)]
    return header, [tuple(_num(v) if isinstance(v, float) else v for v in astuple(r)) for r in rows]


def _num(value: float) -> float | str:
    return "" if not math.isfinite(value) else round(float(value), 6)
