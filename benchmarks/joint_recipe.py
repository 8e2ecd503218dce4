"""Joint architecture-recipe search against architecture-only search with the default recipe,
at an equal training budget, on MNIST-1D and the CIFAR-10 subset; plus FBNetV3's constraint
family from the joint predictor.

Each arm is one ``nasforge.search`` run of the ``fbnetv3`` strategy
(:mod:`nasforge.strategy.fbnetv3`: Sobol candidates under ``params <= P``, a pretrained
MLP-ensemble predictor, predictor-picked batches from the pool and the best trials'
neighbourhood) with the same epochs per trial and the same budget: ``--train-seconds``
(default per task) as the run's ``budget.minutes`` on the run's ``clock`` (``--clock``), so a
recipe that trains slower (a smaller batch) pays for itself with fewer trials. The only
difference is the space: ``joint`` with ``recipe: []`` (the default recipe: AdamW lr 0.01,
batch 128, weight decay 0.01, label smoothing 0.05, no mixup/dropout/EMA) against ``joint``
with the ``--recipe`` decisions of :data:`GRID`, whose options include the default's values.
Each arm's run directory is ``OUT/<task>-s<seed>-<arm>/`` (``nasforge show``/``report`` read it).

Each arm gives two answers at the bound ``P``, both retrained ``RETRAINS`` times (seeds: the
run's seed, as the run's own finalisation retrains it, then ``seed + 1000 i``) on train+val and
scored on the test split (means reported): the best trial by validation accuracy (the run's
selected best: ``val_accuracy:max`` then ``params:min``), and the predictor's pick (FBNetV3's
output, the member of the run's constraint family at the bound: a predictor-scored
evolutionary search under ``params <= P``, possibly an untrained candidate). The joint arm's
family has one (architecture, recipe) per smaller budget too, each retrained once by the run's
finalisation (``best/family.json``) and checked. The extra retrainings go through
:func:`nasforge.run.finalize.retrain_and_export` into ``<run>/retrains/``. Writes
``OUT/runs.csv``, ``OUT/family.csv``, ``OUT/trials.csv`` (every counted trial; ``seconds``:
what it used of the run's clock) and ``OUT/summary.md``.

    python benchmarks/joint_recipe.py --tasks mnist1d --seeds 3 --out bench-out/joint-mnist1d
    python benchmarks/joint_recipe.py --tasks cifar10-subset-16px --seeds 3 --out bench-out/joint-cifar

Run one task per core (the two commands side by side): the budget is in wall-clock seconds,
so a loaded machine gives both arms fewer trials; ``--clock cpu`` counts this process's CPU
seconds instead (the first recorded runs used wall-clock on a quiet machine; the 300 s MNIST-1D
runs, ``--train-seconds 300 --clock cpu``). ``--bound`` changes the params bound.
``--summarize DIR [DIR ...]`` prints the tables of several earlier runs together, with the
seed-by-seed comparison of the two arms (paired t-test, Wilcoxon and sign test, one-sided).

    python benchmarks/joint_recipe.py --summarize bench-out/joint-mnist1d-300 bench-out/joint-mnist1d-300-s3

The recorded numbers in ``docs/benchmarks.md`` came from the earlier hand-written loop, whose
budget counted only the trials' evaluation seconds; the run's clock here also counts the
strategy's own work between trials (predictor fits), so the same ``--train-seconds`` buys a
few fewer trials.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import time
from pathlib import Path
from typing import Any

import numpy as np

import nasforge
from nasforge.estimate.base import RunContext
from nasforge.estimate.train import TrainingEvaluator
from nasforge.run.build import make_space
from nasforge.run.finalize import retrain_and_export
from nasforge.run.runner import SearchResult
from nasforge.space.arch import Arch
from nasforge.task import load_task
from nasforge.task.task import Task

#: Options of the recipe decisions the joint arm may search (``--recipe`` picks which): every
#: recipe decision of the issue except epochs (each trial trains for the task's epochs in both
#: arms), a few options each, the default's among them; lr and batch size span the default both
#: ways, and a smaller batch trains slower and is charged for it by the seconds budget.
GRID = {"lr": (0.005, 0.01, 0.02, 0.05), "batch_size": (64, 128, 256), "weight_decay": (0.01, 0.05),
          "label_smoothing": (0.0, 0.05, 0.1), "mixup": (0.0, 0.2), "dropout": (0.0, 0.1), "ema": (0.0, 0.99)}
#: The default ``--recipe``: the two decisions that set how far short training gets. With all
#: seven decisions the joint arm spends its ~70 trials on recipe combinations; on a pilot seed
#: (100, not one of the reported seeds) it found no better validation accuracy than arch-only.
RECIPE = ("lr", "batch_size")
RETRAINS = 3  # the selected trial's test accuracy is the mean of this many retrainings (seeds differ)
SETTINGS = {
    # task: (base space, its settings, epochs, params bound, family budgets, initial, batch, train seconds)
    "mnist1d": ("conv1d", {}, 8, 20000, [2000, 5000, 20000], 16, 8, 150.0),
    "cifar10-subset-16px": ("nb201", {"channels": 4, "cells": 1}, 6, 10000, [6000, 8000, 10000], 12, 6, 240.0),
}


def load(name: str, seed: int) -> Task:
    """The task ``name`` (``cifar10-subset-16px``: the built-in ``cifar10-subset:16``, 4x cheaper)."""
    return load_task("cifar10-subset:16" if name == "cifar10-subset-16px" else name, seed=seed)


def arm_dir(out: Path, task_name: str, seed: int, joint: bool) -> Path:
    """The run directory of one arm."""
    return out / f"{task_name}-s{seed}-{'joint' if joint else 'arch-only'}"


def run(task_name: str, seed: int, joint: bool, pool_size: int, train_seconds: float | None = None,
        neighbours: int = 0, trials: list[dict] | None = None,
        recipe: tuple[str, ...] = RECIPE, clock: str = "wall", bound: int | None = None,
        out: Path = Path("bench-out/joint")) -> tuple[dict, list[dict]]:
    base_name, base_settings, epochs, default_bound, budgets, initial, batch, default_seconds = SETTINGS[task_name]
    bound = bound or default_bound
    budgets = sorted({b for b in budgets if b < bound} | {bound})
    arm = "joint" if joint else "arch-only"
    task = load(task_name, seed)
    start = time.perf_counter()
    result = nasforge.search(
        task, "joint", "fbnetv3",
        space_settings={"base": base_name, "base_settings": base_settings,
                        "recipe": {n: list(GRID[n]) for n in recipe} if joint else []},
        strategy_settings={"initial": initial, "batch": batch, "pool_size": pool_size, "predictor": "mlp",
                           "pretrained": True, "neighbours": neighbours, "budgets": budgets if joint else [bound]},
        evaluator="train", evaluator_settings={"epochs": epochs, "final_epochs": epochs, "shift": -1, "threads": 1},
        objectives=["val_accuracy:max", "params:min"], constraints=[f"params<={bound}"],
        minutes=(train_seconds or default_seconds) / 60, clock=clock, run_dir=arm_dir(out, task_name, seed, joint),
        seed=seed)
    space = make_space(result.config)
    counted = sorted((t for t in result.trials if t.counts_for_budget), key=lambda t: t.clock or 0.0)
    previous = 0.0  # the run's clock when the previous trial finished
    for t in counted:
        now = t.clock if t.clock is not None else previous
        if trials is not None:
            trials.append({"task": task_name, "arm": arm, "seed": seed, "arch": t.arch.key,
                           "params": t.metrics.get("params", ""), "seconds": round(now - previous, 2),
                           "val_accuracy": t.metrics.get("val_accuracy", "") if t.finished_ok else ""})
        previous = now
    best, first = result.best, result.summary
    if best is None or first is None:
        raise RuntimeError(f"{task_name} seed {seed} {arm}: no feasible trial to retrain (run {result.run_dir})")
    test = retrained(result, space, task, best.arch, first, "best")
    members = json.loads((result.run_dir / "best" / "family.json").read_text())
    pick = next(m for m in members if m["budget"] == bound)  # the predictor's choice at the bound
    pick_test = test if pick["arch"] == best.arch.key else retrained(
        result, space, task, space.parse(pick["arch"]), pick["result"], "pick")
    row = {"task": task_name, "bound": bound, "arm": arm, "seed": seed, "trials": len(counted),
           "train_seconds": round(previous, 1), "best_arch": best.arch.key,
           "best_val": best.metrics["val_accuracy"], "params": test["params"],
           "test_accuracy": test["test_accuracy"], "retrain_seconds": round(test["retrain_seconds"], 1),
           "pick_arch": pick["arch"], "pick_predicted": round(pick["predicted"], 4), "pick_params": pick_test["params"],
           "pick_test_accuracy": pick_test["test_accuracy"], "wall_seconds": round(time.perf_counter() - start, 1)}
    family = []
    if joint:
        seconds = family_seconds(result, space, task, [m["arch"] for m in members])
        for member in members:
            check = pick_test if member is pick else member["result"]
            family.append({"task": task_name, "seed": seed, "budget": member["budget"], "arch": member["arch"],
                           "predicted_val": round(member["predicted"], 4), "params": check["params"],
                           "within_budget": int(check["params"] <= member["budget"]),
                           "test_accuracy": check["test_accuracy"], "family_seconds": round(seconds, 2)})
    return row, family


def retrained(result: SearchResult, space: Any, task: Task, arch: Arch, first: dict[str, Any],
              name: str) -> dict[str, float]:
    """Test accuracy and retraining seconds, means over ``RETRAINS`` retrainings on train+val:
    ``first`` (the run's own final retraining of ``arch``, with the run's seed) and
    ``RETRAINS - 1`` more with seeds ``seed + 1000 i``, exported to ``<run>/retrains/NAME/``."""
    config = result.config
    settings = config.evaluator.parsed()
    runs = [first]
    for i in range(1, RETRAINS):
        seed = config.seed + 1000 * i
        trainer = TrainingEvaluator.for_run(RunContext(space, task, seed, config.device), settings)
        runs.append(retrain_and_export(arch, trainer, settings.final_epochs,
                                       result.run_dir / "retrains" / name / f"seed-{seed}", config.evaluator.name))
    return {"params": runs[0]["params"], "test_accuracy": float(np.mean([r["test_accuracy"] for r in runs])),
            "retrain_seconds": float(np.mean([r["retrain_seconds"] for r in runs]))}


def family_seconds(result: SearchResult, space: Any, task: Task, expected: list[str]) -> float:
    """Seconds of the constraint family step (the predictor's fit and one predictor-scored
    evolutionary search per budget; nothing trained). The run times no such step, so the run's
    strategy is rebuilt from its stored tells (its state is a function of the seed and the tells,
    as on a resume) and its ``family()`` is timed; it must pick the members the run retrained."""
    from nasforge.experiment.services import run_services
    from nasforge.experiment.storage import iter_events
    from nasforge.strategy.base import get_strategy

    config = result.config
    strategy = get_strategy(config.strategy, **config.strategy_settings)
    strategy.setup(space, config.parsed_objectives(), config.parsed_constraints(), config.seed,
                   run_services(space, task, config.seed))
    for _, kind, trial in iter_events(result.trials):
        if kind == "tell":
            strategy.tell(trial.arch, trial.strategy_view())
    start = time.perf_counter()
    members = strategy.family()  # type: ignore[attr-defined]
    seconds = time.perf_counter() - start
    if [m["arch"] for m in members] != expected:
        raise RuntimeError(f"the rebuilt strategy's family differs from the run's ({result.run_dir})")
    return seconds


def write(path: Path, rows: list[dict]) -> None:
    if rows:
        with path.open("w", newline="") as fh:
            writer = csv.DictWriter(fh, list(rows[0]))
            writer.writeheader()
            writer.writerows(rows)


def summary(rows: list[dict], family: list[dict]) -> list[str]:
    lines = ["| task | params bound | arm | seeds | trials (mean) | train s (mean) | best val acc (mean) | retrain s (mean) | "
             "test acc, best-val trial (mean ± sd) | test acc, predictor's pick (mean ± sd) |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for task, bound in dict.fromkeys((r["task"], r["bound"]) for r in rows):
        for arm in ("arch-only", "joint"):
            mine = [r for r in rows if (r["task"], r["bound"], r["arm"]) == (task, bound, arm)]
            if mine:
                acc = np.array([r["test_accuracy"] for r in mine])
                pick = np.array([r["pick_test_accuracy"] for r in mine])
                lines.append(f"| {task} | {bound:g} | {arm} | {len(mine)} | {np.mean([r['trials'] for r in mine]):.1f} | "
                             f"{np.mean([r['train_seconds'] for r in mine]):.0f} | "
                             f"{np.mean([r['best_val'] for r in mine]):.4f} | "
                             f"{np.mean([r['retrain_seconds'] for r in mine]):.1f} | "
                             f"{acc.mean():.4f} ± {acc.std():.4f} | {pick.mean():.4f} ± {pick.std():.4f} |")
    lines += ["", "| task | budget (params <=) | params (mean) | within budget | test acc (mean) | "
              "family seconds (mean, all budgets) |", "|---|---|---|---|---|---|"]
    for task in dict.fromkeys(f["task"] for f in family):
        for budget in dict.fromkeys(f["budget"] for f in family if f["task"] == task):
            mine = [f for f in family if f["task"] == task and f["budget"] == budget]
            lines.append(f"| {task} | {budget:g} | {np.mean([f['params'] for f in mine]):.0f} | "
                         f"{sum(f['within_budget'] for f in mine)}/{len(mine)} | "
                         f"{np.mean([f['test_accuracy'] for f in mine]):.4f} | "
                         f"{np.mean([f['family_seconds'] for f in mine]):.1f} |")
    return lines + [""] + paired(rows)


def paired(rows: list[dict]) -> list[str]:
    """Joint minus arch-only test accuracy, seed by seed, with one-sided tests that joint is better."""
    from scipy import stats

    lines = ["| task | params bound | answer | seeds | joint - arch-only (mean) | joint ahead | "
             "paired t-test p | Wilcoxon p | sign test p |", "|---|---|---|---|---|---|---|---|---|"]
    for task, bound in dict.fromkeys((r["task"], r["bound"]) for r in rows):
        arms = {(r["arm"], r["seed"]): r for r in rows if (r["task"], r["bound"]) == (task, bound)}
        seeds = [s for arm, s in arms if arm == "joint" and ("arch-only", s) in arms]
        if len(seeds) < 2:
            continue
        for answer, key in (("best-val trial", "test_accuracy"), ("predictor's pick", "pick_test_accuracy")):
            joint = np.array([arms["joint", s][key] for s in seeds])
            alone = np.array([arms["arch-only", s][key] for s in seeds])
            diff = joint - alone
            ahead, ties = int((diff > 0).sum()), int((diff == 0).sum())
            t = stats.ttest_rel(joint, alone, alternative="greater").pvalue
            w = stats.wilcoxon(joint, alone, alternative="greater").pvalue if ties < len(seeds) else float("nan")
            sign = stats.binomtest(ahead, len(seeds) - ties, alternative="greater").pvalue if ties < len(seeds) else 1.0
            lines.append(f"| {task} | {bound:g} | {answer} | {len(seeds)} | {diff.mean():+.4f} | {ahead}/{len(seeds)} | "
                         f"{t:.3f} | {w:.3f} | {sign:.3f} |")
    return lines


def read_runs(dirs: list[Path]) -> tuple[list[dict], list[dict]]:
    """``runs.csv`` and ``family.csv`` of earlier runs, with their numbers as numbers."""
    def number(value: str) -> float | str:
        try:
            return float(value)
        except ValueError:
            return value

    rows: list[dict] = []
    family: list[dict] = []
    for d in dirs:
        for name, into in (("runs.csv", rows), ("family.csv", family)):
            if (d / name).is_file():
                with (d / name).open(newline="") as fh:
                    into += [{k: v if k in ("task", "arm", "seed") else number(v) for k, v in r.items()}
                             for r in csv.DictReader(fh)]
    for r in rows:
        r.setdefault("bound", float(SETTINGS[r["task"]][3]))  # runs.csv from before --bound
    for f in family:
        f["within_budget"] = int(f["within_budget"])
    return rows, family


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("bench-out/joint"))
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--first-seed", type=int, default=0)
    parser.add_argument("--tasks", default=",".join(SETTINGS))
    parser.add_argument("--pool-size", type=int, default=500)
    parser.add_argument("--recipe", default=",".join(RECIPE), help=f"the joint arm's decisions, of {list(GRID)}")
    parser.add_argument("--clock", choices=("wall", "cpu"), default="wall",
                        help="what the budget counts (cpu: this process's CPU time, immune to other load)")
    parser.add_argument("--neighbours", type=int, default=24,
                        help="predictor-scored one-edit neighbours of the best trials added to each round's pool")
    parser.add_argument("--train-seconds", type=float, default=None, help="each arm's budget in seconds on --clock: the run's budget.minutes x 60 "
                        "(default per task)")
    parser.add_argument("--bound", type=int, default=None,
                        help="the params bound both arms search under (default per task; the family keeps smaller budgets)")
    parser.add_argument("--summarize", type=Path, nargs="+", default=None,
                        help="run nothing: the summary of these earlier --out directories together")
    args = parser.parse_args()
    if args.summarize:
        print("\n".join(summary(*read_runs(args.summarize))))
        return
    tasks = args.tasks.split(",")
    seeds = range(args.first_seed, args.first_seed + args.seeds)
    taken = [d for t in tasks for s in seeds for j in (False, True) if (d := arm_dir(args.out, t, s, j)).exists()]
    if taken:
        parser.error(f"run directories already exist (choose another --out): {', '.join(map(str, taken))}")
    import torch

    torch.set_num_threads(1)
    args.out.mkdir(parents=True, exist_ok=True)
    rows: list[dict] = []
    family: list[dict] = []
    trials: list[dict] = []
    for task in tasks:
        for seed in seeds:
            for joint in (False, True):
                row, members = run(task, seed, joint, args.pool_size, args.train_seconds, args.neighbours, trials,
                                   tuple(r for r in args.recipe.split(",") if r), args.clock, args.bound, args.out)
                rows.append(row)
                family += members
                print(f"{task} seed {seed} {row['arm']}: test {row['test_accuracy']:.4f} "
                      f"(load {os.getloadavg()[0]:.1f})", flush=True)
                write(args.out / "runs.csv", rows)
                write(args.out / "family.csv", family)
                write(args.out / "trials.csv", trials)
    lines = summary(rows, family)
    (args.out / "summary.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
