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
NB201_SETTINGS = {"epochs": 10, "batch_size": 64, "data_fraction": 0.25, "lr": 0.05, "arch_lr": 1e-2,
                  "search_trials": 60, "calib_batches": 2, "eval_images": 500, "threads": 1}
MACRO_SPACE = {"stem": 8, "head": 128}
MACRO_SETTINGS = {"epochs": 4, "batch_size": 64, "lr": 0.05, "eval_images": 250, "calib_batches": 1,
                  "threads": 1}
#: macro variants: (settings overrides, BN modes scored); "How to Train Your Super-Net" axes.
VARIANTS = {
    "spos": ({"sampling": "uniform"}, ["recalibrate", "train", "running"]),
    "sandwich": ({"sampling": "sandwich", "num_random": 2, "distill": True}, ["recalibrate"]),
    "spos-affine-off": ({"sampling": "uniform", "bn_affine": False}, ["recalibrate"]),
    "spos-lr0.2": ({"sampling": "uniform", "lr": 0.2}, ["recalibrate"]),
    "spos-2epochs": ({"sampling": "uniform", "epochs": 2}, ["recalibrate"]),
    # sandwich runs 4 paths per step: SPOS with 4x the epochs has the same training compute
    "spos-16epochs": ({"sampling": "uniform", "epochs": 16}, ["recalibrate"]),
}


def _claim(out: Path, result: str) -> bool:
    """Whether this process should run ``out`` (not done, not claimed by a parallel sweep)."""
    if (out / result).exists() or (out / "claimed").exists():
        return False
    out.mkdir(parents=True, exist_ok=True)
    (out / "claimed").touch()
    return True


def _task(seed: int):
    from nasforge.task import load_task

    return load_task("cifar10", seed=seed)


def run_nb201(methods: list[str], seeds: list[int], root: Path, overrides: dict | None = None,
              tag: str = "") -> None:
    from nasforge.oneshot.base import OneShotSettings
    from nasforge.run.oneshot import method_run
    from nasforge.space.registry import get_space

    for seed in seeds:
        for method in methods:
            out = root / "nb201" / f"{method}{tag}" / f"seed{seed}"
            if not _claim(out, "result.json"):
                continue
            settings = OneShotSettings(**{**NB201_SETTINGS, **(overrides or {}), "seed": seed})
            summary = method_run(method, get_space("nb201", **NB201_SPACE), _task(seed), settings, out)
            print(f"nb201 {method} seed {seed}: {summary['arch']} true {summary['true_accuracy']} "
                  f"({summary['search_seconds']:.0f} s)", flush=True)


def run_macro(variants: list[str], seeds: list[int], root: Path, archs: int) -> None:
    from nasforge.oneshot.base import OneShotSettings
    from nasforge.run.oneshot import supernet_ranking
    from nasforge.space.registry import get_space

    for seed in seeds:
        for name in variants:
            out = root / "macro" / name / f"seed{seed}"
            if not _claim(out, "summary.json"):
                continue
            overrides, modes = VARIANTS[name]
            settings = OneShotSettings(**{**MACRO_SETTINGS, **overrides, "seed": seed})
            summary = supernet_ranking(get_space("macro", **MACRO_SPACE), _task(seed), settings, archs, out,
                                       modes, save=False)
            first = summary["correlations"][0]
            print(f"macro {name} seed {seed}: kendall {first['kendall']:.3f} ({summary['train_seconds']:.0f} s)",
                  flush=True)


def run_memory(root: Path, batch: int = 32) -> None:
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
    nb201, macro = get_space("nb201", channels=16, cells=5), get_space("macro")
    largest = macro.arch({c.name: 2 for c in macro.choices})
    cases = {  # name: (supernet, NB201 mode or macro mix, arch)
        "DARTS: nb201 full skeleton (16 ch, 5 cells/stage), softmax over 5 ops": (NB201Supernet(nb201, shape), "softmax", None),
        "PC-DARTS K=4: same skeleton": (NB201Supernet(nb201, shape, partial=4, edge_norm=True), "softmax", None),
        "GDAS: same skeleton, one sampled op per edge": (NB201Supernet(nb201, shape), "gumbel", None),
        "DARTS-style output mixing: NAS-Bench-Macro full size": (MacroSupernet(macro, shape), "outputs", None),
        "TangleNAS entangled weight mixing: NAS-Bench-Macro full size": (MacroSupernet(macro, shape), "weights", None),
        "SPOS single path (largest arch): NAS-Bench-Macro full size": (MacroSupernet(macro, shape), "weights", largest),
    }
    rows = []
    for name, (net, mode, arch) in cases.items():
        net.train()
        if isinstance(net, NB201Supernet):
            net.mode = mode
        else:
            net.mix = mode

        def step(net=net, arch=arch) -> None:
            net.zero_grad(set_to_none=True)
            F.cross_entropy(net(x, arch), y).backward()

        step()  # warm-up (allocator, lazy initialisation)
        peak = peak_step_bytes(step)
        rows.append({"step": name, "batch": batch, "peak_mib": peak / 2**20})
        print(f"{name}: {peak / 2**20:.1f} MiB", flush=True)
    (root / "memory.json").parent.mkdir(parents=True, exist_ok=True)
    (root / "memory.json").write_text(json.dumps(rows, indent=1))


