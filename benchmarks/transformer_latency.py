"""Latency predictor on the transformer spaces (``vit``, ``gpt``) against measured latency.

For each space: ``latency_study`` on ``--train + --test`` distinct archs (seed 0), measured in
interleaved rounds; the held-out archs are measured a second time, and that repeat is scored
like an estimator (the measurement's own run-to-run noise). ``vit`` runs on CIFAR-10-sized
images (3x32x32, 10 classes) and also has the block table (``lut``, ``lut_linear``); ``gpt``
runs on the ``stdlib`` task's token windows (its context length and vocabulary; int64 token
ids), where the predictor works from the built network's FLOPs, parameters and layers. Writes
``OUT/<space>/{measurements,accuracy}.csv`` and ``OUT/summary.md`` (the table in
docs/benchmarks.md). The issue's bar: at least 95 % of held-out archs within +-10 % of
measured, Kendall tau at least 0.9.

    nice -n 15 python benchmarks/transformer_latency.py --out bench-out/transformer-latency --statistic min
"""

from __future__ import annotations

import argparse
import os
import platform
import time
from pathlib import Path

import numpy as np

from nasforge.hardware import LatencySettings, latency_study, write_study
from nasforge.space import get_space


def shape_of(space: str, gpt_task: str) -> tuple[tuple[int, ...], int]:
    """Input shape and class count (vocabulary for ``gpt``) the space is measured at."""
    if space != "gpt":
        return (3, 32, 32), 10
    from nasforge.task import load_task

    task = load_task(gpt_task)
    return tuple(int(s) for s in task.input_shape), int(task.num_classes)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("bench-out/transformer-latency"))
    parser.add_argument("--spaces", nargs="+", default=["vit", "gpt"])
    parser.add_argument("--train", type=int, default=60, help="archs to fit on")
    parser.add_argument("--test", type=int, default=40, help="held-out archs (each measured twice)")
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--repeats", type=int, default=60)
    parser.add_argument("--batch-size", type=int, default=1)
    parser.add_argument("--clock", default="cpu", choices=["wall", "cpu"])
    parser.add_argument("--backend", default="torch", choices=["torch", "onnx"])
    parser.add_argument("--gpt-task", default="stdlib", help="the task whose context and vocabulary gpt uses")
    parser.add_argument("--statistic", default="median", choices=["median", "min"],
                        help="of each arch's pooled runs (min: steadier on a loaded machine)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    import torch

    torch.set_num_threads(1)
    settings = LatencySettings(backend=args.backend, clock=args.clock, repeats=args.repeats,
                               batch_size=args.batch_size)
    samples = args.train + args.test
    lines = [f"settings: {settings}, rounds={args.rounds}, {args.train} train + {args.test} held-out archs, "
             f"statistic={args.statistic}, seed={args.seed}",
             f"machine: {platform.machine()} {platform.processor() or ''} {os.cpu_count()} CPUs, "
             f"Python {platform.python_version()}, torch {torch.__version__}", "",
             "| space | input | estimator | n_train | n_test | Kendall tau | within ±10% | MAPE |",
             "|---|---|---|---|---|---|---|---|"]
    notes: list[str] = []
    for name in args.spaces:
        shape, classes = shape_of(name, args.gpt_task)
        load, start = os.getloadavg()[0], time.perf_counter()
        result = latency_study(get_space(name), samples, settings, rounds=args.rounds,
                               train_fraction=args.train / samples, seed=args.seed,
                               input_shape=shape, num_classes=classes, statistic=args.statistic)
        minutes = (time.perf_counter() - start) / 60
        write_study(result, args.out / name)
        where = "x".join(map(str, shape)) + (f" tokens, vocab {classes}" if name == "gpt" else "")
        for row in result.accuracy:
            lines.append(f"| {name} | {where} | {row['estimator']} | {row['n_train']} | {row['n_test']} | "
                         f"{row['kendall_tau']:.3f} | {row['within_10pct']:.1%} | {row['mape']:.1%} |")
        latency = np.array([float(r["latency_ms"]) for r in result.measurements])
        notes.append(f"{name}: {minutes:.1f} min, load average {load:.1f} at start; measured latency "
                     f"{latency.min():.3f} to {latency.max():.3f} ms (median {np.median(latency):.3f})")
        print(lines[-len(result.accuracy):], notes[-1], sep="\n", flush=True)
    text = "\n".join(lines + [""] + notes) + "\n"
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "summary.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
