"""APQ-style predictor transfer (issue 19): an accuracy predictor fitted on float architectures and
fine-tuned with a few quantized samples, against one trained on the quantized samples only.

    python benchmarks/quant_predictor_transfer.py collect --task mnist1d --seed 0 --out /tmp/qt0
    python benchmarks/quant_predictor_transfer.py study --out /tmp/qt0 /tmp/qt1 /tmp/qt2 --sizes 10 20 50

``collect`` trains uniformly sampled architectures of the ``quant`` space over ``--space`` on
the task with one recipe (``--epochs``, ``--qat-epochs``) and appends one row per
training to ``labels.csv``, float and quantized alternately (resumable: rows already there are
not trained again). ``--seed`` draws the architectures, the task's validation split and the
training seed, so collections of different seeds are independent repetitions of the study:

- ``float``: a base architecture trained in float (the quant space's point ``w32a32k1.0`` in
  every group, :func:`~nasforge.estimate.predictors.transfer.float_point`);
- ``quant``: an architecture with its quantization and pruning decisions, trained in float, pruned
  and fine-tuned quantization-aware (:mod:`nasforge.estimate.qat`).

``study`` encodes every architecture with the quant space's one-hot encoding and, per number
``n`` of quantized trainings and repeat, draws ``n`` quantized rows for training and scores the
rest: Kendall's tau of :class:`~nasforge.estimate.predictors.transfer.TransferMLP` fitted on all
float rows then fine-tuned on the ``n`` for a third of the epochs (``transfer``), and of the same
model trained on the ``n`` only (``quant-only``). Given several collections (seeds), it prints per
``n`` the mean ± sd over the collections' mean taus, each collection's mean, and in how many
(collection, repeat) pairs transfer wins.
"""

from __future__ import annotations

import argparse
import csv
import json
import statistics
from itertools import zip_longest
from pathlib import Path
from typing import Any

from nasforge.bench.summary import mean_sd

ROOT = Path("runs/quant-transfer")
COLUMNS = ("kind", "arch", "val_accuracy")


def _space(space: str, settings: dict[str, Any]) -> Any:
    from nasforge.space.quant import QuantSpace

    return QuantSpace(space, base_settings=settings)


def collect(args: argparse.Namespace) -> None:
    import numpy as np
    import torch

    from nasforge.estimate.predictors.transfer import float_point
    from nasforge.estimate.recipe import Recipe
    from nasforge.estimate.train import TrainingEvaluator
    from nasforge.task import load_task

    torch.set_num_threads(1)
    space = _space(args.space, {})
    task = load_task(args.task, seed=args.seed)
    recipe = Recipe(epochs=args.epochs, batch_size=128, data_fraction=args.data_fraction, seed=args.seed)
    path = args.out / "labels.csv"
    args.out.mkdir(parents=True, exist_ok=True)
    settings = {"task": args.task, "space": args.space, "seed": args.seed, "epochs": args.epochs,
                "qat_epochs": args.qat_epochs, "data_fraction": args.data_fraction}
    recorded = args.out / "collection.json"
    if recorded.is_file() and json.loads(recorded.read_text()) != settings:
        raise SystemExit(f"{args.out} holds a collection with {recorded.read_text().strip()}; "
                         f"asked for {json.dumps(settings)}: use another --out")
    if path.is_file() and not recorded.is_file() and args.seed != 0:
        raise SystemExit(f"{args.out} holds labels of seed 0 (collected before seeds were recorded): use another --out")
    recorded.write_text(json.dumps(settings) + "\n")
    done = {(r["kind"], r["arch"]) for r in csv.DictReader(path.open())} if path.is_file() else set()
    floats = [("float", float_point(space, b)) for b in space.base.sample_distinct(args.float_archs,
                                                                                   np.random.default_rng(2 * args.seed))]
    quants = [("quant", a) for a in space.sample_distinct(args.quant_archs, np.random.default_rng(2 * args.seed + 1))]
    # interleaved, so a collection stopped early still holds both kinds
    plan = [item for pair in zip_longest(floats, quants) for item in pair if item is not None]
    evaluators = {"float": TrainingEvaluator(space.base, task, recipe),
                  "quant": TrainingEvaluator(space, task, recipe, qat_epochs=args.qat_epochs)}
    with path.open("a", newline="") as fh:
        writer = csv.writer(fh)
        if not done:
            writer.writerow(COLUMNS)
        for i, (kind, arch) in enumerate(plan):
            if (kind, arch.key) in done:
                continue
            target = space.base_arch(arch) if kind == "float" else arch
            result = evaluators[kind].evaluate(target)
            if result.ok:
                writer.writerow([kind, arch.key, result.metrics["val_accuracy"]])
                fh.flush()
            print(f"{i + 1}/{len(plan)} {kind} {result.status}", flush=True)