def _mean_sd(values: list[float]) -> str:
    if not values:
        return "-"
    if len(values) == 1:
        return f"{values[0]:.3f}"
    return f"{statistics.mean(values):.3f} ± {statistics.stdev(values):.3f}"


def _free_mass(weights: dict) -> float:
    """Mean probability of the parameter-free ops (none, skip_connect, avg_pool_3x3) per edge."""
    return statistics.mean(p[0] + p[1] + p[4] for p in weights.values()) if weights else float("nan")


def report(root: Path) -> None:
    """Markdown tables of every finished run under ``root``."""
    free = {"none", "skip_connect", "avg_pool_3x3"}
    runs: dict[str, list[dict]] = {}
    print("| method | seed | search s | derived architecture | true CIFAR-10 acc | param-free edges | "
          "param-free prob. epoch 1 -> last |\n|---|---|---|---|---|---|---|")
    for path in sorted((root / "nb201").glob("*/seed*/result.json")):
        r = json.loads(path.read_text())
        r["method"] = path.parent.parent.name  # the run folder: method plus any --tag
        runs.setdefault(r["method"], []).append(r)
        ops = [part.split("~")[0] for part in r["arch"].split(":", 1)[1].replace("+", "").split("|") if part]
        r["free_edges"] = sum(op in free for op in ops)
        traj = [t for t in r["trajectory"] if t["arch_weights"]]
        mass = f"{_free_mass(traj[0]['arch_weights']):.2f} -> {_free_mass(traj[-1]['arch_weights']):.2f}" if traj else "-"
        print(f"| {r['method']} | {path.parent.name[4:]} | {r['search_seconds']:.0f} | `{r['arch'].split(':', 1)[1]}` | "
              f"{r['true_accuracy']:.2f} | {r['free_edges']}/6 | {mass} |")
    print("\n| method | seeds | true CIFAR-10 acc (mean ± sd) | search s (mean) | param-free edges (mean) |"
          "\n|---|---|---|---|---|")
    for method, rs in runs.items():
        print(f"| {method} | {len(rs)} | {_mean_sd([r['true_accuracy'] for r in rs])} | "
              f"{statistics.mean(r['search_seconds'] for r in rs):.0f} | "
              f"{statistics.mean(r['free_edges'] for r in rs):.1f} |")
    print()
    stats: dict[tuple[str, str], dict[str, list[float]]] = {}
    for path in sorted((root / "macro").glob("*/seed*/summary.json")):
        s = json.loads(path.read_text())
        for row in s["correlations"]:
            cell = stats.setdefault((path.parent.parent.name, row["bn_mode"]), {"train_s": []})
            name = f"{row['predictor']}~{row['target']}"
            cell.setdefault(f"{name}:k", []).append(float(row["kendall"]))
            cell.setdefault(f"{name}:s", []).append(float(row["spearman"]))
        for mode in s["rank_seconds"]:
            stats[(path.parent.parent.name, mode)]["train_s"].append(s["train_seconds"])
    flops_k = [k for c in stats.values() for k in c.get("flops~true_accuracy:k", [])]
    flops_s = [v for c in stats.values() for v in c.get("flops~true_accuracy:s", [])]
    print(f"FLOPs alone on the same archs (every run's 200): Kendall {_mean_sd(flops_k)}, "
          f"Spearman {_mean_sd(flops_s)}\n")
    print("| variant | BN mode | seeds | supernet τ | supernet ρ | supernet+FLOPs τ | supernet+FLOPs ρ | "
          "supernet vs FLOPs τ | train s |\n|---|---|---|---|---|---|---|---|---|")
    for (variant, mode), c in stats.items():
        print(f"| {variant} | {mode} | {len(c['train_s'])} | {_mean_sd(c['supernet~true_accuracy:k'])} | "
              f"{_mean_sd(c['supernet~true_accuracy:s'])} | {_mean_sd(c['supernet+flops~true_accuracy:k'])} | "
              f"{_mean_sd(c['supernet+flops~true_accuracy:s'])} | {_mean_sd(c['supernet~flops:k'])} | "
              f"{statistics.mean(c['train_s']):.0f} |")
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
    parser.add_argument("--set", nargs="*", default=[], metavar="NAME=VALUE",
                        help="nb201: override a setting (e.g. epochs=40); the run folder gets --tag")
    parser.add_argument("--tag", default="", help="suffix of the nb201 run folders, e.g. -40ep")
    args = parser.parse_args(argv)
    if args.study == "nb201":
        overrides = {k: json.loads(v) for k, v in (item.split("=", 1) for item in args.set)}
        run_nb201(args.methods, args.seeds, args.root, overrides, args.tag)
    elif args.study == "macro":
        run_macro(args.variants, args.seeds, args.root, args.archs)
    elif args.study == "memory":
        run_memory(args.root)
    else:
        report(args.root)


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    main()
