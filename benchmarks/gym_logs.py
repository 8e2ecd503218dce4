"""Logs as data: a latency predictor fitted only on the trials that agents logged while searching
``nasforge/Macro-v0`` with a measured-latency target (docs/benchmarks.md, "A NAS gym").

Each agent (a nasforge strategy through :class:`~nasforge.gym.StrategyAgent`) searches for
``accuracy>=92.5, latency_ms<=3`` for ``--queries`` queries per seed; every query's latency is
measured on this machine (PyTorch, batch 1, one thread, CPU clock) and logged in the run
directory's ``trials.db``. Then :mod:`nasforge.gym.logs` turns the logs into a dataset and fits
the GBDT latency predictor on it, scored on held-out logged architectures two ways: a random 30 %
of all logged architectures (5 splits), and the random-search runs' architectures that no guided
agent logged (fit on the guided agents' logs only).

    python benchmarks/gym_logs.py --out /tmp/gym-logs --seeds 2 --queries 100
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

AGENTS = ("random", "evolution", "local", "reinforce")
TARGET = "accuracy>=92.5, latency_ms<=3"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--seeds", type=int, default=2)
    parser.add_argument("--queries", type=int, default=100)
    args = parser.parse_args(argv)

    import gymnasium as gym
    import torch

    torch.set_num_threads(1)
    from nasforge.gym import StrategyAgent
    from nasforge.gym.logs import fit_logged_model, fit_on_runs, logged_dataset

    runs: dict[str, list[Path]] = {}
    start = time.perf_counter()
    for agent in AGENTS:
        for i in range(args.seeds):
            seed = 1000 * AGENTS.index(agent) + i  # agents with one seed would share their first random samples
            path = args.out / "runs" / f"{agent}-{seed}"
            if not (path / "trials.db").exists():
                env = gym.make("nasforge/Macro-v0", target=TARGET, budget=args.queries, run_dir=path, seed=seed,
                               latency={"source": "measured", "clock": "cpu", "repeats": 20, "warmup": 5})
                queries = StrategyAgent(agent, env, seed=seed).run_episode(seed=seed)
                env.close()
                met = sum(q.reward == 0.0 for q in queries)
                print(f"{agent} seed {seed}: {len(queries)} queries, {met} met the target, "
                      f"{time.perf_counter() - start:.0f} s", flush=True)
            runs.setdefault(agent, []).append(path)
    everything = [p for paths in runs.values() for p in paths]
    data = logged_dataset(everything)
    fits = [fit_logged_model(data, 0.3, seed=s) for s in range(5)]
    print(f"logged: {data.samples} measurements, {len(data)} distinct architectures, features "
          f"{list(data.features)}, latency {data.values.min():.2f}-{data.values.max():.2f} ms")
    print("| held out | train archs | test archs | within ±10% | Kendall tau | MAPE |")
    print("|---|---|---|---|---|---|")
    print(f"| random 30% of all logged archs (5 splits, mean) | {fits[0].n_train} | {fits[0].n_test} | "
          f"{np.mean([f.within_10pct for f in fits]):.1%} | {np.mean([f.kendall_tau for f in fits]):.3f} | "
          f"{np.mean([f.mape for f in fits]):.1%} |")
    guided = [p for a, paths in runs.items() if a != "random" for p in paths]
    by_run = fit_on_runs(logged_dataset(guided), logged_dataset(runs["random"]))
    print(f"| random-search runs' archs, fit on the guided agents' logs | {by_run.n_train} | {by_run.n_test} | "
          f"{by_run.within_10pct:.1%} | {by_run.kendall_tau:.3f} | {by_run.mape:.1%} |")


if __name__ == "__main__":
    main()
