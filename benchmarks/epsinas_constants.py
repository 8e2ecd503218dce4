"""epsinas: how the constant pair and the precision change its ranking (issue 6).

Gracheva 2023 picks the widest pair of constants that leaves under 10% of networks with
underflowed (constant) outputs and correlates only over the networks that could be scored. This
script scores the first ``--archs`` architectures of a ``nasforge proxies`` NB201 folder with
several (constants, precision) settings and prints, per setting, how many networks could not be
scored and the Spearman rank correlation with CIFAR-10 accuracy over the scored ones and over
all (unscored ranked last, as nasforge's tables do).

    python benchmarks/epsinas_constants.py runs/proxies-nb201 --archs 60
"""

from __future__ import annotations

import argparse
import csv

import numpy as np
import torch
from scipy.stats import spearmanr

from nasforge.estimate.proxies.base import ProxyError
from nasforge.estimate.proxies.epsinas import Epsinas
from nasforge.estimate.proxies.evaluator import ProxyEvaluator
from nasforge.space import get_space

SETTINGS = [((1e-3, 1.0), torch.float32), ((1e-5, 1e-1), torch.float32), ((1e-3, 1.0), torch.float64),
            ((1e-5, 1e-1), torch.float64), ((1e-7, 1.0), torch.float64)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", help="a nasforge proxies output folder on nb201")
    parser.add_argument("--archs", type=int, default=60)
    parser.add_argument("--truth", default="nb201-cifar10")
    args = parser.parse_args()
    torch.set_num_threads(1)
    with open(f"{args.folder}/proxies.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))[: args.archs]
    space = get_space("nb201")
    evaluator = ProxyEvaluator(task="cifar10", threads=1)
    batch = evaluator.batch()
    truth = np.array([float(r[args.truth]) for r in rows])
    scores = np.full((len(SETTINGS), len(rows)), np.nan)
    for j, row in enumerate(rows):
        model = evaluator.build(space.parse(row["arch"]))
        for i, (weights, dtype) in enumerate(SETTINGS):
            try:
                scores[i, j] = Epsinas(weights, dtype).score(model, batch)
            except ProxyError:
                pass
    print(f"{len(rows)} archs of {args.folder}, truth {args.truth}\n")
    print("| constants | precision | unscored | Spearman (scored only) | Spearman (unscored last) |")
    print("|---|---|---|---|---|")
    for (weights, dtype), s in zip(SETTINGS, scores, strict=True):
        ok = np.isfinite(s)
        filled = np.where(ok, s, np.nanmin(s) - 1.0)
        print(f"| {weights} | {str(dtype).removeprefix('torch.')} | {int((~ok).sum())} | "
              f"{spearmanr(s[ok], truth[ok])[0]:.3f} | {spearmanr(filled, truth)[0]:.3f} |")


if __name__ == "__main__":
    main()
