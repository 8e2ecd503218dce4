"""nasforge's strategies against Optuna's samplers on the four tabular benchmarks (issue 21).

Every (seed, benchmark, strategy) is an ordinary run of the protocol of
:mod:`nasforge.bench.protocol` (the tabular evaluator, regret in accuracy points, a repeated
proposal answered for free and not counted). Runs go seed by seed, so a study stopped early
holds whole seeds; each finished run is appended to a JSON-lines file at once (``--log``), and a
rerun with the same log skips what is there. Each record keeps the regret after every query and
the run's CPU seconds (``time.process_time`` of this one process).

``--report`` reads the log and prints, per benchmark, mean regret ± 95% CI half-width at 50 and
100 queries for every strategy, the ratio of nasforge's best strategy to the best peer at 50
queries, and a paired Wilcoxon signed-rank test over the seeds both have (Wilcoxon 1945).

    python benchmarks/peers_tabular.py --strategies random,bananas,tpe --seeds 30 --log /tmp/peers.jsonl
    python benchmarks/peers_tabular.py --report --log /tmp/peers.jsonl
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

import numpy as np

BENCHMARKS = ("nb201-cifar10", "nb201-cifar100", "nb201-imagenet16", "macro")
PEERS = ("tpe", "optuna:GPSampler", "optuna:NSGAIISampler")
AT = (50, 100)


def is_peer(strategy: str) -> bool:
    """Optuna's samplers (``tpe`` is Optuna's TPE) are the peers; the rest are nasforge's."""
    return strategy in PEERS or strategy.startswith("optuna:")


def done_keys(log: Path) -> set[tuple[int, str, str]]:
    """(seed, benchmark, strategy) of every run already in ``log``."""
    if not log.exists():
        return set()
    return {(r["seed"], r["benchmark"], r["strategy"]) for r in read_log(log)}


def read_log(log: Path) -> list[dict[str, Any]]:
    """Every record of ``log`` (a torn last line from a killed run is ignored)."""
    records = []
    for line in log.read_text().splitlines():
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError:
            continue
    return records


def run(benchmarks: list[str], strategies: list[str], seeds: range, queries: int, log: Path) -> None:
    """Run what ``log`` lacks, seed by seed, appending one record per run."""
    from nasforge.bench.protocol import Job, _init_worker, run_one
    from nasforge.estimate.benchmarks import get_benchmark
    from nasforge.strategy.base import get_strategy

    for name in benchmarks:  # names and data files before any run; set-up is judged by the runs
        get_benchmark(name).path()
    for name in strategies:
        get_strategy(name)
    _init_worker()
    done = done_keys(log)
    for seed in seeds:
        for bench in benchmarks:
            for strategy in strategies:
                if (seed, bench, strategy) in done:
                    continue
                cpu = time.process_time()
                curve = run_one(Job(bench, strategy, seed, queries))
                record = {"seed": seed, "benchmark": bench, "strategy": strategy,
                          "regret": [round(float(v), 6) for v in curve.regret],
                          "cpu_s": round(time.process_time() - cpu, 3),
                          "wall_s": round(curve.seconds, 3)}
                with log.open("a") as fh:
                    fh.write(json.dumps(record) + "\n")
                print(f"seed {seed} {bench} {strategy}: regret@{queries} {curve.regret[-1]:.3f} "
                      f"cpu {record['cpu_s']:.1f}s", flush=True)


def _ci(values: np.ndarray) -> float:
    from scipy import stats

    if len(values) < 2:
        return float("nan")
    return float(stats.t.ppf(0.975, len(values) - 1) * values.std(ddof=1) / np.sqrt(len(values)))


