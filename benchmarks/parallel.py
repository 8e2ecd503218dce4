"""Parallel execution (issue 5): throughput with 1 vs 2 workers, and Ray's overhead per trial.

``throughput``: an evaluation-bound search, MNIST-1D training trials (conv1d space, random
strategy with a fixed seed, so every configuration trains the same architectures), one torch
thread per worker; processes and Ray with 1 and 2 workers, measured side by side in each
repetition (interleaved), so machine load hits all of them alike. Throughput is trials per
second from the workers being up to the last result (``startup_seconds`` is reported apart).

``overhead``: an instant evaluator (a toy lookup, like a tabular benchmark) on each executor;
the time per trial of the whole loop (ask, store, submit, wait, tell), minus the serial
executor's, is the executor's scheduling overhead. A bare Ray actor round trip is given too.

    python benchmarks/parallel.py throughput --trials 24 --epochs 12 --reps 2
    python benchmarks/parallel.py overhead --trials 300 --reps 3

Prints markdown tables and the load average before each measurement; ``--json FILE`` keeps
the raw numbers.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from nasforge.core.objectives import Objective
from nasforge.estimate.base import Evaluator
from nasforge.experiment.budget import Budget
from nasforge.experiment.executors import get_executor
from nasforge.experiment.experiment import Experiment
from nasforge.experiment.storage import Storage
from nasforge.space import Space
from nasforge.strategy.base import get_strategy


class InstantEvaluator(Evaluator):
    """A lookup-like evaluator: metrics from the arch's values, no work."""

    def _evaluate(self, arch):
        values = [int(v) for v in arch.values()]
        return {"score": float(sum(values)), "size": float(values[0])}


def load() -> float:
    return os.getloadavg()[0]


def measure(space: Space, evaluator: Evaluator, objective: str, executor_name: str, workers: int,
            trials: int, seed: int = 0) -> dict[str, Any]:
    """One search to ``trials`` trials; wall seconds with and without the workers' start-up."""
    settings: dict[str, Any] = {"workers": workers}
    if executor_name != "serial":
        settings["threads_per_worker"] = 1
    executor = get_executor(executor_name, **settings)
    before = load()
    finished: list[float] = []
    with tempfile.TemporaryDirectory() as tmp:
        exp = Experiment(space, get_strategy("random"), evaluator, Storage(Path(tmp) / "t.db"),
                         [Objective(objective)], Budget(trials=trials), seed=seed, executor=executor,
                         callbacks=[lambda _exp, _trial: finished.append(time.perf_counter())])
        began = time.perf_counter()
        done = exp.run()
        wall = time.perf_counter() - began
        exp.storage.close()
    assert len(done) == trials and all(t.status == "complete" for t in done), [t.error for t in done]
    search = finished[-1] - began - executor.startup_seconds  # first submit to last result
    return {"executor": executor_name, "workers": workers, "trials": trials, "wall_s": wall,
            "startup_s": executor.startup_seconds, "search_s": search, "trials_per_s": trials / search,
            "load_before": before}


