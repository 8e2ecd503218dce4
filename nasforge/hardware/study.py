"""Latency study: measure sampled archs, fit the estimators on a split, score them held out.

Protocol (``latency_study``): sample distinct archs with a seeded generator; split them into
train and held-out sets; profile the lookup table's blocks; measure every arch in ``rounds``
interleaved rounds (each round visits the archs in a fresh random order and adds
``repeats / rounds`` timed runs to the arch's pool, so slow spells of a shared machine spread
over all archs instead of biasing some; models are built once and kept for all rounds, in
random groups of at most 400 to bound memory); the measured latency is the median of the pool
(``statistic="min"``: its minimum, the steadier figure on a loaded machine, where other
processes only ever add time; the advice of Python's ``timeit``). The
held-out archs are measured twice, in separate pools, and the second measurement is scored as
if it were an estimator ("repeat"): that is the run-to-run noise the estimators are read
against. Estimators: ``lut`` (sum of blocks), ``lut_linear`` (``a * lut + b`` fitted on the
train set) and ``gbdt`` (the learned predictor). A space without a block decomposition (e.g.
``gpt``) has no table: only ``gbdt`` (on the network's FLOPs, parameters and layers) is scored.
Scores: Kendall tau, share of held-out archs within +-10 % of measured, mean absolute
percentage error.
"""

from __future__ import annotations

import csv
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from nasforge.hardware.latency import LatencySettings, measure_latency
from nasforge.space.arch import Arch
from nasforge.space.blocks import BlockSpace

Progress = Callable[[str, int, int], None]
#: how a pool of timed runs becomes one latency
STATISTICS: dict[str, Callable[[Any], Any]] = {"median": np.median, "min": np.min}
#: Untimed runs before each later visit of a model (its first visit uses the settings' warm-up).
REWARM = 2


@dataclass(frozen=True)
class StudyResult:
    """Per-arch measurement rows and per-estimator accuracy rows (plain dicts, CSV-ready)."""

    measurements: list[dict[str, Any]]
    accuracy: list[dict[str, Any]]


def score(predicted: Sequence[float], measured: Sequence[float]) -> dict[str, float]:
    """Kendall tau, share within +-10 %, and mean absolute percentage error."""
    from nasforge.core.ranking import rank_correlations

    p, y = np.asarray(predicted, dtype=float), np.asarray(measured, dtype=float)
    rel = np.abs(p / y - 1.0)
    return {"kendall_tau": rank_correlations(p, y, undefined=float("nan"))[0],
            "within_10pct": float(np.mean(rel <= 0.10)),
            "mape": float(np.mean(rel))}


