"""Supernet ranking on the transformer spaces: does the weight-entangled supernet order ``vit``
and ``gpt`` sub-networks as training them from scratch does?

For each space: ``--archs`` distinct archs (seed 0) are each trained stand-alone with the
``train`` evaluator (``--standalone-epochs``; gpt with its space's ``train_defaults`` recipe);
the supernet is trained once per ``--methods`` (``sandwich``: largest + smallest + 2 random
paths with in-place distillation; ``spos``: one uniform path per step) for
``--supernet-epochs`` (AdamW by default, as AutoFormer trains its supernets) and scores the same archs with inherited weights (the ``supernet``
evaluator). Reported: Kendall tau between the inherited-weight metric and the stand-alone
metric (``vit``: validation accuracy; ``gpt``: validation perplexity, lower better), beside the
free baseline, the tau of the parameter count against the same stand-alone metric.

Data: ``vit`` on ``digits`` (8x8 grey images; patch sizes 2 and 4) or ``cifar10-subset``
(``--vit-task``, patch sizes 4 and 8); ``gpt`` on the first ``--gpt-chars`` characters of the
built-in ``stdlib`` corpus (char level, context ``--gpt-context``). Writes
``OUT/<space>/archs.csv`` and ``OUT/summary.md`` (the table in docs/benchmarks.md).

    nice -n 15 python benchmarks/transformer_supernet_ranking.py --out bench-out/transformer-ranking
"""

from __future__ import annotations

import argparse
import csv
import time
from pathlib import Path
from typing import Any

from scipy.stats import kendalltau

from nasforge.estimate.recipe import Recipe
from nasforge.estimate.train import TrainingEvaluator
from nasforge.oneshot.base import get_method
from nasforge.oneshot.evaluator import SupernetEvaluator
from nasforge.space.registry import get_space


def setup(space: str, args: argparse.Namespace) -> tuple[Any, Any, Recipe, str]:
    """(space, task, stand-alone recipe, metric) of one benchmark space."""
    from nasforge.task import load_task

    if space == "vit":
        patches = (2, 4) if args.vit_task == "digits" else (4, 8)
        task = load_task(args.vit_task, seed=0)
        recipe = Recipe(epochs=args.standalone_epochs, batch_size=64, lr=0.003, label_smoothing=0.0)
        return get_space("vit", patch_sizes=patches), task, recipe, "val_accuracy"
    from nasforge.task.text import stdlib_text, text_task

    task = text_task(stdlib_text(args.gpt_chars), name=f"stdlib-{args.gpt_chars}", context=args.gpt_context)
    sp = get_space("gpt")
    defaults = sp.train_defaults  # the recipe a gpt run trains with unless told otherwise
    recipe = Recipe(epochs=args.standalone_epochs, batch_size=defaults["batch_size"], lr=defaults["lr"],
                    label_smoothing=defaults["label_smoothing"])
    return sp, task, recipe, "perplexity"


def standalone(space: Any, task: Any, recipe: Recipe, archs: list[Any], metric: str) -> list[float]:
    """Each arch trained from scratch; its validation ``metric``."""
    evaluator = TrainingEvaluator(space, task, recipe, seed=0, threads=1)
    values = []
    for i, arch in enumerate(archs):
        result = evaluator.evaluate(arch)
        if not result.ok:
            raise RuntimeError(f"stand-alone training of {arch.key} failed: {result.error}")
        values.append(float(result.metrics[metric]))
        print(f"  stand-alone {i + 1}/{len(archs)} {arch.key}: {metric} {values[-1]:.4f}", flush=True)
    return values


