"""Latency estimators against measured latency, and the run-to-run noise of the measurement.

For each space: run ``latency_study`` twice with the same seed (same archs, same split), as two
independent runs; report each estimator's held-out Kendall tau / share within +-10 % / MAPE
from both runs, the within-run repeat measurement, and the between-run agreement of the
measured latencies themselves. Writes ``OUT/<space>/run<k>/{measurements,accuracy}.csv`` and
``OUT/summary.md`` (the table in docs/benchmarks.md).

    python benchmarks/latency.py --out bench-out/latency --samples 300 --clock cpu
"""

from __future__ import annotations

import argparse
import os
import platform
import time
from pathlib import Path

import numpy as np

from nasforge.hardware import LatencySettings, latency_study, write_study
from nasforge.hardware.study import score
from nasforge.space import get_space


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("bench-out/latency"))
    parser.add_argument("--spaces", nargs="+", default=["macro", "mbconv"])
    parser.add_argument("--samples", type=int, default=300)
    parser.add_argument("--runs", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--repeats", type=int, default=30)
    parser.add_argument("--clock", default="cpu", choices=["wall", "cpu"])
    parser.add_argument("--backend", default="torch", choices=["torch", "onnx"])
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    settings = LatencySettings(backend=args.backend, clock=args.clock, repeats=args.repeats)
    lines = [f"settings: {settings}, rounds={args.rounds}, samples={args.samples}, seed={args.seed}",
             f"machine: {platform.machine()} {platform.processor() or ''} {os.cpu_count()} CPUs, "
             f"Python {platform.python_version()}", ""]
    lines += ["| space | run | estimator | n_train | n_test | Kendall tau | within ±10% | MAPE |",
              "|---|---|---|---|---|---|---|---|"]
    noise: list[str] = []
    for name in args.spaces:
        measured: list[dict[str, float]] = []
        for run in range(1, args.runs + 1):
            load = os.getloadavg()[0]
            start = time.perf_counter()
            result = latency_study(get_space(name), args.samples, settings, rounds=args.rounds,
                                   seed=args.seed)
            minutes = (time.perf_counter() - start) / 60
            write_study(result, args.out / name / f"run{run}")
            print(f"{name} run {run}: {minutes:.1f} min, load average {load:.1f} -> "
                  f"{os.getloadavg()[0]:.1f}", flush=True)
            for row in result.accuracy:
                lines.append(f"| {name} | {run} | {row['estimator']} | {row['n_train']} | "
                             f"{row['n_test']} | {row['kendall_tau']:.3f} | "
                             f"{row['within_10pct']:.1%} | {row['mape']:.1%} |")
            measured.append({r["key"]: float(r["latency_ms"]) for r in result.measurements})
            noise.append(f"{name} run {run}: {minutes:.1f} min, load average {load:.1f} at start")
        for run in range(1, len(measured)):
            keys = sorted(measured[0])
            s = score([measured[run][k] for k in keys], [measured[0][k] for k in keys])
            ratio = np.median([measured[run][k] / measured[0][k] for k in keys])
            noise.append(f"{name} run {run + 1} vs run 1, all {len(keys)} archs: Kendall tau "
                         f"{s['kendall_tau']:.3f}, within ±10% {s['within_10pct']:.1%}, MAPE "
                         f"{s['mape']:.1%}, median ratio {ratio:.3f}")
    text = "\n".join(lines + [""] + noise) + "\n"
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "summary.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()

