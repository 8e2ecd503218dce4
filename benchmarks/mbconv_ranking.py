"""The supernet ranking study on mbconv (issue 23), whose truth no table holds: stand-alone
training of the same random subnets, briefly (numbers in docs/benchmarks.md).

    python benchmarks/mbconv_ranking.py truth --archs 30             # train each subnet alone
    python benchmarks/mbconv_ranking.py supernet --seeds 0 1 2       # train supernets, rank the same archs
    python benchmarks/mbconv_ranking.py report                       # correlations, markdown

Task: ``TASK``, the CIFAR-10 subset at 16x16 pixels. ``truth`` is one ``nasforge.search`` run directory (``runs/mbconv-ranking/truth``) of the ``given``
strategy over ``--archs`` archs drawn by ``mbconv.sample_distinct(n, ARCH_SEED)``, each trained
with the ``train`` evaluator (``TRUTH`` settings) and scored on the validation split.
``supernet`` runs the ``--method`` one-shot method (``SUPERNET`` settings) per seed
(``supernet/<method>/seed<k>``) with ``rank_archs = n`` and ``rank_seed = ARCH_SEED``: every run
scores exactly the truth's archs with inherited weights (``ranking.csv``). ``report`` joins the
two: Kendall/Spearman, top-10% / top-5 precision and Kendall within the true top 10% of the
supernet, of FLOPs, of params and of supernet+FLOPs against the stand-alone accuracy
(:mod:`nasforge.oneshot.ranking`), per seed and as mean ± sd. Finished runs are skipped and
interrupted ones resumed, so each step can be run again to complete it.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path
from typing import Any

from nasforge.bench.summary import mean_sd

ROOT = Path("runs/mbconv-ranking")
ARCH_SEED = 0
#: the CIFAR-10 subset pooled to 16x16 pixels (mbconv at 32 pixels costs 4x the CPU)
TASK = "cifar10-subset:16"
#: the stand-alone training of each subnet ("briefly": 2 shared CPU cores); else the train evaluator's defaults
TRUTH = {"epochs": 3, "threads": 1}
#: the supernet: the same data, OFA/BigNAS's sandwich rule by default
SUPERNET = {"epochs": 3, "eval_images": 500, "calib_batches": 2, "threads": 1, "search_trials": 1}


def truth_archs(n: int) -> list[str]:
    from nasforge.space.registry import get_space

    return [a.key for a in get_space("mbconv").sample_distinct(n, ARCH_SEED)]


def run_truth(root: Path, n: int, overrides: dict[str, Any]) -> None:
    import nasforge
    from nasforge.run.runner import resume_search

    out = root / "truth"
    if (out / "report.html").is_file():
        return
    if (out / "trials.db").is_file():
        resume_search(out)
        return
    nasforge.search(TASK, "mbconv", "given", strategy_settings={"archs": truth_archs(n)}, evaluator="train",
                    evaluator_settings={**TRUTH, **overrides}, trials=n, run_dir=out, final_retrain=False)


def run_supernets(root: Path, method: str, seeds: list[int], n: int, overrides: dict[str, Any]) -> None:
    import nasforge
    from nasforge.run.runner import resume_search

    for seed in seeds:
        out = root / "supernet" / method / f"seed{seed}"
        if (out / "report.html").is_file():
            continue
        if (out / "trials.db").is_file():
            resume_search(out)
            continue
        settings = {**SUPERNET, **overrides, "rank_archs": n, "rank_seed": ARCH_SEED}
        nasforge.search(TASK, "mbconv", method, strategy_settings=settings, seed=seed, trials=1, run_dir=out,
                        final_retrain=False)


def truth(root: Path, metric: str = "val_accuracy") -> dict[str, float]:
    """``metric`` of each finished truth trial (stand-alone validation accuracy by default; the
    train evaluator also records ``params``, ``flops`` and ``train_seconds``), by arch key."""
    from nasforge.experiment.run_dir import DB
    from nasforge.experiment.storage import Storage
    from nasforge.space.registry import get_space

    storage = Storage(root / "truth" / DB)
    try:
        trials = storage.trials(get_space("mbconv").parse)
    finally:
        storage.close()
    return {t.arch.key: float(t.metrics[metric]) for t in trials
            if t.status == "complete" and metric in t.metrics}


def study(run: Path, known: dict[str, float], params: dict[str, float]) -> list[dict[str, Any]]:
    """Correlation rows of one supernet run's ``ranking.csv`` against ``known`` (the supernet's
    scores raw, smoothed by the ``ridge`` predictor and pooled, alone and with FLOPs), plus a row for
    ``params`` (each arch's parameter count, as the truth's trials recorded it)."""
    import numpy as np

    from nasforge.oneshot.ranking import correlation_row, study_correlations
    from nasforge.run.oneshot import read_ranking
    from nasforge.space.registry import get_space

    space = get_space("mbconv")
    ranked = read_ranking(run / "ranking.csv", space, known)
    out = [r for r in study_correlations(ranked, space) if r["target"] == "true_accuracy"]
    sizes = np.array([params[r.arch.key] for r in ranked], dtype=float)
    out.append(correlation_row("params", sizes, "true_accuracy", np.array([r.true_accuracy for r in ranked])))
    return out


def _settings(config: Path, *keys: str) -> dict[str, Any]:
    """The settings under ``keys`` of a run's ``config.yaml``."""
    import yaml

    node = yaml.safe_load(config.read_text())
    for key in keys:
        node = node[key]
    return node