def latency_study(space: Any, samples: int = 300, settings: LatencySettings | None = None,
                  rounds: int = 10, train_fraction: float = 0.7, seed: int = 0,
                  input_shape: tuple[int, ...] | None = None, num_classes: int | None = None,
                  progress: Progress | None = None, statistic: str = "median") -> StudyResult:
    """Run the protocol of the module docstring; ``progress(stage, done, total)`` is told."""
    if statistic not in STATISTICS:
        raise ValueError(f"statistic must be one of {sorted(STATISTICS)}, got {statistic!r}")
    from nasforge.hardware.predictor import LatencyPredictor
    from nasforge.hardware.table import LatencyTable

    settings = settings or LatencySettings()
    if not 0.0 < train_fraction < 1.0:
        raise ValueError(f"train_fraction must be in (0, 1), got {train_fraction}")
    archs = space.sample_distinct(samples, seed)
    n_train = int(round(train_fraction * len(archs)))
    if n_train < 2 or len(archs) - n_train < 2:
        raise ValueError(f"{len(archs)} archs are too few for a train / held-out split")
    split = ["train"] * n_train + ["test"] * (len(archs) - n_train)
    tell = progress or (lambda stage, done, total: None)

    table = None
    if isinstance(space, BlockSpace):
        table = LatencyTable(settings, rounds=rounds).setup(space, input_shape, num_classes)
        table.profile(archs, progress=lambda done, total: tell("profile blocks", done, total))
    gbdt = LatencyPredictor(settings, table=table, seed=seed).setup(space, input_shape, num_classes)
    measured, spread, again = _measure(gbdt, archs, split, settings, rounds, seed, tell, STATISTICS[statistic])

    train = [i for i, s in enumerate(split) if s == "train"]
    test = [i for i, s in enumerate(split) if s == "test"]
    estimates: dict[str, np.ndarray] = {}
    if table is not None:
        lut = np.array([table.predict(a) for a in archs])
        slope, intercept = np.polyfit(lut[train], measured[train], 1)
        estimates.update(lut=lut, lut_linear=slope * lut + intercept)
    gbdt.fit([archs[i] for i in train], measured[train])
    estimates["gbdt"] = np.array([gbdt.predict(a) for a in archs])

    rows = []
    for i, arch in enumerate(archs):
        if table is not None:
            costs = table.block_costs(arch)
            flops, params = sum(c["flops"] for c in costs), sum(c["params"] for c in costs)
        else:
            flops, params, _ = gbdt.static_costs(arch)
        rows.append({"key": arch.key, "split": split[i], "latency_ms": measured[i],
                     "iqr_ms": spread[i], "repeat_ms": again.get(i, ""),
                     **{f"{name}_ms": est[i] for name, est in estimates.items()},
                     "flops": flops, "params": params})
    accuracy = [{"estimator": "repeat", "n_train": 0, "n_test": len(test),
                 **score([again[i] for i in test], measured[test])}]
    for name, est in estimates.items():
        accuracy.append({"estimator": name, "n_train": 0 if name == "lut" else len(train),
                         "n_test": len(test), **score(est[test], measured[test])})
    return StudyResult(rows, accuracy)


def _measure(bound: Any, archs: list[Arch], split: list[str], settings: LatencySettings,
             rounds: int, seed: int, tell: Progress, reduce: Callable[[Any], Any] = np.median,
             group: int = 400) -> tuple[np.ndarray, np.ndarray, dict[int, float]]:
    rng = np.random.default_rng(seed + 1)
    rounds = max(1, rounds)
    first = replace(settings, repeats=max(1, settings.repeats // rounds))
    again = replace(first, warmup=min(REWARM, settings.warmup))
    # Held-out archs are measured twice, in separate pools: pool 0 is the measurement,
    # pool 1 the repeat. Models live for their group's rounds (bounded memory).
    pools: dict[tuple[int, int], list[float]] = {}
    total, done = (len(archs) + split.count("test")) * rounds, 0
    order = rng.permutation(len(archs))
    for start in range(0, len(archs), group):
        members = [int(i) for i in order[start:start + group]]
        models = {i: bound.build(archs[i]) for i in members}
        jobs = [(i, 0) for i in members] + [(i, 1) for i in members if split[i] == "test"]
        warm: set[int] = set()
        for _ in range(rounds):
            for j in rng.permutation(len(jobs)):
                i, pool = jobs[j]
                stats = measure_latency(models[i], bound.shape_.input_shape,
                                        again if i in warm else first)
                warm.add(i)
                pools.setdefault((i, pool), []).extend(stats.samples_ms)
                done += 1
                tell("measure", done, total)
        del models
    measured = np.array([reduce(pools[(i, 0)]) for i in range(len(archs))])
    spread = np.array([np.subtract(*np.percentile(pools[(i, 0)], [75, 25]))
                       for i in range(len(archs))])
    repeat = {i: float(reduce(pools[(i, 1)])) for i, s in enumerate(split) if s == "test"}
    return measured, spread, repeat


def write_study(result: StudyResult, out_dir: str | Path) -> tuple[Path, Path]:
    """Write ``measurements.csv`` and ``accuracy.csv`` into ``out_dir``; returns both paths."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = (out / "measurements.csv", out / "accuracy.csv")
    for path, rows in zip(paths, (result.measurements, result.accuracy), strict=True):
        with path.open("w", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
            writer.writeheader()
            writer.writerows(rows)
    return paths