def report(records: list[dict[str, Any]], at: tuple[int, ...] = AT) -> str:
    """Markdown: mean regret ± 95% CI per strategy (rows) and benchmark and query count
    (columns), then nasforge's best against the best peer at 50 queries, paired by seed."""
    from scipy import stats

    benches = [b for b in BENCHMARKS if any(r["benchmark"] == b for r in records)]
    strategies = list(dict.fromkeys(r["strategy"] for r in records))
    order = [s for s in strategies if not is_peer(s)] + [s for s in strategies if is_peer(s)]
    by: dict[tuple[str, str], dict[int, dict[str, Any]]] = {}
    for r in records:
        by.setdefault((r["benchmark"], r["strategy"]), {})[r["seed"]] = r
    out = ["| strategy | seeds | " + " | ".join(f"{b} @{q}" for b in benches for q in at) + " | CPU s/run |",
           "|---|---|" + "---|" * (len(benches) * len(at)) + "---|"]
    for s in order:
        cells, seeds, cpu = [], set(), []
        for b in benches:
            runs = list(by.get((b, s), {}).values())
            seeds.add(len(runs))
            cpu += [r["cpu_s"] for r in runs]
            for q in at:
                reg = np.array([r["regret"][q - 1] for r in runs if len(r["regret"]) >= q])
                cells.append(f"{reg.mean():.3f} ± {_ci(reg):.3f}" if len(reg) else "—")
        name = f"{s} (peer)" if is_peer(s) else s
        n = "-".join(str(k) for k in sorted(seeds))
        out.append(f"| {name} | {n} | " + " | ".join(cells) + f" | {np.mean(cpu):.2f} |")

    def mean50(bench: str, s: str) -> float:
        return float(np.mean([r["regret"][49] for r in by[(bench, s)].values()]))

    out += ["", "| benchmark | nasforge best | @50 | best peer | @50 | ours / peer | paired seeds | "
            "ours better/worse/tied | paired test |", "|---|---|---|---|---|---|---|---|---|"]
    for bench in benches:
        ours = [s for s in order if (bench, s) in by and not is_peer(s)]
        peers = [s for s in order if (bench, s) in by and is_peer(s)]
        if not ours or not peers:
            continue
        best_ours = min(ours, key=lambda s: mean50(bench, s))
        best_peer = min(peers, key=lambda s: mean50(bench, s))
        a, b = mean50(bench, best_ours), mean50(bench, best_peer)
        ratio = a / b if b > 0 else (float("inf") if a > 0 else 1.0)
        seeds = sorted(set(by[(bench, best_ours)]) & set(by[(bench, best_peer)]))
        x = np.array([by[(bench, best_ours)][k]["regret"][49] for k in seeds])
        y = np.array([by[(bench, best_peer)][k]["regret"][49] for k in seeds])
        diff = x - y
        test = (f"Wilcoxon p = {stats.wilcoxon(x, y, zero_method='wilcox').pvalue:.2g}"
                if np.any(diff != 0) else "identical on every seed")
        verdict = "below half" if ratio < 0.5 else f"ratio {ratio:.2f}"
        out.append(f"| {bench} | {best_ours} | {a:.3f} | {best_peer} | {b:.3f} | {verdict} | {len(seeds)} | "
                   f"{int((diff < 0).sum())}/{int((diff > 0).sum())}/{int((diff == 0).sum())} | {test} |")
    cpu_total = sum(r["cpu_s"] for r in records)
    out += ["", f"{len(records)} runs, {cpu_total:.0f} CPU seconds in all."]
    return "\n".join(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--benchmarks", default=",".join(BENCHMARKS))
    parser.add_argument("--strategies", default="random,bananas,tpe,optuna:GPSampler")
    parser.add_argument("--seeds", type=int, default=30, help="seeds first-seed..first-seed+N-1")
    parser.add_argument("--first-seed", type=int, default=0)
    parser.add_argument("--queries", type=int, default=100)
    parser.add_argument("--log", required=True, help="JSON-lines file: appended to, read by --report")
    parser.add_argument("--report", action="store_true", help="print the tables from --log and exit")
    args = parser.parse_args()
    log = Path(args.log)
    if args.report:
        if not log.exists():
            raise SystemExit(f"--log {log}: no such file")
        print(report(read_log(log)))
        return
    if args.seeds < 1 or args.first_seed < 0 or args.queries < max(AT):
        raise SystemExit(f"--seeds must be >= 1, --first-seed >= 0, --queries >= {max(AT)}")
    run(args.benchmarks.split(","), args.strategies.split(","),
        range(args.first_seed, args.first_seed + args.seeds), args.queries, log)


if __name__ == "__main__":
    main()
