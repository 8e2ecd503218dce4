"""nasforge's default search against Optuna TPE and Optuna GP, end to end, at equal CPU seconds
(issue 21).

Three methods search the *same* space with the *same* trainer and epochs on one task:

- ``nasforge``: the default search (``nasforge.search`` with its default strategy, ``bananas``:
  hypervolume-improvement BO over the free ``params`` objective since issue 21, regularized
  evolution before; method ``nasforge:STRATEGY`` runs the same with another strategy, e.g.
  ``nasforge:evolution``); objectives ``val_accuracy:max`` and
  ``params:min``, the ``train`` evaluator), its budget the run's own
  ``cpu`` clock (``clock="cpu"``, ``minutes = budget / 60``), without its final retraining;
- ``optuna-tpe`` / ``optuna-gp``: what a user would otherwise write, a define-by-run objective
  under ``optuna.create_study(directions=["maximize", "minimize"])`` and ``study.optimize``.
  The objective builds the architecture from one ``trial.suggest_categorical`` per decision of
  the space (every decision, always: Optuna's GPSampler models only the decisions every trial
  has, so the inactive ones are suggested too and the space canonicalises them away), trains it
  with nasforge's own :class:`~nasforge.estimate.train.TrainingEvaluator` (the same settings
  and seed as the nasforge run) and returns ``(val_accuracy, params)``. An architecture the
  study has already trained is answered from memory (no second training); a failed training
  is pruned. A callback stops the study once ``time.process_time()`` since the study began
  (this process and its threads; torch runs one thread) reaches the budget.

Both stop at the first trial that ends past the budget, so each uses the budget plus at most one
trial; ``cpu_s`` in the output is what each actually used. Then the same final retraining for
every method: each member of the method's Pareto front of (validation accuracy, params) is
retrained from scratch on train+validation for ``final_epochs`` with the run's seed
(:func:`nasforge.run.finalize.retrain_and_export`, the run's own finalisation) and scored on the
test split. Per (task, method, seed): the hypervolume of the retrained front in the plane of
(test accuracy, log10 params) up to ``REF_PARAMS`` parameters, normalised to [0, 1]; the best
test accuracy at params <= 5k and <= 20k; the selected model (best validation accuracy, then
fewer params) and its test accuracy. ``--out DIR`` gets ``runs.csv`` (one row per run, the
columns of :data:`COLUMNS`) and ``summary.md`` (means, and per peer a paired Wilcoxon
signed-rank test of nasforge's hypervolume against the peer's over the seeds; Wilcoxon 1945).

    python benchmarks/peers_e2e.py --tasks mnist1d --seeds 5 --budget 150 --out /tmp/peers-e2e
    python benchmarks/peers_e2e.py --tasks cifar10-subset-16px --seeds 5 --budget 240 --out /tmp/peers-e2e-cifar
    python benchmarks/peers_e2e.py --summarize /tmp/peers-e2e /tmp/peers-e2e-s5  # seed blocks together

Run with ``OMP_NUM_THREADS=1`` and ``nice``; the budget is CPU seconds, so a loaded machine
does not change what each method gets.
"""

from __future__ import annotations

import argparse
import csv
import math
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

METHODS = ("nasforge", "optuna-tpe", "optuna-gp")
#: task: (space, space settings, epochs per trial, final epochs); mnist1d is the default search's
#: own (conv1d, 15 and 40 epochs); the CIFAR-10 subset at 16x16 pixels with a small NB201 network
TASKS: dict[str, tuple[str, dict[str, Any], int, int]] = {
    "mnist1d": ("conv1d", {}, 15, 40),
    "cifar10-subset-16px": ("nb201", {"channels": 4, "cells": 1}, 6, 12),
}
REF_PARAMS = 100_000  # hypervolume reference: accuracy 0 at this many parameters
BOUNDS = (5_000, 20_000)
COLUMNS = ("task", "method", "seed", "budget_cpu_s", "cpu_s", "trials", "front_size", "hypervolume",
           "best_test_le5k", "best_test_le20k", "selected_arch", "selected_params", "selected_test",
           "retrain_cpu_s")


def load(name: str, seed: int) -> Any:
    """The task ``name`` (``cifar10-subset-16px``: the subset, 2x2 average-pooled to 16x16,
    i.e. the built-in ``cifar10-subset:16``)."""
    from nasforge.task import load_task

    return load_task("cifar10-subset:16" if name == "cifar10-subset-16px" else name, seed=seed)


