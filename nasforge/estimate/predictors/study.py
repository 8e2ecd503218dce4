"""The predictor study of White et al. 2021 ("How Powerful are Performance Predictors in NAS?")
on a tabular benchmark: for each seed and training size, fit every predictor on that many
measured archs and rank a held-out test set; report Kendall tau and Spearman rho.

Protocol per seed: ``test_size`` archs drawn at random are the test set; the training sets are
nested prefixes of a random order of the other archs (so size 50 extends size 20); the
pretraining pool is ``pool_size`` archs drawn from the whole space, used with their free
statistics only (never their accuracy). ``seconds`` is the predictor's fit + predict time plus,
for pretrained variants, the whole pretraining time (once per seed, charged to every size).
"""

from __future__ import annotations

import copy
import csv
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from nasforge.estimate.predictors.base import get_predictor, rank_correlations

PRETRAIN_SUFFIX = "+pretrain"
DEFAULT_PREDICTORS = ("gbdt", "rf", "gp", "mlp", "resid_gp")
BASELINES = ("free_stat", "live_stat")  # always reported beside the predictors
REFERENCE = ("constant", "free_stat", "live_stat")  # no seed, nothing to pretrain, features with free statistics
FEATURES = ("onehot+stats", "onehot", "auto+stats")


@dataclass(frozen=True)
class StudyRow:
    """One (predictor, train size, seed) measurement."""

    predictor: str
    train_size: int
    seed: int
    kendall: float
    spearman: float
    seconds: float


def variants(predictors: Sequence[str], pretrain: bool = True) -> list[str]:
    """Each predictor, then its pretrained variant (reference predictors have none), then the
    free-statistic baseline unless it was asked for already."""
    out = []
    for name in predictors:
        out.append(name)
        if pretrain and name not in REFERENCE:
            out.append(name + PRETRAIN_SUFFIX)
    return out + [b for b in BASELINES if b not in out]


def run_seed(benchmark: str, seed: int, train_sizes: Sequence[int], predictors: Sequence[str],
             test_size: int = 1000, pool_size: int = 5000, pretrain: bool = True,
             features: str = "onehot+stats") -> list[StudyRow]:
    """Every predictor variant at every training size for one seed.

    ``features``: ``onehot+stats`` (the encoding plus the free statistics of
    :class:`~nasforge.estimate.predictors.features.Featurizer`), ``onehot`` (the encoding alone;
    free statistics then reach a predictor only through pretraining) or ``auto+stats`` (the
    path encoding too where the space has one, as BANANAS, plus the statistics).
    """
    if features not in FEATURES:
        raise ValueError(f"features must be one of {FEATURES}, got {features!r}")
    from nasforge.estimate.benchmarks import get_benchmark
    from nasforge.estimate.predictors.features import Featurizer
    from nasforge.estimate.predictors.stats import free_stats_for

    bench = get_benchmark(benchmark)
    table = bench.table()
    space = bench.space()
    keys = sorted(table)
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(keys))
    need = max(train_sizes)
    if test_size + need > len(keys):
        raise ValueError(f"{benchmark}: {len(keys)} archs cannot hold a test set of {test_size} "
                         f"and {need} training archs")
    test_keys = [keys[i] for i in order[:test_size]]
    train_keys = [keys[i] for i in order[test_size:test_size + need]]
    pool_keys = [keys[i] for i in rng.choice(len(keys), size=min(pool_size, len(keys)), replace=False)]
    encoding = "auto" if features == "auto+stats" else "onehot"
    with_stats = Featurizer(space, free_stats_for(space, benchmark), encoding=encoding)
    pool = [space.parse(k) for k in pool_keys]
    test = [space.parse(k) for k in test_keys]
    train = [space.parse(k) for k in train_keys]
    with_stats.fit(pool)
    s_pool = with_stats.free_stats(pool)
    plain = Featurizer(space) if features == "onehot" else with_stats
    data = {f: (f.transform(pool), f.transform(train), f.transform(test)) for f in {plain, with_stats}}
    y_test = np.array([table[k]["accuracy"] for k in test_keys])
    y_train = np.array([table[k]["accuracy"] for k in train_keys])

    rows = []
    for variant in variants(predictors, pretrain):
        name, pre = variant.removesuffix(PRETRAIN_SUFFIX), variant.endswith(PRETRAIN_SUFFIX)
        settings = {"seed": seed} if name not in REFERENCE else {}
        if pre:
            settings["pretrained"] = True
        x_pool, x_train, x_test = data[with_stats if name in REFERENCE else plain]
        template = get_predictor(name, **settings)
        start = time.perf_counter()
        template.pretrain(x_pool, s_pool)
        pretrain_seconds = time.perf_counter() - start
        for n in train_sizes:
            model = copy.deepcopy(template)
            start = time.perf_counter()
            model.fit(x_train[:n], y_train[:n])
            predicted = model.predict(x_test)
            seconds = time.perf_counter() - start + pretrain_seconds
            tau, rho = rank_correlations(y_test, predicted)
            rows.append(StudyRow(variant, n, seed, tau, rho, seconds))
    return rows


