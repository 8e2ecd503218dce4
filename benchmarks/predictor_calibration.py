"""How well the predictors' spreads cover the truth on a tabular benchmark (issue 22).

For each seed: ``n`` random labelled architectures and 1,000 others held out; each predictor
with ``gives_uncertainty`` is fitted and ``predict_dist`` gives a mean and a spread per held-out
architecture (in accuracy units). Printed: the fraction of held-out accuracies within one and
within two spreads of the mean, averaged over seeds (a calibrated Gaussian: 0.68 and 0.95).

    python benchmarks/predictor_calibration.py --benchmarks nb201-cifar10,macro --sizes 20,50 --seeds 5
"""

from __future__ import annotations

import argparse

import numpy as np

PREDICTORS = "resid_gp,gp,rf,mlp"


def coverage(benchmark: str, name: str, n: int, seeds: int, test_size: int = 1000) -> tuple[float, float]:
    """Mean fraction of held-out accuracies within one and two spreads of the predicted mean."""
    from nasforge.estimate.benchmarks import get_benchmark
    from nasforge.estimate.predictors import get_predictor
    from nasforge.estimate.predictors.features import Featurizer
    from nasforge.estimate.predictors.stats import free_stats_for

    bench = get_benchmark(benchmark)
    table, space = bench.table(), bench.space()
    keys = sorted(table)
    featurizer = Featurizer(space, free_stats_for(space, benchmark))
    within = []
    for seed in range(seeds):
        order = np.random.default_rng(seed).permutation(len(keys))
        archs = [space.parse(keys[i]) for i in order[:n + test_size]]
        featurizer.fit(archs[n:])
        x = featurizer.transform(archs)
        y = np.array([table[a.body]["accuracy"] for a in archs])
        mean, spread = get_predictor(name, seed=seed).fit(x[:n], y[:n]).predict_dist(x[n:])
        z = np.abs(y[n:] - mean) / np.maximum(spread, 1e-12)
        within.append((np.mean(z <= 1), np.mean(z <= 2)))
    one, two = np.mean(within, axis=0)
    return float(one), float(two)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--benchmarks", default="nb201-cifar10,macro")
    parser.add_argument("--predictors", default=PREDICTORS)
    parser.add_argument("--sizes", default="20,50")
    parser.add_argument("--seeds", type=int, default=5)
    args = parser.parse_args()
    import torch

    torch.set_num_threads(1)
    print("| benchmark | predictor | n | within 1 spread | within 2 spreads |\n|---|---|---|---|---|")
    for benchmark in args.benchmarks.split(","):
        for name in args.predictors.split(","):
            for n in (int(s) for s in args.sizes.split(",")):
                one, two = coverage(benchmark, name, n, args.seeds)
                print(f"| {benchmark} | {name} | {n} | {one:.2f} | {two:.2f} |", flush=True)


if __name__ == "__main__":
    main()
