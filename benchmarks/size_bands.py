"""The best validation accuracy a search found at each model size (issue 21): how the default
strategy was chosen, evolution against bananas on the default MNIST-1D search.

    python benchmarks/size_bands.py run --strategies evolution bananas --seeds 0 1 --out /tmp/bands
    python benchmarks/size_bands.py report /tmp/bands/*

``run`` runs the default search (``nasforge search``'s task, space, objectives, trials and
trainer) once per strategy and seed with its ``--seed`` and ``--strategy``, without the final
retraining, into ``OUT/STRATEGY-sSEED`` (a finished directory is reused, a partial one resumed).
``report`` reads any run directories (``nasforge.load_run``) and prints, per run, the best
validation accuracy (``--metric``) among its completed trials with at most 3k, 5k and 10k parameters
(``--bands``) and the best overall with its parameter count; a band without a trial shows "-".
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path
from typing import Any

BANDS = (3_000, 5_000, 10_000)


def run(strategies: Sequence[str], seeds: Sequence[int], out: Path, trials: int | None) -> list[Path]:
    """One default search per (strategy, seed) under ``out``; returns their directories."""
    import nasforge
    from nasforge.run.runner import resume_search

    folders = []
    for strategy in strategies:
        for seed in seeds:
            folder = out / f"{strategy}-s{seed}"
            folders.append(folder)
            if (folder / "report.html").is_file():
                print(f"{folder}: finished, reused", flush=True)
                continue
            if (folder / "trials.db").is_file():
                resume_search(folder)
                continue
            extra = {} if trials is None else {"trials": trials}
            nasforge.search(strategy=strategy, seed=seed, run_dir=folder, final_retrain=False, **extra)
    return folders


def bands(folder: Path, limits: Sequence[int] = BANDS, metric: str = "val_accuracy") -> dict[str, Any]:
    """The run's strategy, seed, trial count, best ``metric`` (higher is better) at
    ``params <= limit`` per limit (None where no completed trial is that small) and best overall
    as (value, params)."""
    import nasforge

    view = nasforge.load_run(folder)
    done = [t for t in view.trials if t.status == "complete" and metric in t.metrics and "params" in t.metrics]
    if not done:
        raise SystemExit(f"{folder}: no completed trial with {metric} and params")
    best = max(done, key=lambda t: (t.metrics[metric], -t.metrics["params"]))
    return {"run": str(folder), "strategy": view.config.get("strategy"), "seed": view.config.get("seed"),
            "trials": len(view.trials),
            "bands": {limit: max((t.metrics[metric] for t in done if t.metrics["params"] <= limit),
                                 default=None) for limit in limits},
            "best": (best.metrics[metric], int(best.metrics["params"]))}


def report(folders: Sequence[Path], limits: Sequence[int] = BANDS, metric: str = "val_accuracy") -> list[dict[str, Any]]:
    """Print the table of :func:`bands` for ``folders`` (sorted by strategy and seed); return the rows."""
    rows = sorted((bands(f, limits, metric) for f in folders), key=lambda r: (str(r["strategy"]), r["seed"] or 0))
    heads = [f"≤ {limit / 1000:g}k params" for limit in limits]
    print("| strategy | seed | trials | " + " | ".join(heads) + " | best overall (params) |")
    print("|---" * (4 + len(limits)) + "|")
    for r in rows:
        cells = ["-" if v is None else f"{v:.3f}" for v in r["bands"].values()]
        acc, params = r["best"]
        print(f"| {r['strategy']} | {r['seed']} | {r['trials']} | " + " | ".join(cells) + f" | {acc:.3f} ({params:,}) |")
    return rows


def main(argv: Sequence[str] | None = None) -> list[dict[str, Any]] | list[Path]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("run", help="the default search per strategy and seed")
    p.add_argument("--strategies", nargs="+", default=["evolution", "bananas"])
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    p.add_argument("--trials", type=int, help="trials per search (default: the default search's)")
    p.add_argument("--out", type=Path, required=True)
    r = sub.add_parser("report", help="the size-band table of run directories")
    r.add_argument("runs", type=Path, nargs="+")
    r.add_argument("--bands", type=int, nargs="+", default=list(BANDS), help="parameter limits")
    r.add_argument("--metric", default="val_accuracy", help="the accuracy column of the trials (higher is better)")
    args = parser.parse_args(argv)
    if args.command == "run":
        folders = run(args.strategies, args.seeds, args.out, args.trials)
        return report(folders)
    missing = [str(f) for f in args.runs if not (f / "trials.db").is_file()]
    if missing:
        parser.error(f"not run directories (no trials.db): {', '.join(missing)}")
    return report(args.runs, args.bands, args.metric)


if __name__ == "__main__":
    main()
