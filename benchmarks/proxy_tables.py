"""Markdown tables from ``nasforge proxies`` output folders (issue 6), beside published values.

    python benchmarks/proxy_tables.py /work/scratch/nb201-a [/work/scratch/nb201-b ...]

Prints, per truth, Spearman / Kendall / top-10% precision / seconds per arch for every proxy,
the number of architectures and of failed scores, and the published NAS-Bench-201 Spearman
values where there are some (Abdelfattah et al. 2021, Table 2, all 15,625 archs, each
dataset's own images; nwot, params, flops: the values quoted in issue 6).
"""

from __future__ import annotations

import csv
import sys
from pathlib import Path

PUBLISHED = {  # NAS-Bench-201 Spearman: (CIFAR-10, CIFAR-100, ImageNet16-120)
    "synflow": ("0.74", "0.76", "0.75"), "jacov": ("0.73", "0.71", "0.71"),
    "grad_norm": ("0.58", "0.64", "0.58"), "snip": ("0.58", "0.63", "0.58"),
    "grasp": ("0.48", "0.54", "0.56"), "fisher": ("0.36", "0.39", "0.33"),
    "nwot": ("0.78-0.80", "", ""), "params": ("0.75-0.77", "", ""), "flops": ("0.75-0.77", "", ""),
}
NB201_TRUTHS = ("nb201-cifar10", "nb201-cifar100", "nb201-imagenet16")


def load(folder: Path) -> tuple[list[dict[str, str]], dict[str, int], int]:
    with open(folder / "correlations.csv", newline="") as f:
        records = list(csv.DictReader(f))
    with open(folder / "proxies.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    proxies = list(dict.fromkeys(r["proxy"] for r in records))
    failed = {p: sum(not row[p] for row in rows) for p in proxies}
    return records, failed, len(rows)


def main(folders: list[str]) -> None:
    records, failed, counts = [], {}, []
    for folder in folders:
        recs, fails, n = load(Path(folder))
        records += recs
        failed.update(fails)
        counts.append(f"{folder}: {n} archs")
    print("; ".join(counts) + "\n")
    truths = list(dict.fromkeys(r["truth"] for r in records))
    for truth in truths:
        col = NB201_TRUTHS.index(truth) if truth in NB201_TRUTHS else None
        head = "| proxy | Spearman | published | Kendall | top-10% precision | s/arch | failed |"
        print(f"**{truth}**\n\n{head}\n|---|---|---|---|---|---|---|")
        for r in (r for r in records if r["truth"] == truth):
            pub = PUBLISHED.get(r["proxy"], ("",) * 3)[col] if col is not None else ""
            print(f"| {r['proxy']} | {r['spearman']} | {pub} | {r['kendall']} | {r['top10_precision']} "
                  f"| {r['seconds_per_arch']} | {failed.get(r['proxy'], 0)} |")
        print()


if __name__ == "__main__":
    main(sys.argv[1:])
