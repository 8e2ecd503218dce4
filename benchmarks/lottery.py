"""The hyperparameter lottery study on the four tabular benchmarks (docs/benchmarks.md, "A NAS gym").

Each strategy of :data:`nasforge.gym.lottery.DEFAULT_GRID` runs with every setting of its grid,
on every benchmark, over ``--seeds`` seeds, to ``--queries`` queries (the benchmark protocol's
loop). The tuned setting is chosen on the first half of the seeds and scored on the second.

    python benchmarks/lottery.py --out /tmp/lottery --seeds 10 --queries 100

Writes ``lottery.csv`` (one row per benchmark and strategy), ``rankings.csv`` (per benchmark)
and ``final_regret.csv`` (one row per run), and prints both tables as Markdown.
"""

from __future__ import annotations

import argparse
import csv
import dataclasses
import time
from pathlib import Path

BENCHMARKS = ("nb201-cifar10", "nb201-cifar100", "nb201-imagenet16", "macro")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--queries", type=int, default=100)
    parser.add_argument("--benchmarks", default=",".join(BENCHMARKS))
    parser.add_argument("--strategies", default=None, help="comma-separated subset of the grid's strategies")
    parser.add_argument("--workers", type=int, default=1)
    args = parser.parse_args(argv)

    from nasforge.bench.protocol import run_jobs
    from nasforge.gym.lottery import DEFAULT_GRID, label, lottery_jobs, rankings, summarize_lottery

    grid = {s: DEFAULT_GRID[s] for s in (args.strategies.split(",") if args.strategies else DEFAULT_GRID)}
    jobs = lottery_jobs(args.benchmarks.split(","), grid, args.seeds, args.queries)
    args.out.mkdir(parents=True, exist_ok=True)
    start, done = time.perf_counter(), [0]

    def progress(curve) -> None:
        done[0] += 1
        if done[0] % 50 == 0 or done[0] == len(jobs):
            print(f"{done[0]}/{len(jobs)} runs, {time.perf_counter() - start:.0f} s", flush=True)

    curves = run_jobs(jobs, args.workers, progress)
    settings = [dict(j.settings) for j in jobs]
    with open(args.out / "final_regret.csv", "w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["benchmark", "strategy", "setting", "seed", "final_regret", "seconds"])
        for job, curve in zip(jobs, curves, strict=True):
            writer.writerow([job.benchmark, job.strategy, label(job.settings), job.seed, f"{curve.regret[-1]:.4f}",
                             f"{curve.seconds:.2f}"])
    rows = summarize_lottery(curves, settings, tuning_seeds=range(args.seeds // 2))
    ranks = rankings(rows)
    for name, items in (("lottery.csv", rows), ("rankings.csv", ranks)):
        with open(args.out / name, "w", newline="") as fh:
            writer = csv.writer(fh)
            fields = [f.name for f in dataclasses.fields(items[0])]
            writer.writerow(fields)
            writer.writerows([[getattr(r, f) if not isinstance(getattr(r, f), tuple) else " > ".join(getattr(r, f))
                               for f in fields] for r in items])
    print("| benchmark | strategy | settings | default | best / worst setting | spread across settings (max-min, sd) "
          f"| sd across seeds | tuned on seeds 0-{args.seeds // 2 - 1}: setting | tuned, test seeds | default, test seeds |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r.benchmark} | {r.strategy} | {r.settings} | {r.default_regret:.3f} | {r.best_setting_regret:.3f} / "
              f"{r.worst_setting_regret:.3f} | {r.spread_settings:.3f}, {r.std_settings:.3f} | {r.std_seeds:.3f} | "
              f"`{r.tuned_setting}` | {r.tuned_test_regret:.3f} | {r.default_test_regret:.3f} |")
    print()
    print("| benchmark | ranking, default settings | ranking, tuned | Kendall tau | tuned range | mean sd across seeds |")
    print("|---|---|---|---|---|---|")
    for k in ranks:
        print(f"| {k.benchmark} | {' > '.join(k.by_default)} | {' > '.join(k.by_tuned)} | {k.kendall_tau:.2f} | "
              f"{k.tuned_range:.3f} | {k.mean_std_seeds:.3f} |")
    print(f"total {time.perf_counter() - start:.0f} s")


if __name__ == "__main__":
    main()
