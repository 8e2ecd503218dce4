"""A ``vit`` search on the CIFAR-10 subset against the best ``nb201`` network trained the same
way (issue 18): does the transformer front (accuracy against measured latency) hold a model
more accurate than NAS-Bench-201's best cell?

    python benchmarks/vit_vs_nb201.py --trials 16 --epochs 5 --out /tmp/vit-vs-nb201

1. ``vit``: ``nasforge.search`` over the ``vit`` space with objectives ``val_accuracy:max`` and
   ``latency_ms:min`` (measured, PyTorch), the default strategy, ``--trials`` trials of the
   ``train`` evaluator at ``--epochs`` epochs, no final retraining.
2. ``nb201``: the cell with the highest CIFAR-10 test accuracy in the NAS-Bench-201 table (200
   epochs on full CIFAR-10), in the ``nb201`` space at its default size (16 channels, 5 cells per
   stage), evaluated through the same ``nasforge.search`` (strategy ``given``, one trial) with the
   same evaluator, epochs, seed and objectives: the same training data, validation split, recipe
   and latency measurement.

The script prints the ``vit`` front and the ``nb201`` point, and whether the front holds a
model with a higher validation accuracy (and by how much it falls short if not). Both run
directories stay under ``--out`` (``nasforge show``/``report`` read them); a finished one is
reused.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path
from typing import Any

OBJECTIVES = ["val_accuracy:max", "latency_ms:min"]


def best_nb201_cell() -> str:
    """The ``nb201`` key of the table's most accurate cell on CIFAR-10 (200 epochs)."""
    from nasforge.estimate.benchmarks import get_benchmark

    table = get_benchmark("nb201-cifar10").table()
    return max(table, key=lambda key: table[key]["accuracy"])


def searched(out: Path, **kwargs: Any) -> Any:
    """The run in ``out``: read back if it finished, else run (``nasforge.search``) into it."""
    import nasforge

    if (out / "report.html").is_file():
        return nasforge.load_run(out)
    nasforge.search(run_dir=out, objectives=OBJECTIVES, final_retrain=False, progress=False, **kwargs)
    return nasforge.load_run(out)


def points(view: Any) -> list[tuple[float, float, int, str]]:
    """(validation accuracy, latency ms, params, arch key) of the run's completed trials."""
    return [(t.metrics["val_accuracy"], t.metrics["latency_ms"], int(t.metrics.get("params", 0)), t.arch.key)
            for t in view.trials if t.status == "complete"]


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--trials", type=int, default=16, help="vit trials")
    parser.add_argument("--epochs", type=int, default=5, help="epochs of every training (both spaces)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--task", default="cifar10-subset")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)
    if args.trials < 1 or args.epochs < 1:
        parser.error("--trials and --epochs must be >= 1")
    from nasforge.core.pareto import non_dominated

    settings = {"epochs": args.epochs, "threads": 1}
    cell = best_nb201_cell()
    nb201 = points(searched(args.out / "nb201", task=args.task, space="nb201", strategy="given",
                           strategy_settings={"archs": [cell]}, trials=1, evaluator_settings=settings,
                           seed=args.seed))
    vit = points(searched(args.out / "vit", task=args.task, space="vit", trials=args.trials,
                          evaluator_settings=settings, seed=args.seed))
    if not nb201 or not vit:
        raise SystemExit(f"no completed trial: nb201 {len(nb201)}, vit {len(vit)} (see the run directories)")
    import numpy as np

    losses = np.array([[-acc, lat] for acc, lat, _, _ in vit])
    front = sorted((vit[i] for i in non_dominated(losses)), key=lambda p: p[1])
    ref_acc, ref_lat, ref_params, ref_key = nb201[0]
    print(f"{args.task}, {args.epochs} epochs per network, seed {args.seed}; vit front of {len(vit)} trials:")
    print("| model | val accuracy | latency (ms) | params |")
    print("|---|---|---|---|")
    for acc, lat, params, key in front:
        print(f"| `{key}` | {acc:.4f} | {lat:.3f} | {params:,} |")
    print(f"| nb201 best cell `{ref_key}` | {ref_acc:.4f} | {ref_lat:.3f} | {ref_params:,} |")
    best = max(vit)
    gap = best[0] - ref_acc
    verdict = ("the vit front holds a more accurate model" if gap > 0 else
               "the vit front falls short of the nb201 cell")
    print(f"\n{verdict}: best vit {best[0]:.4f} against nb201 {ref_acc:.4f} ({100 * gap:+.2f} points)")
    return {"front": front, "nb201": nb201[0], "gap": gap}


if __name__ == "__main__":
    main()