def inherited(method: str, space: Any, task: Any, archs: list[Any], metric: str,
              args: argparse.Namespace) -> tuple[list[float], float]:
    """Train the supernet with ``method``; each arch's ``metric`` with inherited weights; seconds."""
    start = time.process_time()
    batch = 32 if space.name == "gpt" else 64
    m = get_method(method, epochs=args.supernet_epochs, batch_size=batch, lr=args.supernet_lr, seed=0,
                   weight_decay=0.0, threads=1, optimizer=args.supernet_optimizer)
    state = m.begin(space, task)
    while state.epochs_done < args.supernet_epochs:
        record = m.epoch(state)
        print(f"  {method} epoch {record.epoch}: loss {record.train_loss:.4f}", flush=True)
    evaluator = SupernetEvaluator(state.supernet, task, calib_batches=1, batch_size=256, seed=0, threads=1)
    values = []
    for arch in archs:
        result = evaluator.evaluate(arch)
        if not result.ok:
            raise RuntimeError(f"inherited-weight evaluation of {arch.key} failed: {result.error}")
        values.append(float(result.metrics[metric]))
    return values, time.process_time() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("bench-out/transformer-ranking"))
    parser.add_argument("--spaces", nargs="+", default=["vit", "gpt"], choices=["vit", "gpt"])
    parser.add_argument("--methods", nargs="+", default=["sandwich", "spos"], choices=["sandwich", "spos"])
    parser.add_argument("--archs", type=int, default=24, help="distinct sub-networks ranked (at least 20 in docs)")
    parser.add_argument("--standalone-epochs", type=int, default=4)
    parser.add_argument("--supernet-epochs", type=int, default=15)
    parser.add_argument("--supernet-optimizer", default="adamw", choices=["adamw", "sgd"])
    parser.add_argument("--supernet-lr", type=float, default=0.002, help="peak learning rate (cosine schedule)")
    parser.add_argument("--vit-task", default="digits", choices=["digits", "cifar10-subset"])
    parser.add_argument("--gpt-chars", type=int, default=60_000, help="first characters of the stdlib corpus")
    parser.add_argument("--gpt-context", type=int, default=32)
    args = parser.parse_args()

    import torch

    torch.set_num_threads(1)
    rows = []
    for name in args.spaces:
        space, task, recipe, metric = setup(name, args)
        archs = space.sample_distinct(args.archs, 0)
        print(f"{name}: {len(archs)} archs on {task.name}", flush=True)
        started = time.process_time()
        truth = standalone(space, task, recipe, archs, metric)
        standalone_seconds = time.process_time() - started
        from nasforge.hardware.metrics import count_params

        params = [count_params(space.build(a, task)) for a in archs]
        sign = -1.0 if metric == "perplexity" else 1.0  # higher = better on both sides of tau
        columns: dict[str, list[float]] = {}
        for method in args.methods:
            values, seconds = inherited(method, space, task, archs, metric, args)
            columns[method] = values
            tau = kendalltau([sign * v for v in values], [sign * t for t in truth]).statistic
            rows.append({"space": name, "task": task.name, "archs": len(archs), "predictor": f"{method} supernet",
                         "metric": metric, "kendall": tau, "seconds": seconds})
        tau_params = kendalltau(params, [sign * t for t in truth]).statistic
        rows.append({"space": name, "task": task.name, "archs": len(archs), "predictor": "params (baseline)",
                     "metric": metric, "kendall": tau_params, "seconds": standalone_seconds})
        (args.out / name).mkdir(parents=True, exist_ok=True)
        with open(args.out / name / "archs.csv", "w", newline="") as fh:
            writer = csv.writer(fh)
            writer.writerow(["arch", "params", f"standalone_{metric}", *(f"{m}_{metric}" for m in columns)])
            for i, arch in enumerate(archs):
                writer.writerow([arch.key, params[i], f"{truth[i]:.5f}", *(f"{columns[m][i]:.5f}" for m in columns)])
        write_summary(rows, args.out)  # after every space: a run cut short keeps what it finished


def write_summary(rows: list[dict[str, Any]], out: Path) -> None:
    """``OUT/summary.md``: the table of ``rows`` (also printed)."""
    lines = ["| space | task | sub-networks | predictor of the stand-alone metric | metric | Kendall tau | CPU s |",
             "|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['space']} | {r['task']} | {r['archs']} | {r['predictor']} | {r['metric']} | "
                     f"{r['kendall']:.3f} | {r['seconds']:.0f} |")
    out.mkdir(parents=True, exist_ok=True)
    (out / "summary.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines), flush=True)


if __name__ == "__main__":
    main()
