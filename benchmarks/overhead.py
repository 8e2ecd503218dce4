"""Harness overhead (issue 3): trials per second of random search on a tabular benchmark with
durable SQLite storage, nasforge next to Optuna, in the same process and run.

- nasforge: ``Experiment`` (serial executor) + ``Storage`` (SQLite, WAL, one committed row per
  trial) + the ``random`` strategy + the ``tabular`` evaluator of ``nb201-cifar10``.
- Optuna: ``RandomSampler`` + ``RDBStorage`` on SQLite (``sqlite:///...``), one categorical per
  NAS-Bench-201 edge, the objective looks the same table up.

Both run ``--trials`` trials in a fresh database; each measurement is repeated ``--reps`` times,
interleaved, and the median counts. The last line is the ratio (nasforge trials/s over
Optuna trials/s).

    python benchmarks/overhead.py --trials 2000 --optuna-trials 300 --reps 3
"""

from __future__ import annotations

import argparse
import logging
import os
import statistics
import tempfile
import time
from pathlib import Path

from nasforge.core.objectives import Objective
from nasforge.estimate.benchmarks import get_benchmark
from nasforge.estimate.tabular import TabularEvaluator
from nasforge.experiment.budget import Budget
from nasforge.experiment.experiment import Experiment
from nasforge.experiment.storage import Storage
from nasforge.strategy.base import get_strategy

BENCHMARK = "nb201-cifar10"


def nasforge_rate(trials: int, folder: Path, seed: int) -> float:
    bench = get_benchmark(BENCHMARK)
    storage = Storage(folder / f"nasforge-{seed}.db")
    exp = Experiment(bench.space(), get_strategy("random"), TabularEvaluator(bench.name), storage,
                     [Objective("accuracy", "max")], Budget(trials=trials), seed=seed)
    start = time.perf_counter()
    done = exp.run()
    seconds = time.perf_counter() - start
    storage.close()
    assert sum(t.status == "complete" for t in done) == trials
    return trials / seconds


def optuna_rate(trials: int, folder: Path, seed: int) -> float:
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    bench = get_benchmark(BENCHMARK)
    space, table = bench.space(), bench.table()

    def objective(trial: optuna.Trial) -> float:
        values = {c.name: trial.suggest_categorical(c.name, list(c.options)) for c in space.choices}
        return table[space.arch(values).body]["accuracy"]

    study = optuna.create_study(storage=f"sqlite:///{folder / f'optuna-{seed}.db'}", direction="maximize",
                                sampler=optuna.samplers.RandomSampler(seed=seed))
    start = time.perf_counter()
    study.optimize(objective, n_trials=trials)
    return trials / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=2000, help="nasforge trials per measurement")
    parser.add_argument("--optuna-trials", type=int, default=300, help="Optuna trials per measurement")
    parser.add_argument("--reps", type=int, default=3)
    args = parser.parse_args()
    logging.getLogger("nasforge").setLevel(logging.WARNING)
    get_benchmark(BENCHMARK).table()  # load the table once, outside the timings
    ours, theirs = [], []
    with tempfile.TemporaryDirectory() as tmp:
        for rep in range(args.reps):
            ours.append(nasforge_rate(args.trials, Path(tmp), rep))
            theirs.append(optuna_rate(args.optuna_trials, Path(tmp), rep))
            print(f"rep {rep}: nasforge {ours[-1]:.0f} trials/s, optuna {theirs[-1]:.1f} trials/s "
                  f"(load {os.getloadavg()[0]:.1f})", flush=True)
    a, b = statistics.median(ours), statistics.median(theirs)
    print(f"nasforge (Experiment + SQLite Storage, random, tabular {BENCHMARK}): {a:.0f} trials/s, "
          f"median of {args.reps}")
    print(f"optuna {__import__('optuna').__version__} (RandomSampler + SQLite RDBStorage): {b:.1f} trials/s, "
          f"median of {args.reps}")
    print(f"ratio nasforge/optuna: {a / b:.1f}x")


if __name__ == "__main__":
    main()
