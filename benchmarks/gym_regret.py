"""Regret on ``nasforge/NB201-CIFAR10-v0``: a Stable-Baselines3 PPO agent beside nasforge's
strategies acting through the same environment (docs/benchmarks.md, "A NAS gym").

Every agent gets the same query budget per seed (one episode of ``--queries`` steps); a step is
a query even when PPO repeats an architecture (answered from the first evaluation). Regret is
the table's best accuracy minus the best accuracy found so far, in points.

    python benchmarks/gym_regret.py --out /tmp/gym-regret --seeds 10 --queries 100

Writes ``summary.csv`` (mean / median regret, 95% CI, by query count), ``curves.csv``,
``regret.png`` and ``repeats.csv``, and prints the summary as Markdown.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

STRATEGIES = ("random", "evolution", "local", "tpe", "reinforce", "bananas")


def curve(env_id: str, agent: str, seed: int, queries: int) -> tuple[object, int]:
    """The agent's :class:`~nasforge.bench.protocol.RunCurve` and how many queries repeated one."""
    import gymnasium as gym

    from nasforge.bench.protocol import RunCurve
    from nasforge.estimate.benchmarks import get_benchmark
    from nasforge.gym import StrategyAgent
    from nasforge.gym.sb3 import train_ppo

    start = time.perf_counter()
    env = gym.make(env_id, budget=queries)
    base = env.unwrapped
    if agent == "ppo":
        train_ppo(env, queries, seed=seed)
    else:
        StrategyAgent(agent, env, seed=seed).run_episode(seed=seed)
    found = base.queries[:queries]
    env.close()
    accuracy = [q.metrics.get("accuracy", -np.inf) for q in found]
    best = np.maximum.accumulate(np.array(accuracy + [accuracy[-1]] * (queries - len(accuracy)), dtype=float))
    optimum = get_benchmark(base.config.evaluator.settings["benchmark"]).optimum(base.reward_fn.objective)
    repeats = sum(q.cached for q in found)
    return RunCurve("nb201-cifar10 (gym)", agent, seed, best, optimum - best, None, None,
                    time.perf_counter() - start, repeats), repeats


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--queries", type=int, default=100)
    parser.add_argument("--agents", default="ppo," + ",".join(STRATEGIES))
    parser.add_argument("--env", default="nasforge/NB201-CIFAR10-v0")
    args = parser.parse_args(argv)

    import torch

    torch.set_num_threads(1)
    from nasforge.bench.plots import plot_curves
    from nasforge.bench.summary import SummaryRow, curve_rows, dataclass_rows, summarize, write_csv

    args.out.mkdir(parents=True, exist_ok=True)
    curves, repeats = [], []
    for agent in args.agents.split(","):
        for seed in range(args.seeds):
            c, r = curve(args.env, agent, seed, args.queries)
            curves.append(c)
            repeats.append((agent, seed, r, c.seconds))
            print(f"{agent} seed {seed}: final regret {c.regret[-1]:.3f}, {r} repeats, {c.seconds:.1f} s", flush=True)
    summary = summarize(curves, args.queries)
    write_csv(args.out / "summary.csv", *dataclass_rows(summary, SummaryRow))
    write_csv(args.out / "curves.csv", *curve_rows(curves))
    write_csv(args.out / "repeats.csv", ["agent", "seed", "repeats", "seconds"], repeats)
    plot_curves(curves, args.out / "regret.png", "regret", "accuracy")
    print("| agent | queries | mean regret | median | 95% CI | vs random | repeated queries (mean) |")
    print("|---|---|---|---|---|---|---|")
    for row in summary:
        mean_repeats = np.mean([r for a, _, r, _ in repeats if a == row.strategy])
        print(f"| {row.strategy} | {row.queries} | {row.mean_regret:.3f} | {row.median_regret:.3f} | "
              f"±{row.ci95:.3f} | {row.relative_improvement:+.2f}% | {mean_repeats:.1f} |")


if __name__ == "__main__":
    main()
