"""How much the recipe alone is worth: retrain fixed architectures under every learning-rate x
batch-size combination and compare with the default recipe (the headroom a joint
architecture-recipe search can find over architecture-only search).

The architectures are the architecture-only arm's best trials from a ``joint_recipe.py`` run
(``--runs OUT/runs.csv``), or ``--archs`` keys of the task's base space. Each (architecture, lr,
batch size) is trained ``--retrains`` times (seeds ``1000 i``) on train+validation for the
task's epochs in ``joint_recipe.SETTINGS`` and tested, by the run's final retraining
(:func:`nasforge.run.finalize.retrain_and_export`, each network exported to
``OUT/retrains/<n>/``); everything else is the default recipe. Writes ``OUT/headroom.csv`` (one
row per training) and ``OUT/summary.md`` (mean test accuracy of each combination over the
architectures, against the default's).

    python benchmarks/recipe_headroom.py --runs bench-out/joint-mnist1d/runs.csv --out bench-out/headroom-mnist1d
"""

from __future__ import annotations

import argparse
import csv
import itertools
from pathlib import Path

import numpy as np
from joint_recipe import SETTINGS, load, write

from nasforge.estimate.base import RunContext
from nasforge.estimate.recipe import Recipe
from nasforge.estimate.train import TrainingEvaluator, TrainSettings
from nasforge.run.finalize import retrain_and_export
from nasforge.space import get_space
from nasforge.space.joint import JointSpace

DEFAULT = (Recipe().lr, Recipe().batch_size)


def headroom(task_name: str, archs: list[str], lrs: list[float], batches: list[int], retrains: int,
             out: Path) -> list[dict]:
    """One row per (architecture, lr, batch size, retraining): its test accuracy."""
    base_name, base_settings, epochs, *_ = SETTINGS[task_name]
    base = get_space(base_name, **base_settings)
    space = JointSpace(base, recipe={"lr": lrs, "batch_size": batches})
    task = load(task_name, 0)
    settings = TrainSettings(epochs=epochs, final_epochs=epochs, shift=-1, threads=1)
    trainers = [TrainingEvaluator.for_run(RunContext(space, task, 1000 * i, "cpu"), settings) for i in range(retrains)]
    rows: list[dict] = []
    for key in archs:
        arch = base.parse(key)
        for lr, batch in itertools.product(lrs, batches):
            for i, trainer in enumerate(trainers):
                result = retrain_and_export(space.join(arch, lr=lr, batch_size=batch), trainer, epochs,
                                            out / "retrains" / str(len(rows)))
                rows.append({"arch": key, "lr": lr, "batch_size": batch, "retrain": i,
                             "test_accuracy": result["test_accuracy"], "seconds": round(result["retrain_seconds"], 2)})
            print(f"{key} lr {lr} batch {batch}: "
                  f"{np.mean([r['test_accuracy'] for r in rows[-retrains:]]):.4f}", flush=True)
    return rows


def summary(rows: list[dict]) -> list[str]:
    archs = list(dict.fromkeys(r["arch"] for r in rows))
    per = {}  # (lr, batch) -> per-architecture mean test accuracy
    for combo in dict.fromkeys((r["lr"], r["batch_size"]) for r in rows):
        per[combo] = np.array([np.mean([r["test_accuracy"] for r in rows if r["arch"] == a
                                        and (r["lr"], r["batch_size"]) == combo]) for a in archs])
    default = per.get(DEFAULT)
    lines = [f"{len(archs)} architectures; default recipe lr {DEFAULT[0]}, batch {DEFAULT[1]}", "",
             "| lr | batch size | test acc. (mean over archs) | minus default (mean) | archs better than default |",
             "|---|---|---|---|---|"]
    for (lr, batch), accs in sorted(per.items(), key=lambda kv: -kv[1].mean()):
        gain, better = ("", "") if default is None else (f"{(accs - default).mean():+.4f}",
                                                         f"{int((accs > default).sum())}/{len(archs)}")
        lines.append(f"| {lr:g} | {batch} | {accs.mean():.4f} | {gain} | {better} |")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--task", default="mnist1d", choices=list(SETTINGS))
    parser.add_argument("--runs", type=Path, help="a joint_recipe.py runs.csv: its arch-only best trials")
    parser.add_argument("--archs", default="", help="';'-separated architecture keys of the base space")
    parser.add_argument("--lr", default="0.005,0.01,0.02,0.05,0.1")
    parser.add_argument("--batch-size", default="32,64,128,256")
    parser.add_argument("--retrains", type=int, default=3)
    parser.add_argument("--out", type=Path, default=Path("bench-out/headroom"))
    args = parser.parse_args()
    archs = [a for a in args.archs.split(";") if a]
    if args.runs is not None:
        with args.runs.open(newline="") as fh:
            archs += [r["best_arch"].split("#")[0].replace("+joint", "") for r in csv.DictReader(fh)
                      if r["arm"] == "arch-only" and r["task"] == args.task]
    if not archs:
        parser.error("give --runs or --archs")
    import torch

    torch.set_num_threads(1)
    args.out.mkdir(parents=True, exist_ok=True)
    rows = headroom(args.task, list(dict.fromkeys(archs)), [float(x) for x in args.lr.split(",")],
                    [int(x) for x in args.batch_size.split(",")], args.retrains, args.out)
    write(args.out / "headroom.csv", rows)
    lines = summary(rows)
    (args.out / "summary.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