def hypervolume(points: Sequence[tuple[float, int]], ref_params: int = REF_PARAMS) -> float:
    """Area dominated by ``(accuracy, params)`` points (accuracy up, log10 params down) above
    accuracy 0 and below ``ref_params``, divided by ``log10(ref_params)``: in [0, 1]."""
    top = math.log10(ref_params)
    pts = sorted((math.log10(max(p, 1)), a) for a, p in points if p < ref_params)
    area, best = 0.0, 0.0
    for i, (lp, acc) in enumerate(pts):
        best = max(best, acc)
        nxt = pts[i + 1][0] if i + 1 < len(pts) else top
        area += (nxt - lp) * best
    return area / top


def pareto(rows: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Rows not dominated in (``val_accuracy`` max, ``params`` min), one per architecture."""
    unique = {r["arch"]: r for r in rows}
    front = [r for r in unique.values()
             if not any(o["val_accuracy"] >= r["val_accuracy"] and o["params"] <= r["params"]
                        and (o["val_accuracy"], -o["params"]) != (r["val_accuracy"], -r["params"])
                        for o in unique.values())]
    return sorted(front, key=lambda r: r["params"])


def trainer_settings(task_name: str, epochs: int | None, final_epochs: int | None) -> Any:
    from nasforge.estimate.train import TrainSettings

    _, _, e, f = TASKS[task_name]
    return TrainSettings(epochs=epochs or e, final_epochs=final_epochs or f, threads=1)


def run_nasforge(task: Any, task_name: str, seed: int, budget: float, settings: Any, out: Path,
                 strategy: str | None = None) -> tuple[list, float]:
    """The default search (or ``strategy``) under a CPU-second budget: its finished trials and the
    CPU seconds used."""
    import nasforge

    space_name, space_settings, _, _ = TASKS[task_name]
    result = nasforge.search(
        task, space_name, strategy, space_settings=space_settings,
        evaluator="train", evaluator_settings=settings.model_dump(exclude_defaults=True),
        trials=10_000_000, minutes=budget / 60, clock="cpu", final_retrain=False, progress=False,
        run_dir=out / f"{task_name}-s{seed}-nasforge{'-' + strategy if strategy else ''}", seed=seed)
    done = [t for t in result.trials if t.counts_for_budget]
    rows = [{"arch": t.arch.key, "val_accuracy": float(t.metrics["val_accuracy"]),
             "params": int(t.metrics["params"]), "values": t.arch} for t in done if t.finished_ok]
    return rows, max((t.clock or 0.0) for t in done) if done else 0.0


def run_optuna(task: Any, task_name: str, seed: int, budget: float, settings: Any, sampler: str) -> tuple[list, float, int]:
    """A define-by-run Optuna study over the same space and trainer: rows, CPU seconds, trials."""
    import optuna

    from nasforge.estimate.base import RunContext
    from nasforge.estimate.train import TrainingEvaluator

    space_name, space_settings, _, _ = TASKS[task_name]
    space = make_space_for(space_name, space_settings)
    trainer = TrainingEvaluator.for_run(RunContext(space, task, seed), settings)
    seen: dict[str, tuple[float, int]] = {}
    rows: list[dict[str, Any]] = []

    def objective(trial: optuna.Trial) -> tuple[float, int]:
        values = {c.name: trial.suggest_categorical(c.name, list(c.options)) for c in space.choices}
        arch = space.arch(values)
        if arch.key in seen:
            return seen[arch.key]
        result = trainer.evaluate(arch)
        if not result.ok:
            raise optuna.TrialPruned(result.error)
        value = (float(result.metrics["val_accuracy"]), int(result.metrics["params"]))
        seen[arch.key] = value
        rows.append({"arch": arch.key, "val_accuracy": value[0], "params": value[1], "values": arch})
        return value

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    start = time.process_time()
    kinds = {"optuna-tpe": optuna.samplers.TPESampler, "optuna-gp": optuna.samplers.GPSampler}
    sampler_obj = kinds[sampler](seed=seed)
    study = optuna.create_study(directions=["maximize", "minimize"], sampler=sampler_obj)

    def stop(study: optuna.Study, _trial: Any) -> None:
        if time.process_time() - start >= budget:
            study.stop()

    with _quiet_gp():
        study.optimize(objective, callbacks=[stop])
    return rows, time.process_time() - start, len(rows)


class _quiet_gp:
    """Silence the GP sampler's warnings about categorical-only spaces within the block."""

    def __enter__(self) -> None:
        import warnings

        self._ctx = warnings.catch_warnings()
        self._ctx.__enter__()
        warnings.simplefilter("ignore")

    def __exit__(self, *exc: Any) -> None:
        self._ctx.__exit__(*exc)


def make_space_for(name: str, settings: dict[str, Any]) -> Any:
    """The registered space ``name`` with ``settings`` (the same object a run builds)."""
    from nasforge.space.registry import get_space

    return get_space(name, **settings)


def retrain_front(rows: list[dict[str, Any]], task: Any, task_name: str, seed: int, settings: Any,
                  out: Path) -> tuple[list[dict[str, Any]], float]:
    """Retrain every front member on train+val (the run's finalisation) and test it."""
    from nasforge.estimate.base import RunContext
    from nasforge.estimate.train import TrainingEvaluator
    from nasforge.run.finalize import retrain_and_export

    space_name, space_settings, _, _ = TASKS[task_name]
    space = make_space_for(space_name, space_settings)
    trainer = TrainingEvaluator.for_run(RunContext(space, task, seed), settings)
    start = time.process_time()
    tested = []
    for i, r in enumerate(pareto(rows)):
        summary = retrain_and_export(r["values"], trainer, settings.final_epochs, out / f"member-{i}")
        tested.append({**r, "test_accuracy": float(summary["test_accuracy"]), "params": int(summary["params"])})
    return tested, time.process_time() - start


def one_run(task_name: str, method: str, seed: int, budget: float, out: Path,
            epochs: int | None = None, final_epochs: int | None = None) -> dict[str, Any]:
    """One (task, method, seed): search under ``budget`` CPU seconds, retrain the front, score it."""
    import torch

    torch.set_num_threads(1)
    settings = trainer_settings(task_name, epochs, final_epochs)
    task = load(task_name, seed)
    if method == "nasforge" or method.startswith("nasforge:"):
        strategy = method.partition(":")[2] or None
        rows, cpu = run_nasforge(task, task_name, seed, budget, settings, out, strategy)
        trials = len(rows)
    elif method in ("optuna-tpe", "optuna-gp"):
        rows, cpu, trials = run_optuna(task, task_name, seed, budget, settings, method)
    else:
        raise ValueError(f"unknown method {method!r}; methods: {list(METHODS)}")
    if not rows:
        raise RuntimeError(f"{task_name} {method} seed {seed}: no finished trial within {budget} CPU s")
    tested, retrain_cpu = retrain_front(rows, task, task_name, seed, settings, out / f"{task_name}-s{seed}-{method.replace(':', '-')}-final")
    selected = max(tested, key=lambda r: (r["val_accuracy"], -r["params"]))

    def best_at(bound: int) -> float | str:
        ok = [r["test_accuracy"] for r in tested if r["params"] <= bound]
        return round(max(ok), 4) if ok else ""

    return {"task": task_name, "method": method, "seed": seed, "budget_cpu_s": budget, "cpu_s": round(cpu, 1),
            "trials": trials, "front_size": len(tested),
            "hypervolume": round(hypervolume([(r["test_accuracy"], r["params"]) for r in tested]), 4),
            "best_test_le5k": best_at(BOUNDS[0]), "best_test_le20k": best_at(BOUNDS[1]),
            "selected_arch": selected["arch"], "selected_params": selected["params"],
            "selected_test": round(selected["test_accuracy"], 4), "retrain_cpu_s": round(retrain_cpu, 1)}


def summarise(rows: list[dict[str, Any]]) -> str:
    """Markdown: mean of each measure per (task, method), then nasforge vs each peer, paired by seed.
    Only seeds run by every method of their task count (so all means are over the same seeds);
    the rows of other seeds are named in a note."""
    from scipy import stats

    methods = {task: {r["method"] for r in rows if r["task"] == task} for task in {r["task"] for r in rows}}
    complete = {task: set.intersection(*({r["seed"] for r in rows if r["task"] == task and r["method"] == m}
                                         for m in ms)) for task, ms in methods.items()}
    left_out = sorted(f"{r['task']} {r['method']} seed {r['seed']}" for r in rows if r["seed"] not in complete[r["task"]])
    rows = [r for r in rows if r["seed"] in complete[r["task"]]]
    out = ["| task | method | seeds | CPU s used | trials | hypervolume | best test ≤5k | best test ≤20k "
           "| selected test (params) |", "|---|---|---|---|---|---|---|---|---|"]
    tasks = list(dict.fromkeys(r["task"] for r in rows))

    def mean(rs: list[dict[str, Any]], key: str) -> str:
        vals = [float(r[key]) for r in rs if r[key] != ""]
        return f"{np.mean(vals):.4g}" if vals else "—"

    for task in tasks:
        for method in METHODS:
            rs = [r for r in rows if r["task"] == task and r["method"] == method]
            if rs:
                out.append(f"| {task} | {method} | {len(rs)} | {mean(rs, 'cpu_s')} | {mean(rs, 'trials')} | "
                           f"{mean(rs, 'hypervolume')} | {mean(rs, 'best_test_le5k')} | {mean(rs, 'best_test_le20k')} | "
                           f"{mean(rs, 'selected_test')} ({mean(rs, 'selected_params')}) |")
    out += ["", "| task | peer | paired seeds | nasforge HV better/worse/tied | mean HV difference | Wilcoxon p |",
            "|---|---|---|---|---|---|"]
    for task in tasks:
        ours = {r["seed"]: float(r["hypervolume"]) for r in rows if r["task"] == task and r["method"] == "nasforge"}
        for peer in METHODS[1:]:
            theirs = {r["seed"]: float(r["hypervolume"]) for r in rows if r["task"] == task and r["method"] == peer}
            seeds = sorted(set(ours) & set(theirs))
            if not seeds:
                continue
            diff = np.array([ours[s] - theirs[s] for s in seeds])
            p = f"{stats.wilcoxon(diff).pvalue:.3g}" if np.any(diff != 0) else "—"
            out.append(f"| {task} | {peer} | {len(seeds)} | {int((diff > 0).sum())}/{int((diff < 0).sum())}/"
                       f"{int((diff == 0).sum())} | {diff.mean():+.4f} | {p} |")
    if left_out:
        out += ["", f"(left out, their seed not run by every method: {', '.join(left_out)})"]
    return "\n".join(out)


def read_runs(folders: Sequence[Path]) -> list[dict[str, Any]]:
    """The rows of ``runs.csv`` in each folder (seeds as integers, so blocks pair by seed)."""
    rows = []
    for folder in folders:
        path = folder / "runs.csv"
        if not path.is_file():
            raise SystemExit(f"--summarize {folder}: no runs.csv there")
        with path.open(newline="") as fh:
            rows += [{**r, "seed": int(r["seed"])} for r in csv.DictReader(fh)]
    keys = [(r["task"], r["method"], r["seed"]) for r in rows]
    repeated = sorted({k for k in keys if keys.count(k) > 1})
    if repeated:
        raise SystemExit(f"--summarize: the same (task, method, seed) in more than one row: {repeated}")
    budgets = {(r["task"], float(r["budget_cpu_s"])) for r in rows}
    if len(budgets) != len({t for t, _ in budgets}):
        raise SystemExit(f"--summarize: runs of one task with different budgets: {sorted(budgets)}")
    return rows


def write_csv(path: Path, rows: list[dict[str, Any]]) -> None:
    with path.open("w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=COLUMNS)
        writer.writeheader()
        writer.writerows(rows)


def main(argv: Sequence[str] | None = None) -> list[dict[str, Any]]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", default="mnist1d", help=f"comma-separated: {', '.join(TASKS)}")
    parser.add_argument("--methods", default=",".join(METHODS))
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--first-seed", type=int, default=0)
    parser.add_argument("--budget", type=float, default=150.0, help="CPU seconds of search per run")
    parser.add_argument("--epochs", type=int, help="epochs per trial (default: per task)")
    parser.add_argument("--final-epochs", type=int, help="epochs of the final retraining (default: per task)")
    parser.add_argument("--out", help="folder: runs.csv, summary.md, the run directories (required to run)")
    parser.add_argument("--summarize", nargs="+", metavar="DIR",
                        help="print the tables of earlier runs' runs.csv together (e.g. seed blocks) and exit")
    args = parser.parse_args(argv)
    if args.summarize:
        rows = read_runs([Path(d) for d in args.summarize])
        print(summarise(rows))
        return rows
    if not args.out:
        parser.error("--out is required to run")
    tasks, methods = args.tasks.split(","), args.methods.split(",")
    bad = [t for t in tasks if t not in TASKS] + [m for m in methods if m not in METHODS]
    if bad:
        parser.error(f"unknown task(s) or method(s) {bad}; tasks: {list(TASKS)}, methods: {list(METHODS)}")
    if args.seeds < 1 or args.first_seed < 0 or args.budget <= 0:
        parser.error("--seeds must be >= 1, --first-seed >= 0, --budget > 0")
    if (args.epochs is not None and args.epochs < 1) or (args.final_epochs is not None and args.final_epochs < 1):
        parser.error("--epochs and --final-epochs must be >= 1")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    rows: list[dict[str, Any]] = []
    for task in tasks:
        for seed in range(args.first_seed, args.first_seed + args.seeds):
            for method in methods:
                rows.append(one_run(task, method, seed, args.budget, out, args.epochs, args.final_epochs))
                print(" ".join(f"{k}={v}" for k, v in rows[-1].items() if k != "selected_arch"), flush=True)
                write_csv(out / "runs.csv", rows)
    (out / "summary.md").write_text(summarise(rows) + "\n")
    print(summarise(rows))
    return rows


if __name__ == "__main__":
    main()
