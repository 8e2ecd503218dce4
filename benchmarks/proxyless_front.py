"""ProxylessNAS on mbconv at several latency weights (issue 23): derived archs, their measured
latency and trained accuracy, and the front they form (numbers in docs/benchmarks.md).

    python benchmarks/proxyless_front.py run --weights 0 0.5 2 --seeds 0 1 2
    python benchmarks/proxyless_front.py run --task cifar10-subset:16 --weights 0 2 --root runs/proxyless16 \
        --set epochs=5 data_fraction=0.5 --final-epochs 5        # the CPU budget of docs/benchmarks.md
    python benchmarks/proxyless_front.py report          # a markdown table from runs/proxyless

Every run is a ``nasforge.search`` run directory (``runs/proxyless/w<weight>/seed<k>``) of the
``proxyless`` strategy on ``mbconv`` / ``--task`` (default CIFAR-10) with the final retraining of the derived arch
(``best/summary.json``: test accuracy, params); all runs share one latency table
(``runs/proxyless/lut.json``), so their latency terms use one measurement. A finished run (one
with ``report.html``) is skipped, an interrupted one resumed. After the runs, each distinct
derived arch's latency is measured (PyTorch, batch 1, one thread, CPU clock) into
``runs/proxyless/latency.json``; the report prints, per run, the latency weight, the derived
arch, the table's estimate, the measured latency, test accuracy and params, and marks the
runs on the accuracy-latency front.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

ROOT = Path("runs/proxyless")
SETTINGS = {"epochs": 10, "batch_size": 64, "data_fraction": 0.25, "lr": 0.05, "arch_lr": 1e-2, "threads": 1}
FINAL_EPOCHS = 10


def _out(root: Path, weight: float, seed: int) -> Path:
    return root / f"w{weight:g}" / f"seed{seed}"


def run(weights: list[float], seeds: list[int], root: Path, overrides: dict[str, Any], final_epochs: int,
        task: str = "cifar10") -> None:
    import nasforge
    from nasforge.run.runner import resume_search

    for seed in seeds:
        for weight in weights:
            out = _out(root, weight, seed)
            if (out / "report.html").is_file():
                continue
            settings = {**SETTINGS, **overrides, "latency_weight": weight,
                        "latency_table": str((root / "lut.json").resolve())}
            if (out / "trials.db").is_file():
                resume_search(out)
            else:
                nasforge.search(task, "mbconv", "proxyless", strategy_settings=settings, seed=seed, trials=1,
                                run_dir=out, evaluator_settings={"final_epochs": final_epochs})
            summary = json.loads((out / "best" / "summary.json").read_text())
            print(f"w={weight:g} seed {seed}: {summary['arch']} test acc {summary['test_accuracy']:.4f}", flush=True)
    measure(root, task)


def _records(root: Path) -> list[dict[str, Any]]:
    from nasforge.experiment.run_dir import DB
    from nasforge.experiment.storage import Storage

    rows = []
    for path in sorted(root.glob("w*/seed*")):
        summary_path = path / "best" / "summary.json"
        if not summary_path.is_file():
            continue
        storage = Storage(path / DB)
        try:
            oneshot = storage.get_meta("oneshot")
        finally:
            storage.close()
        summary = json.loads(summary_path.read_text())
        rows.append({"weight": float(path.parent.name[1:]), "seed": int(path.name[4:]), "arch": summary["arch"],
                     "table_ms": (oneshot.get("info") or {}).get("latency_model_ms"),
                     "test_accuracy": summary["test_accuracy"], "params": summary["params"],
                     "search_seconds": oneshot["search_seconds"]})
    return rows


def measure(root: Path, task: str = "cifar10") -> dict[str, float]:
    """Measured latency (ms, median) of every derived arch not measured yet, at ``task``'s input size."""
    from nasforge.hardware.latency import LatencySettings, measure_latency
    from nasforge.space.registry import get_space
    from nasforge.task import load_task

    path = root / "latency.json"
    known: dict[str, float] = json.loads(path.read_text()) if path.is_file() else {}
    task = load_task(task)
    space = get_space("mbconv")
    settings = LatencySettings(warmup=10, repeats=50, clock="cpu")
    for row in _records(root):
        if row["arch"] not in known:
            net = space.build(space.parse(row["arch"]), task)
            known[row["arch"]] = float(measure_latency(net, tuple(task.input_shape), settings).median_ms)
    path.write_text(json.dumps(known, indent=1, sort_keys=True))
    return known


def report(root: Path, task: str = "cifar10") -> None:
    import numpy as np

    from nasforge.core.pareto import non_dominated

    measured = measure(root, task)
    rows = sorted(_records(root), key=lambda r: (r["weight"], r["seed"]))
    losses = np.array([(-r["test_accuracy"], measured[r["arch"]]) for r in rows]).reshape(-1, 2)
    front = {int(i) for i in non_dominated(losses)}
    print("| latency weight | seed | derived arch | table ms | measured ms | test acc | params | search s | front |\n"
          "|---|---|---|---|---|---|---|---|---|")
    for i, r in enumerate(rows):
        table = "-" if r["table_ms"] is None else f"{r['table_ms']:.2f}"
        print(f"| {r['weight']:g} | {r['seed']} | `{r['arch'].split(':', 1)[1]}` | {table} | "
              f"{measured[r['arch']]:.2f} | {r['test_accuracy']:.4f} | {r['params']:,} | {r['search_seconds']:.0f} | "
              f"{'yes' if i in front else ''} |")
    print("\n| latency weight | runs | measured ms (mean) | test acc (mean) | params (mean) |\n|---|---|---|---|---|")
    for weight in sorted({r["weight"] for r in rows}):
        rs = [r for r in rows if r["weight"] == weight]
        print(f"| {weight:g} | {len(rs)} | {np.mean([measured[r['arch']] for r in rs]):.2f} | "
              f"{np.mean([r['test_accuracy'] for r in rs]):.4f} | {np.mean([r['params'] for r in rs]):,.0f} |")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("study", choices=["run", "report"])
    parser.add_argument("--weights", nargs="+", type=float, default=[0.0, 0.5, 2.0])
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--final-epochs", type=int, default=FINAL_EPOCHS)
    parser.add_argument("--root", type=Path, default=ROOT)
    parser.add_argument("--task", default="cifar10", help="the task (e.g. cifar10-subset:16, 16x16 pixels)")
    parser.add_argument("--set", nargs="*", default=[], metavar="NAME=VALUE",
                        help="override a one-shot setting (e.g. epochs=20)")
    args = parser.parse_args(argv)
    if args.study == "run":
        overrides = {k: json.loads(v) for k, v in (item.split("=", 1) for item in args.set)}
        run(args.weights, args.seeds, args.root, overrides, args.final_epochs, args.task)
    else:
        report(args.root, args.task)


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    main()
