"""Benchmarks of issue 7: weight sharing and differentiable NAS (numbers in docs/benchmarks.md).

    python benchmarks/oneshot.py nb201 --methods darts gdas pcdarts spos random-ws --seeds 0 1 2
    python benchmarks/oneshot.py macro --variants spos sandwich --seeds 0 1 2
    python benchmarks/oneshot.py memory
    python benchmarks/oneshot.py report          # markdown tables from runs/oneshot

Every run writes to ``runs/oneshot/<study>/<name>/seed<k>`` and is skipped when its result
file exists, so an interrupted sweep resumes. The settings are deliberately small (2 shared CPU
cores): see ``NB201_SETTINGS``, ``MACRO_SETTINGS`` and the space constructors below; the
derived NB201 archs and the ranked macro archs are scored with the benchmarks' true accuracies
of the full-size networks.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path

ROOT = Path("runs/oneshot")
NB201_SPACE = {"channels": 8, "cells": 1}
NB201_SETTINGS = {"epochs": 10, "batch_size": 64, "data_fraction": 0.5, "lr": 0.05, "arch_lr": 6e-3,
                  "search_trials": 100, "calib_batches": 4, "threads": 1}
MACRO_SPACE = {"stem": 8, "head": 128}
MACRO_SETTINGS = {"epochs": 6, "batch_size": 64, "lr": 0.05, "eval_images": 500, "calib_batches": 2,
                  "threads": 1}
#: macro variants: (settings overrides, BN modes scored); "How to Train Your Super-Net" axes.
VARIANTS = {
    "spos": ({"sampling": "uniform"}, ["recalibrate", "train", "running"]),
    "sandwich": ({"sampling": "sandwich", "num_random": 2, "distill": True}, ["recalibrate"]),
    "spos-affine-off": ({"sampling": "uniform", "bn_affine": False}, ["recalibrate"]),
    "spos-lr0.2": ({"sampling": "uniform", "lr": 0.2}, ["recalibrate"]),
    "spos-2epochs": ({"sampling": "uniform", "epochs": 2}, ["recalibrate"]),
}


def _task(seed: int):
    from nasforge.task import load_task

    return load_task("cifar10", seed=seed)


def run_nb201(methods: list[str], seeds: list[int], root: Path) -> None:
    from nasforge.oneshot.base import OneShotSettings
    from nasforge.oneshot.runs import method_run
    from nasforge.space.registry import get_space

    for seed in seeds:
        for method in methods:
            out = root / "nb201" / method / f"seed{seed}"
            if (out / "result.json").exists():
                continue
            settings = OneShotSettings(**{**NB201_SETTINGS, "seed": seed})
            summary = method_run(method, get_space("nb201", **NB201_SPACE), _task(seed), settings, out)
            print(f"nb201 {method} seed {seed}: {summary['arch']} true {summary['true_accuracy']} "
                  f"({summary['search_seconds']:.0f} s)", flush=True)


def run_macro(variants: list[str], seeds: list[int], root: Path, archs: int) -> None:
    from nasforge.oneshot.base import OneShotSettings
    from nasforge.oneshot.runs import supernet_ranking
    from nasforge.space.registry import get_space

    for seed in seeds:
        for name in variants:
            out = root / "macro" / name / f"seed{seed}"
            if (out / "summary.json").exists():
                continue
            overrides, modes = VARIANTS[name]
            settings = OneShotSettings(**{**MACRO_SETTINGS, **overrides, "seed": seed})
            summary = supernet_ranking(get_space("macro", **MACRO_SPACE), _task(seed), settings, archs, out,
                                       modes, save=False)
            first = summary["correlations"][0]
            print(f"macro {name} seed {seed}: kendall {first['kendall']:.3f} ({summary['train_seconds']:.0f} s)",
                  flush=True)


def run_memory(root: Path, batch: int = 64) -> None:
    """Peak memory of one training step (forward + backward) at the same batch, per supernet."""
    import torch
    import torch.nn.functional as F

    from nasforge.hardware.metrics import TaskShape
    from nasforge.oneshot.macro import MacroSupernet
    from nasforge.oneshot.memory import peak_step_bytes
    from nasforge.oneshot.nb201 import NB201Supernet
    from nasforge.space.registry import get_space

    torch.set_num_threads(1)
    torch.manual_seed(0)
    shape = TaskShape((3, 32, 32), 10)
    x, y = torch.randn(batch, 3, 32, 32), torch.randint(0, 10, (batch,))
    nb201 = get_space("nb201", channels=16, cells=5)
    macro = get_space("macro")
    nets = {"DARTS (nb201 16ch x 5 cells, softmax over 5 ops)": NB201Supernet(nb201, shape),
            "PC-DARTS K=4 (same skeleton)": NB201Supernet(nb201, shape, partial=4, edge_norm=True),
            "GDAS (same skeleton, one sampled op per edge)": NB201Supernet(nb201, shape),
            "TangleNAS entangled (NAS-Bench-Macro full size, weight mixing)": MacroSupernet(macro, shape),
            "SPOS single path (NAS-Bench-Macro full size, largest path)": MacroSupernet(macro, shape)}
    nets["GDAS (same skeleton, one sampled op per edge)"].mode = "gumbel"
    largest = macro.arch({c.name: 2 for c in macro.choices})
    rows = []
    for name, net in nets.items():
        net.train()
        arch = largest if name.startswith("SPOS") else None

        def step(net=net, arch=arch) -> None:
            net.zero_grad(set_to_none=True)
            F.cross_entropy(net(x, arch), y).backward()

        step()  # warm-up (allocator, lazy init)
        peaks = [peak_step_bytes(step) for _ in range(3)]
        rows.append({"step": name, "batch": batch, "peak_mib": max(peaks) / 2**20})
        print(f"{name}: {max(peaks) / 2**20:.1f} MiB", flush=True)
    (root / "memory.json").parent.mkdir(parents=True, exist_ok=True)
    (root / "memory.json").write_text(json.dumps(rows, indent=1))


def _mean_sd(values: list[float]) -> str:
    if not values:
        return "-"
    if len(values) == 1:
        return f"{values[0]:.3f}"
    return f"{statistics.mean(values):.3f} ± {statistics.stdev(values):.3f}"


def report(root: Path) -> None:
    """Markdown tables of every finished run under ``root``."""
    free = {"none", "skip_connect", "avg_pool_3x3"}
    print("| method | seed | search s | derived architecture | true CIFAR-10 acc | param-free edges | "
          "param-free prob. (last epoch) |\n|---|---|---|---|---|---|---|")
    for path in sorted((root / "nb201").glob("*/seed*/result.json")):
        r = json.loads(path.read_text())
        ops = [part.split("~")[0] for part in r["arch"].split(":", 1)[1].replace("+", "").split("|") if part]
        last = r["trajectory"][-1]["arch_weights"] if r["trajectory"] else {}
        mass = (statistics.mean(sum(p[i] for i in (0, 1, 4)) for p in last.values()) if last else float("nan"))
        print(f"| {r['method']} | {path.parent.name[4:]} | {r['search_seconds']:.0f} | `{r['arch'].split(':', 1)[1]}` | "
              f"{r['true_accuracy']:.2f} | {sum(op in free for op in ops)}/6 | "
              f"{'-' if mass != mass else f'{mass:.2f}'} |")
    print()
    table: dict[tuple[str, str, str], list[float]] = {}
    for path in sorted((root / "macro").glob("*/seed*/summary.json")):
        s = json.loads(path.read_text())
        for row in s["correlations"]:
            for metric in ("kendall", "spearman"):
                key = (path.parent.parent.name, f"{row['predictor']} vs {row['target']} [{row['bn_mode']}]", metric)
                table.setdefault(key, []).append(float(row["kendall" if metric == "kendall" else "spearman"]))
        table.setdefault((path.parent.parent.name, "train seconds", "kendall"), []).append(s["train_seconds"])
    print("| variant | predictor | Kendall τ | Spearman ρ | seeds |\n|---|---|---|---|---|")
    for (variant, predictor, metric), values in table.items():
        if metric != "kendall":
            continue
        rho = table.get((variant, predictor, "spearman"), [])
        print(f"| {variant} | {predictor} | {_mean_sd(values)} | {_mean_sd(rho)} | {len(values)} |")
    memory = root / "memory.json"
    if memory.exists():
        print("\n| training step | batch | peak MiB |\n|---|---|---|")
        for row in json.loads(memory.read_text()):
            print(f"| {row['step']} | {row['batch']} | {row['peak_mib']:.1f} |")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("study", choices=["nb201", "macro", "memory", "report"])
    parser.add_argument("--methods", nargs="+", default=["darts", "gdas", "pcdarts", "spos", "random-ws"])
    parser.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=list(VARIANTS))
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--archs", type=int, default=200)
    parser.add_argument("--root", type=Path, default=ROOT)
    args = parser.parse_args(argv)
    if args.study == "nb201":
        run_nb201(args.methods, args.seeds, args.root)
    elif args.study == "macro":
        run_macro(args.variants, args.seeds, args.root, args.archs)
    elif args.study == "memory":
        run_memory(args.root)
    else:
        report(args.root)


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    main()