def throughput(args: argparse.Namespace) -> list[dict[str, Any]]:
    import ray
    import torch

    from nasforge.estimate.recipe import Recipe
    from nasforge.estimate.train import TrainingEvaluator
    from nasforge.space import get_space
    from nasforge.task import load_task

    torch.set_num_threads(1)
    task = load_task("mnist1d", seed=0)
    space = get_space("conv1d")
    evaluator = TrainingEvaluator(space, task, Recipe(epochs=args.epochs, batch_size=128, shift=3), threads=1)
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, logging_level="ERROR")
    rows = []
    try:
        for rep in range(args.reps):
            for name in ("processes", "ray"):
                for workers in (1, 2):
                    row = measure(space, evaluator, "val_accuracy", name, workers, args.trials)
                    row["rep"] = rep
                    rows.append(row)
                    print(f"rep {rep} {name} x{workers}: {row['trials_per_s']:.3f} trials/s "
                          f"(search {row['search_s']:.1f} s, start-up {row['startup_s']:.1f} s, "
                          f"load before {row['load_before']:.2f})", flush=True)
    finally:
        ray.shutdown()
    print("\n| executor | rep | load before (1 w / 2 w) | 1 worker trials/s | 2 workers trials/s | speed-up |")
    print("|---|---|---|---|---|---|")
    ratios: dict[str, list[float]] = {"processes": [], "ray": []}
    for name in ratios:
        for rep in range(args.reps):
            one, two = (next(r for r in rows if r["executor"] == name and r["rep"] == rep and r["workers"] == w)
                        for w in (1, 2))
            ratio = two["trials_per_s"] / one["trials_per_s"]
            ratios[name].append(ratio)
            print(f"| {name} | {rep} | {one['load_before']:.2f} / {two['load_before']:.2f} | "
                  f"{one['trials_per_s']:.3f} | {two['trials_per_s']:.3f} | {ratio:.2f}x |")
    for name, values in ratios.items():
        print(f"{name}: median speed-up {statistics.median(values):.2f}x over {len(values)} reps")
    return rows


def overhead(args: argparse.Namespace) -> list[dict[str, Any]]:
    import ray

    space = Space({f"x{i}": list(range(4)) for i in range(8)}, name="lookup")
    evaluator = InstantEvaluator()
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, logging_level="ERROR")
    rows = []
    try:
        for rep in range(args.reps):
            for name, workers in (("serial", 1), ("processes", 1), ("ray", 1), ("ray", 2)):
                row = measure(space, evaluator, "score", name, workers, args.trials, seed=rep)
                row["rep"] = rep
                row["ms_per_trial"] = 1000 * row["search_s"] / args.trials
                rows.append(row)
            rows.append({"executor": "bare ray round trip", "rep": rep, **_bare_round_trip(ray, args.trials)})
            print(f"rep {rep}: " + ", ".join(f"{r['executor']} x{r.get('workers', 1)} {r['ms_per_trial']:.2f} ms"
                                             for r in rows if r["rep"] == rep), flush=True)
    finally:
        ray.shutdown()
    print("\n| executor | workers | ms per trial (median of reps) | minus serial |")
    print("|---|---|---|---|")
    serial = statistics.median(r["ms_per_trial"] for r in rows if r["executor"] == "serial")
    for name, workers in (("serial", 1), ("processes", 1), ("ray", 1), ("ray", 2), ("bare ray round trip", 1)):
        ms = statistics.median(r["ms_per_trial"] for r in rows if r["executor"] == name
                               and r.get("workers", 1) == workers)
        extra = "" if name in ("serial", "bare ray round trip") else f"{ms - serial:+.2f}"
        print(f"| {name} | {workers} | {ms:.2f} | {extra} |")
    return rows


def _bare_round_trip(ray: Any, n: int) -> dict[str, Any]:
    """``ray.get(actor.f.remote(x))`` in a loop: Ray's own floor for one trial at a time."""

    @ray.remote(num_cpus=1)
    class Echo:
        def f(self, x):
            return x

    actor = Echo.remote()
    ray.get(actor.f.remote(0))
    began = time.perf_counter()
    for i in range(n):
        ray.get(actor.f.remote(i))
    seconds = time.perf_counter() - began
    ray.kill(actor)
    return {"ms_per_trial": 1000 * seconds / n, "load_before": load()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("study", choices=["throughput", "overhead"])
    parser.add_argument("--trials", type=int, default=None)
    parser.add_argument("--epochs", type=int, default=12, help="training epochs per trial (throughput)")
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    args.trials = args.trials or (24 if args.study == "throughput" else 300)
    print(f"{args.study}: {args.trials} trials x {args.reps} reps on {os.cpu_count()} cores; "
          f"load average now {os.getloadavg()}", flush=True)
    rows = (throughput if args.study == "throughput" else overhead)(args)
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
