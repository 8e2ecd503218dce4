"""Search with the residual predictor vs the old surrogates (issue 22).

Arms, each run to the same number of queries (unique architectures evaluated) under the protocol
of :mod:`nasforge.bench.protocol` (one ordinary Experiment per run, in-memory storage, the
benchmark dataset's services; a repeated proposal is answered for free):

- ``bananas-old``: BANANAS as it was before issue 22 (NumPy MLP ensemble, Thompson sampling:
  ``surrogate=mlp_ensemble, acquisition=its``);
- ``bananas-old-ucb``: the same ensemble with ``acquisition=ucb``;
- ``bananas-resid-its``: ``surrogate=resid_gp`` (a GP whose mean function is the free-statistic
  prior, :mod:`nasforge.estimate.predictors.residual`) with Thompson sampling;
- ``bananas``: the default now, ``surrogate=resid_gp, acquisition=ucb``;
- ``fbnetv3-old``: the FBNetV3 strategy with its old default predictor (``mlp``, pretrained on
  free statistics);
- ``fbnetv3``: the default now, ``predictor=resid_gp`` (``pretrained=True``: its GP also gets
  the statistics encoder's embedding);
- ``fbnetv3-resid-nopre``: ``predictor=resid_gp, pretrained=False``.

Prints a markdown table of mean regret (± standard error over seeds) after 25 and 50 queries;
``--json`` keeps the curves. Each run depends on its seed alone.

    python benchmarks/predictor_search.py --seeds 30 --queries 50 --workers 1
"""

from __future__ import annotations

import argparse
import json
import os
from typing import Any

import numpy as np

ARMS: dict[str, tuple[str, dict[str, Any]]] = {
    "bananas-old": ("bananas", {"surrogate": "mlp_ensemble", "acquisition": "its"}),
    "bananas-old-ucb": ("bananas", {"surrogate": "mlp_ensemble", "acquisition": "ucb"}),
    "bananas-resid-its": ("bananas", {"surrogate": "resid_gp", "acquisition": "its"}),
    "bananas": ("bananas", {"surrogate": "resid_gp", "acquisition": "ucb"}),
    "fbnetv3-old": ("fbnetv3", {"predictor": "mlp", "pretrained": True}),
    "fbnetv3": ("fbnetv3", {"predictor": "resid_gp", "pretrained": True}),
    "fbnetv3-resid-nopre": ("fbnetv3", {"predictor": "resid_gp", "pretrained": False}),
}
BENCHMARKS = "nb201-cifar10,nb201-cifar100,nb201-imagenet16,macro"


def run_all(benchmarks: list[str], arms: list[str], seeds: int, queries: int, workers: int) -> list[dict[str, Any]]:
    """Every (benchmark, arm, seed) run; one record of its regret curve each."""
    from nasforge.bench.protocol import Job, run_jobs

    unknown = [a for a in arms if a not in ARMS]
    if unknown:
        raise SystemExit(f"--arms: unknown {unknown}; valid: {list(ARMS)}")
    keys = [(b, a, s) for b in benchmarks for a in arms for s in range(seeds)]
    jobs = [Job(b, ARMS[a][0], s, queries, settings=ARMS[a][1]) for b, a, s in keys]
    curves = run_jobs(jobs, workers)
    return [{"benchmark": b, "arm": a, "seed": s, "regret": c.regret.tolist(), "seconds": c.seconds}
            for (b, a, s), c in zip(keys, curves, strict=True)]


def summarise(runs: list[dict[str, Any]], at: tuple[int, ...]) -> str:
    """Markdown: per benchmark and arm, mean regret ± s.e. at each query count, and seconds per run."""
    lines = ["| benchmark | arm | seeds | " + " | ".join(f"regret@{q}" for q in at) + " | s/run |",
             "|---|---|---|" + "---|" * len(at) + "---|"]
    keys = sorted({(r["benchmark"], r["arm"]) for r in runs}, key=lambda k: (k[0], list(ARMS).index(k[1])))
    for bench, arm in keys:
        rs = [r for r in runs if r["benchmark"] == bench and r["arm"] == arm]
        cells = []
        for q in at:
            reg = np.array([r["regret"][q - 1] for r in rs])
            cells.append(f"{reg.mean():.3f} ± {reg.std(ddof=1) / np.sqrt(len(reg)):.3f}")
        seconds = np.median([r["seconds"] for r in rs])
        lines.append(f"| {bench} | {arm} | {len(rs)} | " + " | ".join(cells) + f" | {seconds:.1f} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--benchmarks", default=BENCHMARKS)
    parser.add_argument("--arms", default=",".join(ARMS))
    parser.add_argument("--seeds", type=int, default=30)
    parser.add_argument("--queries", type=int, default=50)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--json", help="write the raw curves here")
    args = parser.parse_args()
    if args.seeds < 2 or args.queries < 1:
        raise SystemExit("--seeds must be >= 2 and --queries >= 1")
    print(f"load average before: {os.getloadavg()}", flush=True)
    runs = run_all(args.benchmarks.split(","), args.arms.split(","), args.seeds, args.queries, args.workers)
    print(summarise(runs, tuple(q for q in (25, 50) if q <= args.queries) or (args.queries,)))
    print(f"load average after: {os.getloadavg()}")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(runs, fh)


if __name__ == "__main__":
    main()
