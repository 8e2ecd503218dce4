"""Measure proxies over many architectures and rank-correlate them with a trained truth.

What ``nasforge proxies`` runs: :func:`compute` scores architectures on the Experiment loop, in
worker processes (one torch thread each; rows in input order, handed over as they are done),
:func:`benchmark_truths` / :func:`run_truths` give the truth, :func:`correlations` the table.
Failed proxy values rank below every scored architecture (a degenerate network is the worst
case, and that is where a search using the proxy would put it).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from nasforge.core.records import FAILED
from nasforge.space.arch import Arch
from nasforge.space.space import Space


@dataclass(frozen=True)
class Truth:
    """A trained metric for some architectures (arch key -> value); ``max`` if higher is better."""

    name: str
    values: dict[str, float]
    direction: str = "max"


@dataclass(frozen=True)
class Row:
    """The proxies of one architecture: values, own seconds per proxy, errors."""

    key: str
    values: dict[str, float]
    seconds: dict[str, float]
    errors: dict[str, str] = field(default_factory=dict)
    build_seconds: float = 0.0


def read_archs(space: Space, path: str | Path) -> list[Arch]:
    """Architectures from a file with one key per line (blank lines and ``#`` comments skipped)."""
    lines = Path(path).read_text().splitlines()
    return [space.parse(line.strip()) for line in lines if line.strip() and not line.startswith("#")]


def benchmark_truths(space: str) -> list[Truth]:
    """The ``accuracy`` of every tabular benchmark on ``space`` (e.g. nb201: CIFAR-10, CIFAR-100,
    ImageNet16-120 test accuracy; macro: NAS-Bench-Macro mean accuracy)."""
    from nasforge.estimate.benchmarks import BENCHMARKS, get_benchmark

    out = []
    for name in BENCHMARKS.list():
        bench = get_benchmark(name)
        if bench.space_name == space and "accuracy" in bench.metrics:
            values = {f"{space}:{body}": m["accuracy"] for body, m in bench.table().items()}
            out.append(Truth(name, values))
    return out


def run_truths(run_dir: str | Path) -> tuple[Any, list[Arch], list[Truth]]:
    """``(config, archs, truths)`` of a run directory: its complete trials and, as truth, each
    objective that is not a hardware cost (e.g. ``val_accuracy``)."""
    from nasforge.core.objectives import Objective
    from nasforge.core.safe_yaml import safe_yaml
    from nasforge.experiment.run_dir import CONFIG, DB, check_existing
    from nasforge.experiment.storage import Storage
    from nasforge.hardware.metrics import METRICS

    path = Path(run_dir)
    check_existing(path)
    config = safe_yaml((path / CONFIG).read_text())
    storage = Storage(path / DB)
    try:
        trials = [t for t in storage.trials() if t.finished_ok]
    finally:
        storage.close()
    objectives = [o for o in map(Objective.parse, config.get("objectives", [])) if o.metric not in METRICS]
    if not objectives:
        raise ValueError(f"{path}: no trained objective (only hardware costs) to correlate with")
    archs = list({t.arch.key: t.arch for t in trials}.values())
    truths = [Truth(f"run:{o.metric}", {t.arch.key: float(t.metrics[o.metric]) for t in trials
                                         if o.metric in t.metrics}, o.direction) for o in objectives]
    return config, archs, truths


# ------------------------------------------------------------------------ computing
def row_of(trial: Any) -> Row:
    """The row of a finished trial of the proxy evaluator (a failed one: its errors, no values)."""
    info = trial.info or {}
    errors = dict(info.get("errors", {}))
    if trial.status == FAILED:
        errors.setdefault("*", trial.error or "failed")
    return Row(trial.arch.key, dict(trial.metrics), dict(info.get("seconds", {})), errors,
               float(info.get("build_seconds", 0.0)))


def compute(space: Space, task: str, archs: Sequence[Arch], proxies: Sequence[str],
            batch_size: int = 64, seed: int = 0, workers: int = 2, clock: str = "wall",
            on_row: Callable[[Row], None] | None = None, device: str = "cpu") -> list[Row]:
    """Rows for ``archs`` (a repeated one once), in input order, computed by ``workers`` processes
    with one torch thread each (1: in this process), networks and batch on ``device`` (a resolved
    name: ``cpu``, ``cuda``, ``cuda:N``; every worker uses it).

    The scoring is an :class:`~nasforge.experiment.experiment.Experiment` (strategy ``given``,
    the proxy evaluator, in-memory storage); ``on_row`` gets each row as soon as it and every
    row before it are done, so a caller can write them as they come.
    """
    from nasforge.core.objectives import Objective
    from nasforge.estimate.proxies.evaluator import ProxyEvaluator
    from nasforge.experiment.budget import Budget
    from nasforge.experiment.executors import ProcessExecutor, SerialExecutor
    from nasforge.experiment.experiment import Experiment
    from nasforge.experiment.storage import Storage
    from nasforge.strategy.given import GivenArchs

    keys = list(dict.fromkeys(a.key for a in archs))
    if not keys:
        return []
    place = {key: i for i, key in enumerate(keys)}
    done: dict[int, Row] = {}
    rows: list[Row] = []

    def collect(experiment: Experiment, trial: Any) -> None:
        done[place[trial.arch.key]] = row_of(trial)
        while len(rows) in done:  # release rows in input order
            rows.append(done.pop(len(rows)))
            if on_row is not None:
                on_row(rows[-1])

    evaluator = ProxyEvaluator(tuple(proxies), task, space, batch_size, seed, threads=1, clock=clock,
                               device=device)
    workers = min(workers, len(keys))
    executor = SerialExecutor() if workers <= 1 else ProcessExecutor(workers=workers, threads_per_worker=1)
    storage = Storage(":memory:")
    try:
        Experiment(space, GivenArchs(keys), evaluator, storage, [Objective(p, "max") for p in proxies],
                   Budget(trials=len(keys)), seed=seed, executor=executor, callbacks=[collect]).run()
    finally:
        storage.close()
    return rows


# ---------------------------------------------------------------------- correlating
def _with_failures_last(values: np.ndarray) -> np.ndarray:
    """NaN (failed) values replaced by a value below every finite one."""
    out = values.astype(float).copy()
    bad = ~np.isfinite(out)
    if bad.any():
        finite = out[~bad]
        floor = finite.min() - 1.0 if len(finite) else 0.0
        out[bad] = floor
    return out


def top_precision(score: np.ndarray, truth: np.ndarray, fraction: float = 0.1) -> float:
    """Share of the top ``fraction`` by score that are also in the top ``fraction`` by truth."""
    k = max(1, int(round(fraction * len(score))))
    top_score = set(np.argsort(-score, kind="stable")[:k].tolist())
    top_truth = set(np.argsort(-truth, kind="stable")[:k].tolist())
    return len(top_score & top_truth) / k


def correlations(rows: Sequence[Row], proxies: Sequence[str], truths: Sequence[Truth]
                 ) -> list[dict[str, Any]]:
    """One record per (proxy, truth): spearman, kendall, top10_precision, seconds_per_arch (the
    median over archs of the proxy's own seconds: robust to stalls of a shared machine; the raw
    times are in ``timings.csv``)."""
    from nasforge.core.ranking import rank_correlations

    out = []
    for truth in truths:
        keep = [r for r in rows if r.key in truth.values]
        sign = 1.0 if truth.direction == "max" else -1.0
        y = sign * np.array([truth.values[r.key] for r in keep], dtype=float)
        for name in proxies:
            x = _with_failures_last(np.array([r.values.get(name, np.nan) for r in keep], dtype=float))
            secs = [r.seconds[name] for r in keep if name in r.seconds]
            kendall, spearman = rank_correlations(x, y, undefined=float("nan")) if len(keep) > 2 \
                else (float("nan"), float("nan"))
            out.append({
                "proxy": name, "truth": truth.name,
                "spearman": spearman,
                "kendall": kendall,
                "top10_precision": top_precision(x, y) if len(keep) else float("nan"),
                "seconds_per_arch": float(np.median(secs)) if secs else float("nan"),
            })
    return out


def failures(rows: Sequence[Row], proxies: Sequence[str]) -> dict[str, int]:
    """How many architectures each proxy could not score."""
    return {name: sum(name not in r.values for r in rows) for name in proxies}


Progress = Callable[[int, int], None]