def _labels(folder: Path, space: Any, sizes: list[int]) -> tuple[Any, Any, Any, Any]:
    """The float and quantized encodings and labels of one collection."""
    import numpy as np

    rows = list(csv.DictReader((folder / "labels.csv").open()))
    floats = [r for r in rows if r["kind"] == "float"]
    quants = [r for r in rows if r["kind"] == "quant"]
    if len(quants) <= max(sizes) + 5 or len(floats) < 5:
        raise SystemExit(f"{folder}: {len(floats)} float and {len(quants)} quantized labels: need more than "
                         f"{max(sizes) + 5} quantized rows (collect more)")

    def encoded(part: list[dict[str, str]]) -> tuple[Any, Any]:
        return (np.stack([space.encode(space.parse(r["arch"])) for r in part]),
                np.array([float(r["val_accuracy"]) for r in part]))

    return (*encoded(floats), *encoded(quants))


def study(args: argparse.Namespace) -> list[dict[str, Any]]:
    import numpy as np
    import torch

    from nasforge.core.ranking import rank_correlations
    from nasforge.estimate.predictors.transfer import TransferMLP

    torch.set_num_threads(1)
    space = _space(args.space, {})
    out = []
    for folder in args.out:
        x_float, y_float, x_q, y_q = _labels(folder, space, args.sizes)
        print(f"{folder}: {len(y_float)} float and {len(y_q)} quantized labels", flush=True)
        for n in args.sizes:
            for rep in range(args.repeats):
                pick = np.random.default_rng(rep).permutation(len(y_q))
                train, test = pick[:n], pick[n:]
                model = {"members": args.members, "epochs": args.epochs,
                         "finetune_epochs": max(1, args.epochs // 3), "seed": rep}
                transfer = TransferMLP(**model).fit_source(x_float, y_float).fit(x_q[train], y_q[train])
                scratch = TransferMLP(**model).fit(x_q[train], y_q[train])
                out.append({"collection": str(folder), "n": n, "repeat": rep,
                            "transfer": rank_correlations(transfer.predict(x_q[test]), y_q[test])[0],
                            "quant-only": rank_correlations(scratch.predict(x_q[test]), y_q[test])[0]})
    print(f"\nKendall tau on the held-out quantized archs; mean ± sd over {len(args.out)} collection(s) of "
          f"each collection's mean over {args.repeats} repeats")
    print("| quantized samples | transfer | quant-only | per collection (transfer / quant-only) | transfer wins |")
    print("|---|---|---|---|---|")

    for n in args.sizes:
        mine = [r for r in out if r["n"] == n]
        means = {key: [statistics.mean(r[key] for r in mine if r["collection"] == str(c)) for c in args.out]
                 for key in ("transfer", "quant-only")}
        per = ", ".join(f"{t:.3f} / {q:.3f}" for t, q in zip(means["transfer"], means["quant-only"], strict=True))
        wins = sum(r["transfer"] > r["quant-only"] for r in mine)
        print(f"| {n} | {mean_sd(means['transfer'])} | {mean_sd(means['quant-only'])} | {per} | "
              f"{wins} of {len(mine)} |")
    return out


def main(argv: list[str] | None = None) -> list[dict[str, Any]] | None:
    """Run the command of ``argv``; ``study`` returns its rows (one per collection, size and repeat)."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    for name in ("collect", "study"):
        p = sub.add_parser(name)
        p.add_argument("--space", default="conv1d")
        if name == "collect":
            p.add_argument("--out", type=Path, default=ROOT)
            p.add_argument("--task", default="mnist1d")
            p.add_argument("--seed", type=int, default=0, help="architectures, validation split, training")
            p.add_argument("--float-archs", type=int, default=150)
            p.add_argument("--quant-archs", type=int, default=150)
            p.add_argument("--epochs", type=int, default=5)
            p.add_argument("--qat-epochs", type=int, default=1)
            p.add_argument("--data-fraction", type=float, default=1.0)
        else:
            p.add_argument("--out", type=Path, nargs="+", default=[ROOT], help="one folder per collection (seed)")
            p.add_argument("--sizes", type=int, nargs="+", default=[10, 20, 50])
            p.add_argument("--repeats", type=int, default=20)
            p.add_argument("--members", type=int, default=3, help="MLPs per predictor")
            p.add_argument("--epochs", type=int, default=300, help="predictor epochs (fine-tune: a third)")
    args = parser.parse_args(argv)
    if args.command == "collect":
        collect(args)
        return None
    return study(args)


if __name__ == "__main__":
    main()
