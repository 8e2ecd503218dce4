"""Proxy-guided vs plain regularized evolution on NAS-Bench-201 (issue 6).

Every (benchmark, strategy, seed) runs to the same number of queries (unique architectures
evaluated) under the protocol of :mod:`nasforge.bench.protocol`: each run is an ordinary
Experiment (``nasforge.bench.protocol.run_one``: in-memory storage, the benchmark dataset's
services for the proxy scorers), and a repeated proposal is answered from the earlier result for
free. Recorded after each query: the regret, and the proxy evaluations and proxy seconds the
strategy has spent so far (its ``scores`` cache; an architecture is charged the CPU seconds of
its proxy, network build included, even when another run in the same worker process computed it
first). ``--check`` first runs a few plain and guided jobs both in this process and in worker
processes and asserts identical regret curves (a run depends on its seed alone).

    python benchmarks/proxy_search.py --proxy synflow --seeds 30 --queries 50 --check

The proxy is computed on demand (on CIFAR-10 images, CPU clock) and cached per worker process;
``--table`` reads precomputed values from a ``nasforge proxies`` folder first (then the charged
time is the one recorded there). Prints a markdown table.
"""

from __future__ import annotations

import argparse
import json
import os
from typing import Any

import numpy as np

STRATEGIES = ("evolution", "proxy-evolution", "proxy-warmstart")


def settings_for(name: str, table: str | None, column: str, args: argparse.Namespace) -> dict[str, Any]:
    if table:
        scorer = {"scorer": "table", "scorer_settings": {"path": table, "column": column,
                                                          "compute_missing": True, "clock": "cpu"}}
    else:
        # on CIFAR-10 images for every NB201 table, as `nasforge proxies --task cifar10` (the
        # CIFAR-100 and ImageNet16 tables come without their images)
        scorer = {"scorer": column, "scorer_settings": {"clock": "cpu", "task": "cifar10"}}
    if name == "proxy-evolution":
        return {**scorer, "pool_size": args.pool, "candidates": args.candidates}
    if name == "proxy-warmstart":
        return {**scorer, "pool_size": args.pool, "warm_start": 16, "strategy": "evolution"}
    return {}


def as_record(curve: Any, queries: int) -> dict[str, Any]:
    """A run's curves as plain lists (no proxy: zero evaluations and seconds)."""
    zeros = [0.0] * queries
    return {"benchmark": curve.benchmark, "strategy": curve.strategy, "seed": curve.seed,
            "regret": curve.regret.tolist(),
            "proxy_evaluations": zeros if curve.proxy_evaluations is None else curve.proxy_evaluations.tolist(),
            "proxy_seconds": zeros if curve.proxy_seconds is None else curve.proxy_seconds.tolist(),
            "seconds": curve.seconds}


def run_all(jobs: list[Any], workers: int) -> list[dict[str, Any]]:
    """Every job through ``nasforge.bench.protocol`` (one Experiment each), over ``workers`` processes."""
    from nasforge.bench.protocol import run_jobs

    return [as_record(curve, job.queries) for job, curve in zip(jobs, run_jobs(jobs, workers), strict=True)]


def check_determinism(table: str | None, column: str, args: argparse.Namespace) -> None:
    """A few plain and guided runs give the same regret curves in this process and in workers."""
    from nasforge.bench.protocol import Job, run_one

    jobs = [Job("nb201-cifar10", name, seed, args.queries, settings=settings_for(name, table, column, args))
            for name in ("evolution", "proxy-evolution") for seed in (0, 1)]
    pooled = run_all(jobs, max(2, args.workers))
    for job, theirs in zip(jobs, pooled, strict=True):
        mine = run_one(job).regret
        assert np.allclose(mine, theirs["regret"]), (job.strategy, job.seed, mine[:5], theirs["regret"][:5])
    print("check: identical regret curves in this process and in worker processes", flush=True)


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
    parser.add_argument("--check", action="store_true", help="check first that runs depend on their seed alone")
    parser.add_argument("--json", help="write the raw curves here")
    args = parser.parse_args()
    print(f"load average before: {os.getloadavg()}", flush=True)
    if args.check:
        check_determinism(args.table, args.proxy, args)
    from nasforge.bench.protocol import Job

    jobs = [Job(b, s, seed, args.queries, settings=settings_for(s, args.table, args.proxy, args))
            for b in args.benchmarks.split(",") for s in args.strategies.split(",") for seed in range(args.seeds)]
    runs = run_all(jobs, args.workers)
    at = tuple(q for q in (10, 25, 50, 100) if q <= args.queries)
    print(summarise(runs, at))
    print(f"load average after: {os.getloadavg()}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(runs, f)


if __name__ == "__main__":
    main()
