"""Proxy-guided vs plain regularized evolution on NAS-Bench-201 (issue 6).

Every (benchmark, strategy, seed) runs to the same number of queries (unique architectures
evaluated) under the protocol of :mod:`nasforge.bench.protocol`: a repeated proposal is answered
from the earlier result for free. The loop is the protocol's own, with one addition the bench
does not record: after each query, the proxy evaluations and proxy seconds the strategy has spent
so far (its ``scores`` cache; an architecture is charged the CPU seconds of its proxy, network
build included, even when another run in the same worker process computed it first). ``--check`` replays a few plain runs
through ``nasforge.bench.protocol.run_one`` and asserts identical regret curves.

    python benchmarks/proxy_search.py --proxy synflow --seeds 30 --queries 50 --check

The proxy is computed on demand (CPU clock) and cached per worker process; ``--table`` reads
precomputed values from a ``nasforge proxies`` folder first (then the charged time is the one
recorded there). Prints a markdown table.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import time
from typing import Any

import numpy as np

STRATEGIES = ("evolution", "proxy-evolution", "proxy-warmstart")


def settings_for(name: str, table: str | None, column: str, args: argparse.Namespace) -> dict[str, Any]:
    if table:
        scorer = {"scorer": "table", "scorer_settings": {"path": table, "column": column,
                                                          "compute_missing": True, "clock": "cpu"}}
    else:
        scorer = {"scorer": column, "scorer_settings": {"clock": "cpu"}}
    if name == "proxy-evolution":
        return {**scorer, "pool_size": args.pool, "candidates": args.candidates}
    if name == "proxy-warmstart":
        return {**scorer, "pool_size": args.pool, "warm_start": 16, "strategy": "evolution"}
    return {}


def run(job: tuple[str, str, int, int, dict[str, Any]]) -> dict[str, Any]:
    """One run: regret, proxy evaluations and proxy seconds after each query."""
    import torch

    from nasforge.core.objectives import Objective
    from nasforge.estimate.benchmarks import get_benchmark
    from nasforge.estimate.tabular import TabularEvaluator
    from nasforge.strategy.base import get_strategy

    torch.set_num_threads(1)
    bench_name, name, seed, queries, settings = job
    bench = get_benchmark(bench_name)
    objective = Objective.parse("accuracy:max")
    strategy = get_strategy(name, **settings)
    strategy.setup(bench.space(), [objective], (), seed)
    evaluator = TabularEvaluator(bench.name)
    seen: dict[str, Any] = {}
    best, regret, evals, secs = -np.inf, [], [], []
    optimum = bench.optimum(objective)
    start = time.perf_counter()
    while len(seen) < queries:
        arch = strategy.ask()
        if arch is None:
            break
        if arch.key in seen:
            strategy.tell(arch, seen[arch.key])
            continue
        result = evaluator.evaluate(arch)
        metrics = dict(result.metrics) if result.ok else None
        seen[arch.key] = metrics
        strategy.tell(arch, metrics)
        if metrics:
            best = max(best, metrics["accuracy"])
        regret.append(optimum - best)
        stats = strategy.scores.stats() if hasattr(strategy, "scores") else {}
        evals.append(stats.get("proxy_evaluations", 0.0))
        secs.append(stats.get("proxy_seconds", 0.0))
    return {"benchmark": bench_name, "strategy": name, "seed": seed, "regret": regret,
            "proxy_evaluations": evals, "proxy_seconds": secs, "seconds": time.perf_counter() - start}


def check_against_protocol(table: str, column: str, args: argparse.Namespace) -> None:
    """The loop above gives the bench protocol's regret curves (plain and guided runs)."""
    from nasforge.bench.protocol import Job, run_one

    for name in ("evolution", "proxy-evolution"):
        for seed in (0, 1):
            settings = settings_for(name, table, column, args)
            mine = run(("nb201-cifar10", name, seed, args.queries, settings))["regret"]
            theirs = run_one(Job("nb201-cifar10", name, seed, args.queries, settings=settings)).regret
            assert np.allclose(mine, theirs), (name, seed, mine[:5], theirs[:5])
    print("check: identical regret curves to nasforge.bench.protocol.run_one", flush=True)


def summarise(runs: list[dict[str, Any]], at: tuple[int, ...]) -> str:
    lines = ["| benchmark | strategy | seeds | " + " | ".join(
        f"regret@{q} (mean ± s.e.) | proxy evals@{q} | proxy s@{q}" for q in at) + " |",
        "|---|---|---|" + "---|---|---|" * len(at)]
    keys = sorted({(r["benchmark"], r["strategy"]) for r in runs}, key=lambda k: (k[0], STRATEGIES.index(k[1])))
    for bench, name in keys:
        rs = [r for r in runs if r["benchmark"] == bench and r["strategy"] == name]
        cells = []
        for q in at:
            reg = np.array([r["regret"][q - 1] for r in rs])
            ev = np.mean([r["proxy_evaluations"][q - 1] for r in rs])
            sec = np.mean([r["proxy_seconds"][q - 1] for r in rs])
            cells.append(f"{reg.mean():.3f} ± {reg.std(ddof=1) / np.sqrt(len(reg)):.3f} | {ev:.0f} | {sec:.1f}")
        lines.append(f"| {bench} | {name} | {len(rs)} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--proxy", default="synflow", help="the proxy that guides the search")
    parser.add_argument("--table", help="a nasforge proxies output folder with that proxy (else: on demand)")
    parser.add_argument("--benchmarks", default="nb201-cifar10,nb201-cifar100")
    parser.add_argument("--strategies", default=",".join(STRATEGIES))
    parser.add_argument("--seeds", type=int, default=30)
    parser.add_argument("--queries", type=int, default=50)
    parser.add_argument("--pool", type=int, default=256, help="proxy-scored random pool")
    parser.add_argument("--candidates", type=int, default=8, help="mutants pre-screened per step")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--check", action="store_true", help="compare with the bench protocol first")
    parser.add_argument("--json", help="write the raw curves here")
    args = parser.parse_args()
    print(f"load average before: {os.getloadavg()}", flush=True)
    if args.check:
        check_against_protocol(args.table, args.proxy, args)
    jobs = [(b, s, seed, args.queries, settings_for(s, args.table, args.proxy, args))
            for b in args.benchmarks.split(",") for s in args.strategies.split(",") for seed in range(args.seeds)]
    with mp.get_context("spawn").Pool(args.workers) as pool:
        runs = list(pool.imap_unordered(run, jobs))
    at = tuple(q for q in (10, 25, 50, 100) if q <= args.queries)
    print(summarise(runs, at))
    print(f"load average after: {os.getloadavg()}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(runs, f)


if __name__ == "__main__":
    main()
