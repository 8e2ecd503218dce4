"""End-to-end one-shot runs that write their results to a folder (used by the CLI and
``benchmarks/oneshot.py``).

- :func:`supernet_ranking`: train a weight-sharing supernet (uniform or sandwich sampling),
  score ``n_archs`` archs with inherited weights under one or more BN modes, write
  ``ranking.csv`` (``arch,supernet_accuracy,true_accuracy,flops``; one
  ``ranking-<bn_mode>.csv`` per further mode), ``correlations.csv``
  (``predictor,target,bn_mode,kendall,spearman,n``), ``summary.json`` and ``supernet.pt``.
- :func:`method_run`: run a one-shot method, write ``result.json`` (derived arch, its true
  accuracy where a table exists, trajectory, settings) and ``trajectory.csv``.
"""

from __future__ import annotations

import csv
import json
import time
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np

from nasforge.oneshot.base import OneShotResult, OneShotSettings, get_method


def supernet_ranking(space: Any, task: Any, settings: OneShotSettings, n_archs: int, out: str | Path,
                     bn_modes: Sequence[str] | None = None, arch_seed: int = 0,
                     save: bool = True) -> dict[str, Any]:
    """Train, rank and write (see the module docstring); returns the summary."""
    from nasforge.oneshot.data import SplitTensors, setup_torch
    from nasforge.oneshot.evaluator import SupernetEvaluator
    from nasforge.oneshot.io import save_supernet
    from nasforge.oneshot.ranking import correlations, rank_archs, sample_archs
    from nasforge.oneshot.spos import train_supernet
    from nasforge.oneshot.supernet import build_supernet

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    gen = setup_torch(settings)
    supernet = build_supernet(space, task, bn_affine=settings.bn_affine)
    supernet.generator = gen
    start = time.perf_counter()
    records = train_supernet(supernet, SplitTensors.of(task), settings, gen, np.random.default_rng(settings.seed))
    train_seconds = time.perf_counter() - start
    if save:
        save_supernet(supernet, out / "supernet.pt")
    archs = sample_archs(space, n_archs, arch_seed)
    modes = list(bn_modes or [settings.bn_mode])
    rows, timings = [], {}
    for i, mode in enumerate(modes):
        evaluator = SupernetEvaluator(supernet, task, mode, settings.calib_batches, 128,
                                      settings.eval_images, settings.seed)
        t0 = time.perf_counter()
        ranked = rank_archs(evaluator, archs, space, supernet.shape)
        timings[mode] = time.perf_counter() - t0
        name = "ranking.csv" if i == 0 else f"ranking-{mode}.csv"
        with open(out / name, "w", newline="") as fh:
            writer = csv.writer(fh)
            writer.writerow(["arch", "supernet_accuracy", "true_accuracy", "flops"])
            for r in ranked:
                writer.writerow([r.arch.key, f"{r.supernet_accuracy:.6f}", _fmt(r.true_accuracy), f"{r.flops:.0f}"])
        rows += [{**row, "bn_mode": mode} for row in correlations(ranked)]
    _write_rows(out / "correlations.csv", rows, ["predictor", "target", "bn_mode", "kendall", "spearman", "n"])
    summary = {"space": space.name, "task": task.name, "settings": asdict(settings), "n_archs": len(archs),
               "train_seconds": train_seconds, "rank_seconds": timings, "correlations": rows,
               "train_loss": [r.train_loss for r in records]}
    (out / "summary.json").write_text(json.dumps(summary, indent=1))
    return summary


def search_supernet(supernet: Any, task: Any, settings: OneShotSettings,
                    strategy: str | None = None) -> tuple[Any, list[Any]]:
    """Run ``strategy`` over the supernet evaluator; returns (best arch, trials)."""
    from nasforge.core.objectives import Objective
    from nasforge.experiment.budget import Budget
    from nasforge.experiment.experiment import Experiment
    from nasforge.experiment.storage import Storage
    from nasforge.oneshot.evaluator import SupernetEvaluator
    from nasforge.strategy.base import get_strategy

    evaluator = SupernetEvaluator(supernet, task, settings.bn_mode, settings.calib_batches,
                                  max(settings.batch_size, 64), settings.eval_images, settings.seed)
    storage = Storage(":memory:")
    try:
        experiment = Experiment(space=supernet.space, strategy=get_strategy(strategy or settings.search_strategy),
                                evaluator=evaluator, storage=storage, objectives=[Objective("val_accuracy")],
                                budget=Budget(trials=settings.search_trials), seed=settings.seed)
        trials = experiment.run()
    finally:
        storage.close()
    done = [t for t in trials if t.status == "complete"]
    if not done:
        raise RuntimeError("no architecture could be evaluated on the supernet: "
                           + "; ".join(str(t.error) for t in trials[:3]))
    best = max(done, key=lambda t: (t.metrics["val_accuracy"], -t.number))
    return best.arch, trials


def train_method(method: str, space: Any, task: Any, settings: OneShotSettings) -> OneShotResult:
    """Run the one-shot ``method`` (weight-sharing ones search their supernet with :func:`search_supernet`)."""
    return get_method(method).train(space, task, settings, search=search_supernet)


def method_run(method: str, space: Any, task: Any, settings: OneShotSettings, out: str | Path) -> dict[str, Any]:
    """Run ``method``, write ``result.json`` and ``trajectory.csv``; returns the summary."""
    from nasforge.oneshot.truth import true_metrics

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    result = train_method(method, space, task, settings)
    truth = true_metrics(result.arch)
    summary = {**result.to_dict(), "space": space.name, "task": task.name,
               "true_accuracy": None if truth is None else truth["accuracy"]}
    (out / "result.json").write_text(json.dumps(summary, indent=1))
    names = sorted({name for r in result.trajectory for name in r.arch_weights})
    header = ["epoch", "train_loss", "seconds", "derived",
              *(f"{n}:{i}" for n in names for i in range(_options(result, n)))]
    rows = []
    for r in result.trajectory:
        probs = [f"{p:.5f}" for n in names for p in r.arch_weights.get(n, [])]
        rows.append([r.epoch, f"{r.train_loss:.5f}", f"{r.seconds:.2f}", r.derived, *probs])
    with open(out / "trajectory.csv", "w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(header)
        writer.writerows(rows)
    return summary


def _options(result: Any, name: str) -> int:
    return max(len(r.arch_weights.get(name, [])) for r in result.trajectory)


def _fmt(value: float) -> str:
    return "" if not np.isfinite(value) else f"{value:.4f}"


def _write_rows(path: Path, rows: list[dict[str, Any]], header: list[str]) -> None:
    with open(path, "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=header)
        writer.writeheader()
        for row in rows:
            writer.writerow({k: (f"{v:.4f}" if isinstance(v, float) else v) for k, v in row.items()})