def report(root: Path) -> None:
    known = truth(root)
    recipe = _settings(root / "truth" / "config.yaml", "evaluator", "settings") if known else {}
    recipe = {k: recipe[k] for k in ("epochs", "batch_size", "lr", "optimizer", "data_fraction") if k in recipe}
    if known:
        values, seconds = list(known.values()), list(truth(root, "train_seconds").values())
        print(f"truth: {len(known)} subnets trained alone ({json.dumps(recipe)}), validation accuracy "
              f"{min(values):.3f} to {max(values):.3f} (mean {mean_sd(values)}), {statistics.mean(seconds):.0f} s "
              "of training per subnet\n")
    else:
        print("truth: none finished\n")
    params = truth(root, "params")
    cells: dict[tuple[str, str], dict[str, list[float]]] = {}
    for run in sorted((root / "supernet").glob("*/seed*")):
        if not (run / "ranking.csv").is_file() or not known:
            continue
        epochs = _settings(run / "config.yaml", "strategy_settings").get("epochs")
        rows = study(run, known, params)
        print(f"{run.parent.name} {run.name}: {epochs} epochs, {_train_seconds(run):.0f} s of supernet training, "
              f"supernet τ {rows[0]['kendall']:.3f}, supernet+FLOPs τ {rows[2]['kendall']:.3f}")
        for row in rows:
            cell = cells.setdefault((run.parent.name, row["predictor"]), {})
            for key in ("kendall", "spearman", "precision_top10pct", "precision_top5", "kendall_top10pct", "n"):
                cell.setdefault(key, []).append(float(row[key]))
    print("| supernet method | predictor | seeds | Kendall τ | Spearman ρ | top-10% precision | top-5 precision | "
          "τ in true top 10% | archs |\n|---|---|---|---|---|---|---|---|---|")
    for (method, predictor), c in cells.items():
        stats = [mean_sd(c[k]) for k in ("kendall", "spearman", "precision_top10pct", "precision_top5",
                                          "kendall_top10pct")]
        print(f"| {method} | {predictor} | {len(c['kendall'])} | " + " | ".join(stats) + f" | {int(min(c['n']))} |")


def _train_seconds(run: Path) -> float:
    """Supernet training seconds of a run: its last epoch's (they count from the start of training)."""
    from nasforge.experiment.run_dir import DB
    from nasforge.experiment.storage import Storage

    storage = Storage(run / DB)
    try:
        epochs = storage.epochs()
    finally:
        storage.close()
    return float(epochs[-1]["seconds"]) if epochs else float("nan")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("step", choices=["truth", "supernet", "report"])
    parser.add_argument("--archs", type=int, default=30, help="subnets trained alone and ranked")
    parser.add_argument("--method", default="sandwich", help="supernet: the one-shot method")
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--root", type=Path, default=ROOT)
    parser.add_argument("--set", nargs="*", default=[], metavar="NAME=VALUE",
                        help="override a TRUTH (truth) or SUPERNET (supernet) setting")
    args = parser.parse_args(argv)
    overrides = {k: json.loads(v) for k, v in (item.split("=", 1) for item in args.set)}
    if args.step == "truth":
        run_truth(args.root, args.archs, overrides)
    elif args.step == "supernet":
        run_supernets(args.root, args.method, args.seeds, args.archs, overrides)
    else:
        report(args.root)


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    main()