def _run_seed_args(args: tuple) -> list[StudyRow]:
    import torch

    torch.set_num_threads(1)
    return run_seed(*args)


def run_study(benchmark: str, train_sizes: Sequence[int], seeds: int, predictors: Sequence[str] = DEFAULT_PREDICTORS,
              test_size: int = 1000, pool_size: int = 5000, pretrain: bool = True, features: str = "onehot+stats",
              workers: int = 1, on_seed: Callable[[int], None] | None = None) -> list[StudyRow]:
    """All seeds ``0..seeds-1`` (over ``workers`` processes); rows in seed order."""
    jobs = [(benchmark, s, list(train_sizes), list(predictors), test_size, pool_size, pretrain, features)
            for s in range(seeds)]
    out: dict[int, list[StudyRow]] = {}
    if workers <= 1:
        for job in jobs:
            out[job[1]] = _run_seed_args(job)
            if on_seed:
                on_seed(job[1])
    else:
        import multiprocessing as mp

        with mp.get_context("spawn").Pool(workers) as pool:
            for rows in pool.imap_unordered(_run_seed_args, jobs):
                out[rows[0].seed] = rows
                if on_seed:
                    on_seed(rows[0].seed)
    return [row for s in sorted(out) for row in out[s]]


def read_rows(path: str | Path) -> list[StudyRow]:
    """The rows of a ``predictors_runs.csv`` (to re-summarise or merge studies)."""
    with Path(path).open(newline="") as fh:
        return [StudyRow(r["predictor"], int(r["train_size"]), int(r["seed"]), float(r["kendall"]),
                         float(r["spearman"]), float(r["seconds"])) for r in csv.DictReader(fh)]


def summarise(rows: Sequence[StudyRow]) -> list[dict[str, float | str | int]]:
    """Per (predictor, train size), in first-seen order: mean Kendall tau and Spearman rho over
    seeds, and the *median* seconds (robust to a stall of a shared machine)."""
    groups: dict[tuple[str, int], list[StudyRow]] = {}
    for row in rows:
        groups.setdefault((row.predictor, row.train_size), []).append(row)
    return [{"predictor": p, "train_size": n,
             "kendall": float(np.mean([r.kendall for r in g])), "spearman": float(np.mean([r.spearman for r in g])),
             "seconds": float(np.median([r.seconds for r in g]))} for (p, n), g in groups.items()]


def write_study(rows: Sequence[StudyRow], out_dir: str | Path, title: str = "") -> dict[str, Path]:
    """``predictors.csv`` (means), ``predictors_runs.csv`` (per seed) and ``predictors.png``."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    summary = summarise(rows)
    paths = {"csv": out / "predictors.csv", "runs": out / "predictors_runs.csv", "plot": out / "predictors.png"}
    with paths["csv"].open("w", newline="") as fh:
        writer = csv.DictWriter(fh, ["predictor", "train_size", "kendall", "spearman", "seconds"])
        writer.writeheader()
        writer.writerows({k: (f"{v:.4f}" if isinstance(v, float) else v) for k, v in r.items()} for r in summary)
    with paths["runs"].open("w", newline="") as fh:
        writer = csv.DictWriter(fh, list(StudyRow.__dataclass_fields__))
        writer.writeheader()
        writer.writerows(asdict(r) for r in rows)
    plot_study(summary, paths["plot"], title)
    return paths


def plot_study(summary: Sequence[dict], path: Path, title: str = "") -> None:
    """Kendall tau against training size, one line per predictor (dashed: pretrained)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    names = list(dict.fromkeys(str(r["predictor"]) for r in summary))
    colors = {}
    for name in names:
        base = name.removesuffix(PRETRAIN_SUFFIX)
        pts = [(r["train_size"], r["kendall"]) for r in summary if r["predictor"] == name]
        line = ax.plot(*zip(*pts, strict=True), marker="o", label=name, color=colors.get(base),
                       linestyle="--" if name.endswith(PRETRAIN_SUFFIX) else "-")[0]
        colors.setdefault(base, line.get_color())
    ax.set_xscale("log")
    ax.set_xlabel("training archs")
    ax.set_ylabel("Kendall tau (test set)")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, ncol=2)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
