"""The learned proxy ensemble vs its members (issue 6): held-out Spearman from a few labels.

    python benchmarks/proxy_ensemble.py /work/scratch/nb201-a --labels 10,20,50 --repeats 50

For each truth column of a ``nasforge proxies`` output (``proxies.csv``): draw ``labels`` archs
at random, fit :class:`~nasforge.estimate.proxies.ensemble.ProxyEnsemble` on their proxies and
accuracies (percentiles against the whole sample's proxies, which cost no labels), score the
other archs; compare with the best single proxy on those same held-out archs (chosen in
hindsight: the strongest baseline) and with the proxy that ranked the labelled archs best.
"""

from __future__ import annotations

import argparse
import csv

import numpy as np

from nasforge.estimate.proxies.ensemble import compare


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder")
    parser.add_argument("--labels", default="10,20,50")
    parser.add_argument("--repeats", type=int, default=50)
    parser.add_argument("--method", default="rank", choices=("rank", "gbdt"))
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    with open(f"{args.folder}/proxies.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    with open(f"{args.folder}/correlations.csv", newline="") as f:
        correlations = list(csv.DictReader(f))
    truths = list(dict.fromkeys(r["truth"] for r in correlations))
    names = list(dict.fromkeys(r["proxy"] for r in correlations))
    values = np.array([[float(r[p]) if r[p] else np.nan for p in names] for r in rows])
    print(f"{len(rows)} archs, proxies: {', '.join(names)}; method {args.method}, {args.repeats} draws\n")
    print("| truth | labels | ensemble | best single (hindsight) | best on the labels | ensemble wins |")
    print("|---|---|---|---|---|---|")
    for truth in truths:
        keep = [i for i, r in enumerate(rows) if r[truth]]
        y = np.array([float(rows[i][truth]) for i in keep])
        for labels in (int(n) for n in args.labels.split(",")):
            res = compare(values[keep], y, names, labels, args.repeats, args.seed, args.method)
            best = max(set(res.best_names), key=res.best_names.count)
            print(f"| {truth} | {labels} | {res.ensemble.mean():.3f} ± {res.ensemble.std():.3f} "
                  f"| {res.best_member.mean():.3f} ({best}) | {res.picked_member.mean():.3f} | {res.wins:.0%} |")


if __name__ == "__main__":
    main()
