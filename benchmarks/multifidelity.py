"""Time to a target MNIST-1D validation accuracy: Hyperband and ASHA (rungs of 1/3/9 epochs)
against full-fidelity (9-epoch) random search and regularized evolution.

Every (seed, strategy) is one Experiment (serial executor, one torch thread) with the same
time budget, run seed-major. The clock is the search process's CPU time (``--clock cpu``, the
default): for a serial run on one thread that is the wall-clock it takes on a dedicated core,
and it stays meaningful on a shared machine whose load swings (ours ran at load 15-40 on 2
cores); ``--clock wall`` uses real time. A run "reaches" a target when a full-fidelity trial
(9 epochs; for Hyperband/ASHA a top-rung trial) has at least that validation accuracy; the time
is the run's clock when that trial ends. Runs that never reach a target count as the full
budget and are reported as censored. Writes ``OUT/trials.csv`` and ``OUT/summary.md``.

    python benchmarks/multifidelity.py --out bench-out/mf --seeds 5 --minutes 2
"""

from __future__ import annotations

import argparse
import csv
import os
import time
from pathlib import Path

import numpy as np

from nasforge.core.objectives import Objective
from nasforge.estimate.recipe import Recipe
from nasforge.estimate.train import TrainingEvaluator
from nasforge.experiment.budget import Budget
from nasforge.experiment.experiment import Experiment
from nasforge.experiment.storage import Storage
from nasforge.space import get_space
from nasforge.space.joint import JointSpace
from nasforge.strategy.base import get_strategy

STRATEGIES = ("hyperband", "asha", "random", "evolution")
MULTI_FIDELITY = ("hyperband", "asha", "successive_halving")


class CPUClockExperiment(Experiment):
    """The Experiment with the process's CPU time as its clock (budget and elapsed)."""

    def __post_init__(self) -> None:
        super().__post_init__()
        self._cpu_start = time.process_time()

    def elapsed(self) -> float:
        return self._elapsed_before + time.process_time() - self._cpu_start


def run_one(strategy: str, seed: int, minutes: float, rungs: tuple[int, ...], out: Path,
            clock: str = "cpu") -> list[dict]:
    base = get_space("conv1d")
    if strategy in MULTI_FIDELITY:
        space = JointSpace(base, recipe=(), fidelity={"epochs": list(rungs)})
    else:
        space = base
    evaluator = TrainingEvaluator(space, "mnist1d", Recipe(epochs=rungs[-1], seed=seed, shift=-1), threads=1,
                                  seed=seed)
    db = out / f"{strategy}-{seed}.db"
    for stale in (db, db.with_name(db.name + "-wal"), db.with_name(db.name + "-shm")):
        stale.unlink(missing_ok=True)
    storage = Storage(db)
    start, clocks = time.time(), {}

    def record(experiment: Experiment, trial) -> None:
        clocks[trial.number] = (experiment.elapsed(), time.time() - start)

    kind = CPUClockExperiment if clock == "cpu" else Experiment
    trials = kind(space, get_strategy(strategy), evaluator, storage, [Objective("val_accuracy", "max")],
                  Budget(minutes=minutes), seed=seed, callbacks=[record]).run()
    storage.close()
    rows = []
    for t in sorted(trials, key=lambda t: clocks.get(t.number, (0, 0))):
        full = t.metrics.get("fidelity", 1.0) >= 1.0
        rows.append({"strategy": strategy, "seed": seed, "trial": t.number, "status": t.status,
                     "epochs": t.arch["epochs"] if strategy in MULTI_FIDELITY else rungs[-1],
                     "full_fidelity": int(full), "val_accuracy": t.metrics.get("val_accuracy", ""),
                     "clock_seconds": round(clocks.get(t.number, (0, 0))[0], 2),
                     "wall_seconds": round(clocks.get(t.number, (0, 0))[1], 2)})
    return rows


def time_to(rows: list[dict], target: float, budget: float, clock: str) -> tuple[float, bool]:
    for r in rows:
        if int(r["full_fidelity"]) and r["val_accuracy"] != "" and float(r["val_accuracy"]) >= target:
            return float(r[clock]), True
    return budget, False


def summarise(rows: list[dict], targets: list[float], seeds: int, minutes: float) -> list[str]:
    lines = ["| target val acc | strategy | mean s to target | reached | mean real s to target | "
             "full-fidelity trials | best val acc (mean) |", "|---|---|---|---|---|---|---|"]
    for target in targets:
        for strategy in dict.fromkeys(r["strategy"] for r in rows):
            walls, cpus, hits, fulls, bests = [], [], 0, [], []
            for seed in range(seeds):
                mine = [r for r in rows if r["strategy"] == strategy and int(r["seed"]) == seed]
                if not mine:
                    continue
                clock, hit = time_to(mine, target, minutes * 60, "clock_seconds")
                real, _ = time_to(mine, target, max(float(r["wall_seconds"]) for r in mine), "wall_seconds")
                walls.append(clock)
                cpus.append(real)
                hits += hit
                full = [float(r["val_accuracy"]) for r in mine if int(r["full_fidelity"]) and r["val_accuracy"] != ""]
                fulls.append(len(full))
                bests.append(max(full, default=float("nan")))
            lines.append(f"| {target:.2f} | {strategy} | {np.mean(walls):.0f} | {hits}/{len(walls)} | "
                         f"{np.mean(cpus):.0f} | {np.mean(fulls):.1f} | {np.nanmean(bests):.4f} |")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("bench-out/mf"))
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--minutes", type=float, default=2.0)
    parser.add_argument("--clock", default="cpu", choices=["cpu", "wall"])
    parser.add_argument("--rungs", default="1,3,9")
    parser.add_argument("--targets", default="0.80,0.85,0.90")
    parser.add_argument("--strategies", default=",".join(STRATEGIES))
    parser.add_argument("--summarise-only", action="store_true", help="re-read OUT/trials.csv, write the summary")
    args = parser.parse_args()
    if args.summarise_only:
        with (args.out / "trials.csv").open(newline="") as fh:
            done = list(csv.DictReader(fh))
        lines = summarise(done, [float(t) for t in args.targets.split(",")], args.seeds, args.minutes)
        (args.out / "summary.md").write_text("\n".join(lines) + "\n")
        print("\n".join(lines))
        return
    import torch

    torch.set_num_threads(1)
    args.out.mkdir(parents=True, exist_ok=True)
    rungs = tuple(int(r) for r in args.rungs.split(","))
    rows: list[dict] = []
    for seed in range(args.seeds):
        for strategy in args.strategies.split(","):
            rows += run_one(strategy, seed, args.minutes, rungs, args.out, args.clock)
            print(f"seed {seed} {strategy} done (load {os.getloadavg()[0]:.1f})", flush=True)
            with (args.out / "trials.csv").open("w", newline="") as fh:
                writer = csv.DictWriter(fh, list(rows[0]))
                writer.writeheader()
                writer.writerows(rows)
    lines = [f"MNIST-1D, conv1d space, rungs {rungs} epochs, {args.minutes} {args.clock} minutes per run, "
             f"{args.seeds} seeds, serial, 1 torch thread", ""]
    lines += summarise(rows, [float(t) for t in args.targets.split(",")], args.seeds, args.minutes)
    (args.out / "summary.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
