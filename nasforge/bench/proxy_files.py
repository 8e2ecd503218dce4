"""The files of ``nasforge proxies``: ``proxies.csv`` (arch, one column per proxy, one per
truth), ``timings.csv`` (arch, build and per-proxy seconds, errors) and ``correlations.csv``.

Rows are appended and flushed as they are computed, so an interrupted run keeps its work and
``--resume`` continues it.
"""

from __future__ import annotations

import csv
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TextIO

from nasforge.bench.proxy_study import Row, Truth

PROXIES_CSV = "proxies.csv"
TIMINGS_CSV = "timings.csv"
CORRELATIONS_CSV = "correlations.csv"
CORRELATION_COLUMNS = ("proxy", "truth", "spearman", "kendall", "top10_precision", "seconds_per_arch")


def _cell(value: float | None) -> str:
    return "" if value is None or not math.isfinite(value) else repr(float(value))


class RowWriter:
    """Appends rows to ``proxies.csv`` and ``timings.csv`` in ``folder``."""

    def __init__(self, folder: Path, proxies: Sequence[str], truths: Sequence[Truth],
                 append: bool = False) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        self.proxies = list(proxies)
        self.truths = list(truths)
        mode = "a" if append else "w"
        self._files: list[TextIO] = [open(folder / PROXIES_CSV, mode, newline=""),
                                     open(folder / TIMINGS_CSV, mode, newline="")]
        self._values, self._times = (csv.writer(f) for f in self._files)
        if not append:
            self._values.writerow(["arch", *self.proxies, *(t.name for t in self.truths)])
            self._times.writerow(["arch", "build", *self.proxies, "errors"])

    def write(self, row: Row) -> None:
        self._values.writerow([row.key, *(_cell(row.values.get(p)) for p in self.proxies),
                               *(_cell(t.values.get(row.key)) for t in self.truths)])
        errors = "; ".join(f"{k}: {v}" for k, v in sorted(row.errors.items()))
        self._times.writerow([row.key, _cell(row.build_seconds),
                              *(_cell(row.seconds.get(p)) for p in self.proxies), errors])
        for f in self._files:
            f.flush()

    def close(self) -> None:
        for f in self._files:
            f.close()

    def __enter__(self) -> RowWriter:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()


def read_rows(folder: Path, proxies: Sequence[str]) -> list[Row]:
    """Rows already in ``folder`` (for ``--resume``); the proxy columns must match."""
    values_path, times_path = folder / PROXIES_CSV, folder / TIMINGS_CSV
    if not values_path.is_file() or not times_path.is_file():
        return []
    with open(values_path, newline="") as f:
        values = list(csv.DictReader(f))
    with open(times_path, newline="") as f:
        times = {r["arch"]: r for r in csv.DictReader(f)}
    if values and any(p not in values[0] for p in proxies):
        raise ValueError(f"{values_path} has columns {list(values[0])}, not the proxies {list(proxies)}; "
                         "use the same --proxies to resume, or another --out")
    rows = []
    for rec in values:
        t = times.get(rec["arch"], {})
        errors = dict(part.split(": ", 1) for part in (t.get("errors") or "").split("; ") if ": " in part)
        rows.append(Row(rec["arch"], {p: float(rec[p]) for p in proxies if rec.get(p)},
                        {p: float(t[p]) for p in proxies if t.get(p)}, errors,
                        float(t.get("build") or 0.0)))
    return rows


def write_correlations(folder: Path, records: Sequence[dict[str, Any]]) -> Path:
    path = folder / CORRELATIONS_CSV
    with open(path, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(CORRELATION_COLUMNS)
        for rec in records:
            writer.writerow([rec["proxy"], rec["truth"],
                             *(f"{rec[c]:.4f}" if math.isfinite(rec[c]) else "" for c in CORRELATION_COLUMNS[2:])])
    return path
