"""Benchmarks of issue 7: weight sharing and differentiable NAS (numbers in docs/benchmarks.md).

    python benchmarks/oneshot.py nb201 --methods darts gdas pcdarts spos random-ws --seeds 0 1 2
    python benchmarks/oneshot.py macro --variants spos sandwich --seeds 0 1 2
    python benchmarks/oneshot.py macro --skeleton default --variants eq-sandwich eq-spos --seeds 0 1 2
    python benchmarks/oneshot.py nb201 --methods darts darts-pt --set epochs=50 --tag=-50ep --seeds 0 1 2
    python benchmarks/oneshot.py nb201 --methods darts --set epochs=50 'early_stop="skip"' --tag=-50ep-es
    python benchmarks/oneshot.py collapse --methods darts-50ep darts-pt-50ep darts-50ep-es
    python benchmarks/oneshot.py memory
    python benchmarks/oneshot.py compute       # training FLOPs of the two macro skeletons
    python benchmarks/oneshot.py rescore --runs runs/oneshot/macro/eq-sandwich/seed0 --set calib_batches=16 --tag=-calib16
    python benchmarks/oneshot.py layout --runs runs/oneshot/macro/eq-sandwich/seed0  # scoring speed, 2 layouts
    python benchmarks/oneshot.py report          # markdown tables from runs/oneshot

Every run is a ``nasforge.search`` run directory of the one-shot method as the strategy
(``runs/oneshot/<study>/<name>/seed<k>``: config.yaml, trials.db with the ``epochs`` table,
checkpoint.pt, supernet.pt, report.html; ``nasforge show``/``report``/``resume`` read it),
without the final retraining. A finished run directory (one with ``report.html``) is skipped;
an interrupted one (a ``trials.db`` without a finished run) is resumed from its last completed
epoch; one that another sweep is running (it holds ``.claim``) is left to it. The settings are
deliberately small (2 shared CPU cores): see ``NB201_SETTINGS``, ``MACRO_SETTINGS`` and the
space settings below; the derived NB201 archs and the ranked macro archs are scored with the
benchmarks' true accuracies of the full-size networks.
"""

from __future__ import annotations

import argparse
import csv
import fcntl
import json
import os
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from nasforge.bench.summary import mean_sd

ROOT = Path("runs/oneshot")
NB201_SPACE = {"channels": 8, "cells": 1}
NB201_SETTINGS = {"epochs": 10, "batch_size": 64, "data_fraction": 0.25, "lr": 0.05, "arch_lr": 1e-2,
                  "search_trials": 60, "calib_batches": 2, "eval_images": 500, "threads": 1}
MACRO_SPACE = {"stem": 8, "head": 128}
#: the macro study needs only the ranking study (``rank_archs``): the run's own inherited-weight
#: search is cut to one trial
MACRO_SETTINGS = {"epochs": 4, "batch_size": 64, "lr": 0.05, "eval_images": 250, "calib_batches": 1,
                  "threads": 1, "search_trials": 1}
#: macro variants: (method, settings overrides, BN modes scored); "How to Train Your Super-Net" axes.
VARIANTS = {
    "spos": ("spos", {"sampling": "uniform"}, ["recalibrate", "train", "running"]),
    "sandwich": ("sandwich", {"sampling": "sandwich", "num_random": 2, "distill": True}, ["recalibrate"]),
    "spos-affine-off": ("spos", {"sampling": "uniform", "bn_affine": False}, ["recalibrate"]),
    "spos-lr0.2": ("spos", {"sampling": "uniform", "lr": 0.2}, ["recalibrate"]),
    "spos-2epochs": ("spos", {"sampling": "uniform", "epochs": 2}, ["recalibrate"]),
    # sandwich runs 4 paths per step: SPOS with 4x the epochs has the same training compute
    "spos-16epochs": ("spos", {"sampling": "uniform", "epochs": 16}, ["recalibrate"]),
}
#: issue 23: variants at the sandwich rule's training compute (4 path passes per step for the
#: skeleton's epochs): (method, overrides, path passes per step); epochs = 4 x epochs / passes, rounded down
#: (never more compute than the sandwich rule).
#: ofa: 1 pass in its first stage, then num_random + a teacher forward (~1/3 pass) in the other two.
EQUAL_COMPUTE = {
    "eq-sandwich": ("sandwich", {"num_random": 2, "distill": True}, 4.0),
    "eq-spos": ("spos", {"sampling": "uniform"}, 1.0),
    "eq-sandwich-bignas": ("sandwich", {"num_random": 2, "distill": True, "zero_init_last_bn": True,
                                        "decay_scope": "largest", "complexity_sampling": True}, 4.0),
    "eq-fewshot": ("fewshot", {"split_on": ["layer_0"]}, 1.0),
    "eq-fewshot-gm": ("fewshot-gm", {"split_on": ["layer_0"], "groups": 2}, 1.0),
    "eq-ofa": ("ofa", {"num_random": 2}, (1 + 2 * (2 + 1 / 3)) / 3),
    # FairNAS: 3 paths a step on macro (3 options per layer)
    "eq-fairnas": ("fairnas", {}, 3.0),
}
#: --skeleton: macro space settings and the sandwich rule's epochs (reduced: the issue-7 proxy;
#: default: `nasforge supernet`'s defaults, the full-width space and 5 epochs)
SKELETONS = {"reduced": (MACRO_SPACE, 4, "macro"), "default": ({}, 5, "macro-default")}
FINISHED = "report.html"  # the last file a run writes (nasforge.run.runner.finish_run)


def _done(out: Path) -> bool:
    return (out / FINISHED).is_file()


def _run_dir(out: Path, start: Callable[[], Any]) -> Any:
    """Start (``start()``) or resume the run in ``out`` unless it is finished or another sweep
    holds it; returns the SearchResult, or ``None`` when this process left the run alone."""
    from nasforge.experiment.run_dir import CONFIG, DB
    from nasforge.run.runner import resume_search

    if _done(out):
        return None
    out.mkdir(parents=True, exist_ok=True)
    fd = os.open(out / ".claim", os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:  # held while this process runs it; a killed process lets go, so its run can resume
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return None
        if _done(out):
            return None
        if (out / DB).is_file() and (out / CONFIG).is_file():
            print(f"resuming {out}", flush=True)
            return resume_search(out)
        return start()
    finally:
        os.close(fd)


def _search(out: Path, method: str, space: str, space_settings: dict, settings: dict, seed: int) -> Any:
    import nasforge

    # a trial budget only: the run ends after its search trials, however loaded the machine
    return _run_dir(out, lambda: nasforge.search(
        "cifar10", space, method, strategy_settings=settings, space_settings=space_settings, seed=seed,
        trials=settings["search_trials"], run_dir=out, final_retrain=False))


def _oneshot(out: Path) -> dict[str, Any]:
    """The run's one-shot record (method, arch, search_seconds, info) and its epochs."""
    from nasforge.experiment.run_dir import DB
    from nasforge.experiment.storage import Storage

    storage = Storage(out / DB)
    try:
        return {**storage.get_meta("oneshot"), "epochs": storage.epochs()}
    finally:
        storage.close()


def _true_accuracy(key: str) -> float | None:
    from nasforge.oneshot.truth import true_metrics
    from nasforge.space.registry import get_space

    truth = true_metrics(get_space(key.split(":", 1)[0]).parse(key))
    return None if truth is None else float(truth["accuracy"])


def run_nb201(methods: list[str], seeds: list[int], root: Path, overrides: dict | None = None,
              tag: str = "") -> None:
    for seed in seeds:
        for method in methods:
            out = root / "nb201" / f"{method}{tag}" / f"seed{seed}"
            settings = {**NB201_SETTINGS, **(overrides or {})}
            if _search(out, method, "nb201", NB201_SPACE, settings, seed) is None:
                continue
            r = _oneshot(out)
            print(f"nb201 {method} seed {seed}: {r['arch']} true {_true_accuracy(r['arch'])} "
                  f"({r['search_seconds']:.0f} s)", flush=True)


def equal_compute_epochs(variant: str, sandwich_epochs: int) -> int:
    """Epochs of ``variant`` (:data:`EQUAL_COMPUTE`) at the path passes of the sandwich rule's
    ``sandwich_epochs`` (4 passes a step), rounded down: never more training compute."""
    return max(1, int(4 * sandwich_epochs // EQUAL_COMPUTE[variant][2]))


def run_macro(variants: list[str], seeds: list[int], root: Path, archs: int, skeleton: str = "reduced",
              overrides: dict | None = None, tag: str = "") -> None:
    """Train each variant's supernet per seed and rank ``archs`` random archs; ``overrides``
    (e.g. ``{"epochs": 32}``) replace the variant's settings, in run folders ``<variant><tag>``."""
    space_settings, epochs, folder = SKELETONS[skeleton]
    for seed in seeds:
        for name in variants:
            out = root / folder / f"{name}{tag}" / f"seed{seed}"
            if name in EQUAL_COMPUTE:
                method, base, _ = EQUAL_COMPUTE[name]
                base = {**base, "epochs": equal_compute_epochs(name, epochs)}
                modes = ["recalibrate"]
            else:
                method, base, modes = VARIANTS[name]
            settings = {**MACRO_SETTINGS, **base, "rank_archs": archs, "rank_bn_modes": modes,
                        **(overrides or {})}
            if _search(out, method, "macro", space_settings, settings, seed) is None:
                continue
            first = _correlations(out)[0]
            print(f"{folder} {name} seed {seed}: kendall {float(first['kendall']):.3f} "
                  f"({_train_seconds(out):.0f} s)", flush=True)


def _correlations(out: Path) -> list[dict[str, str]]:
    with open(out / "correlations.csv", newline="") as fh:
        return list(csv.DictReader(fh))


def _train_seconds(out: Path) -> float:
    """Supernet training seconds: the last epoch's (they count from the start of training)."""
    epochs = _oneshot(out)["epochs"]
    return float(epochs[-1]["seconds"]) if epochs else float("nan")


def run_memory(root: Path, batch: int = 32) -> None:
    """Peak memory of one training step (forward + backward) at the same batch, per supernet."""
    import torch
    import torch.nn.functional as F

    from nasforge.hardware.metrics import TaskShape
    from nasforge.oneshot.macro import MacroSupernet
    from nasforge.oneshot.memory import peak_step_bytes
    from nasforge.oneshot.nb201 import NB201Supernet
    from nasforge.space.registry import get_space

    torch.set_num_threads(1)
    torch.manual_seed(0)
    shape = TaskShape((3, 32, 32), 10)
    x, y = torch.randn(batch, 3, 32, 32), torch.randint(0, 10, (batch,))
    nb201, macro = get_space("nb201", channels=16, cells=5), get_space("macro")
    largest = macro.arch({c.name: 2 for c in macro.choices})
    cases = {  # name: (supernet, NB201 mode or macro mix, arch)
        "DARTS: nb201 full skeleton (16 ch, 5 cells/stage), softmax over 5 ops": (NB201Supernet(nb201, shape), "softmax", None),
        "PC-DARTS K=4: same skeleton": (NB201Supernet(nb201, shape, partial=4, edge_norm=True), "softmax", None),
        "GDAS: same skeleton, one sampled op per edge": (NB201Supernet(nb201, shape), "gumbel", None),
        "DARTS-style output mixing: NAS-Bench-Macro full size": (MacroSupernet(macro, shape), "outputs", None),
        "TangleNAS entangled weight mixing: NAS-Bench-Macro full size": (MacroSupernet(macro, shape), "weights", None),
        "SPOS single path (largest arch): NAS-Bench-Macro full size": (MacroSupernet(macro, shape), "weights", largest),
    }
    rows = []
    for name, (net, mode, arch) in cases.items():
        net.train()
        if isinstance(net, NB201Supernet):
            net.mode = mode
        else:
            net.mix = mode

        def step(net=net, arch=arch) -> None:
            net.zero_grad(set_to_none=True)
            F.cross_entropy(net(x, arch), y).backward()

        step()  # warm-up (allocator, lazy initialisation)
        peak = peak_step_bytes(step)
        rows.append({"step": name, "batch": batch, "peak_mib": peak / 2**20})
        print(f"{name}: {peak / 2**20:.1f} MiB", flush=True)
    (root / "memory.json").parent.mkdir(parents=True, exist_ok=True)
    (root / "memory.json").write_text(json.dumps(rows, indent=1))


def _free_mass(weights: dict) -> float:
    """Mean probability of the parameter-free ops (none, skip_connect, avg_pool_3x3) per edge."""
    return statistics.mean(p[0] + p[1] + p[4] for p in weights.values()) if weights else float("nan")


def report(root: Path) -> None:
    """Markdown tables of every finished run under ``root``."""
    runs: dict[str, list[dict]] = {}
    print("| method | seed | search s | derived architecture | true CIFAR-10 acc | param-free edges | "
          "param-free prob. epoch 1 -> last |\n|---|---|---|---|---|---|---|")
    for path in sorted((root / "nb201").glob("*/seed*")):
        if not _done(path):
            continue
        r = _oneshot(path)
        r["method"] = path.parent.name  # the run folder: method plus any --tag
        r["true_accuracy"] = _true_accuracy(r["arch"])
        runs.setdefault(r["method"], []).append(r)
        r["free_edges"] = _free_edges(r["arch"])
        traj = [t for t in r["epochs"] if t["arch_weights"]]
        mass = f"{_free_mass(traj[0]['arch_weights']):.2f} -> {_free_mass(traj[-1]['arch_weights']):.2f}" if traj else "-"
        print(f"| {r['method']} | {path.name[4:]} | {r['search_seconds']:.0f} | `{r['arch'].split(':', 1)[1]}` | "
              f"{r['true_accuracy']:.2f} | {r['free_edges']}/6 | {mass} |")
    print("\n| method | seeds | true CIFAR-10 acc (mean ± sd) | search s (mean) | param-free edges (mean) |"
          "\n|---|---|---|---|---|")
    for method, rs in runs.items():
        print(f"| {method} | {len(rs)} | {mean_sd([r['true_accuracy'] for r in rs])} | "
              f"{statistics.mean(r['search_seconds'] for r in rs):.0f} | "
              f"{statistics.mean(r['free_edges'] for r in rs):.1f} |")
    print()
    for folder in ("macro", "macro-default"):
        _macro_table(root, folder)
    memory = root / "memory.json"
    if memory.exists():
        print("\n| training step | batch | peak MiB |\n|---|---|---|")
        for row in json.loads(memory.read_text()):
            print(f"| {row['step']} | {row['batch']} | {row['peak_mib']:.1f} |")


#: the settings of the supernet evaluator that ``rescore`` may change
RESCORE_SETTINGS = ("bn_mode", "calib_batches", "batch_size", "eval_images", "eval_split")


def rescore(runs: list[Path], overrides: dict[str, Any], tag: str) -> None:
    """Score the archs of each finished macro run's ``ranking.csv`` again with its saved
    ``supernet.pt``, the run's task and seed and the run's evaluator settings changed by
    ``overrides`` (:data:`RESCORE_SETTINGS`), into ``ranking<tag>.csv``: evaluation choices
    compared on the same trained weights, at no training cost. Prints each file's τ."""
    import yaml

    from nasforge.oneshot.base import OneShotSettings
    from nasforge.oneshot.evaluator import SupernetEvaluator
    from nasforge.oneshot.io import load_supernet
    from nasforge.oneshot.ranking import rank_archs
    from nasforge.run.oneshot import read_ranking, write_ranking
    from nasforge.task import load_task

    unknown = sorted(set(overrides) - set(RESCORE_SETTINGS))
    if unknown:
        raise SystemExit(f"rescore: cannot change {', '.join(unknown)}; it changes {', '.join(RESCORE_SETTINGS)}")
    for out in runs:
        if not _done(out) or not (out / "supernet.pt").is_file():
            raise SystemExit(f"rescore: {out} is not a finished one-shot run with a supernet.pt")
        target = out / f"ranking{tag}.csv"
        if target.exists():
            print(f"{target} exists, kept: {_tau_line(ranking_rows(out, target.name))}", flush=True)
            continue
        config = yaml.safe_load((out / "config.yaml").read_text())
        run = OneShotSettings(**config["strategy_settings"])  # what the run's ranking study used
        settings = {"bn_mode": (run.rank_bn_modes or (run.bn_mode,))[0], "calib_batches": run.calib_batches,
                    "batch_size": 128, "eval_images": run.eval_images, "eval_split": run.eval_split, **overrides}
        supernet = load_supernet(out / "supernet.pt")
        task = load_task(config["task"], seed=config["seed"])
        evaluator = SupernetEvaluator(supernet, task, seed=config["seed"], threads=1, **settings)
        archs = [r.arch for r in read_ranking(out / "ranking.csv", supernet.space)]
        start = time.perf_counter()
        write_ranking(target, rank_archs(evaluator, archs, supernet.space, supernet.shape))
        print(f"{target}: {_tau_line(ranking_rows(out, target.name))} ({len(archs)} archs scored in "
              f"{time.perf_counter() - start:.0f} s)", flush=True)


def layout(runs: list[Path], archs: int = 10) -> None:
    """Seconds to score each finished run's first ``archs`` ranked archs with its own evaluator
    settings, as the supernet evaluator does (channels-last layout) and by hand in the
    contiguous layout (the same subnet, calibration and images), on one thread: the ratio, and
    the largest difference of the two's accuracy and loss."""
    import torch
    import yaml

    from nasforge.estimate.trainer import accuracy
    from nasforge.oneshot.base import OneShotSettings
    from nasforge.oneshot.bn import prepare_bn
    from nasforge.oneshot.evaluator import SupernetEvaluator
    from nasforge.oneshot.io import load_supernet
    from nasforge.run.oneshot import read_ranking
    from nasforge.task import load_task

    torch.set_num_threads(1)
    print("| run | archs | images | contiguous s/arch | channels-last s/arch | speed-up | max abs. difference |\n"
          "|---|---|---|---|---|---|---|")
    for out in runs:
        config = yaml.safe_load((out / "config.yaml").read_text())
        run = OneShotSettings(**config["strategy_settings"])
        supernet = load_supernet(out / "supernet.pt")
        evaluator = SupernetEvaluator(supernet, load_task(config["task"], seed=config["seed"]),
                                      (run.rank_bn_modes or (run.bn_mode,))[0], run.calib_batches, 128,
                                      run.eval_images, config["seed"], threads=1, eval_split=run.eval_split)
        _, images, calib = evaluator._load()
        plain_calib = [x.contiguous() for x in calib]
        plain_images = tuple(t.contiguous() for t in images)
        times = {"contiguous": 0.0, "channels-last": 0.0}
        worst = 0.0
        timed = read_ranking(out / "ranking.csv", supernet.space)[:archs]
        for ranked in timed:
            start = time.perf_counter()
            with torch.no_grad():
                net = prepare_bn(supernet.extract(ranked.arch).to(memory_format=torch.contiguous_format),
                                 evaluator.bn_mode, plain_calib)
                plain = accuracy(net, *plain_images, batch_size=256)
            times["contiguous"] += time.perf_counter() - start
            start = time.perf_counter()
            metrics = evaluator.evaluate(ranked.arch).metrics
            times["channels-last"] += time.perf_counter() - start
            worst = max(worst, abs(plain[0] - metrics["val_accuracy"]), abs(plain[1] - metrics["val_loss"]))
        n = len(timed)
        print(f"| {out} | {n} | {len(images[0])} | {times['contiguous'] / n:.2f} | {times['channels-last'] / n:.2f} | "
              f"{times['contiguous'] / times['channels-last']:.2f} | {worst:.1e} |", flush=True)


def ranking_rows(out: Path, name: str = "ranking.csv") -> list[dict[str, Any]]:
    """The correlation rows of a macro run, recomputed from its ``name`` ranking file (default
    ``ranking.csv``, the first BN mode) with the supernet's scores smoothed by the ``ridge``
    predictor, so runs made before smoothing (or the loss column) existed get those rows too."""
    from nasforge.oneshot.ranking import study_correlations
    from nasforge.run.oneshot import read_ranking
    from nasforge.space.registry import get_space

    with open(out / name, newline="") as fh:
        first = next(csv.DictReader(fh))
    space = get_space(first["arch"].split(":", 1)[0])
    return study_correlations(read_ranking(out / name, space), space)


#: the macro table's columns: (header, predictor, metric)
MACRO_COLUMNS = [("supernet τ", "supernet", "kendall"), ("supernet ρ", "supernet", "spearman"),
                 ("top-10% prec.", "supernet", "precision_top10pct"),
                 ("τ in true top 10%", "supernet", "kendall_top10pct"),
                 ("smoothed τ", "supernet-ridge", "kendall"), ("smoothed ρ", "supernet-ridge", "spearman"),
                 ("supernet+FLOPs τ", "supernet+flops", "kendall"),
                 ("smoothed+FLOPs τ", "supernet-ridge+flops", "kendall"),
                 ("smoothed+FLOPs ρ", "supernet-ridge+flops", "spearman"),
                 ("smoothed+FLOPs top-10% prec.", "supernet-ridge+flops", "precision_top10pct"),
                 ("loss τ", "supernet-loss", "kendall"), ("smoothed loss τ", "supernet-loss-ridge", "kendall"),
                 ("smoothed loss ρ", "supernet-loss-ridge", "spearman"),
                 ("smoothed loss top-10% prec.", "supernet-loss-ridge", "precision_top10pct"),
                 ("pooled τ", "supernet-ridge-pooled", "kendall"),
                 ("pooled loss τ", "supernet-loss-ridge-pooled", "kendall"),
                 ("pooled loss ρ", "supernet-loss-ridge-pooled", "spearman"),
                 ("supernet vs FLOPs τ", "supernet", "kendall@flops")]


def _tau_line(rows: list[dict[str, Any]]) -> str:
    """Kendall τ against the truth of the supernet's accuracy and loss, raw and smoothed, from
    :func:`ranking_rows`; the loss ones only where the file has losses."""
    tau = {r["predictor"]: r["kendall"] for r in rows if r["target"] == "true_accuracy"}
    names = (("supernet", "supernet"), ("smoothed", "supernet-ridge"), ("pooled", "supernet-ridge-pooled"),
             ("loss", "supernet-loss"), ("smoothed loss", "supernet-loss-ridge"),
             ("pooled loss", "supernet-loss-ridge-pooled"))
    return ", ".join(f"{label} τ {tau[name]:.3f}" for label, name in names if name in tau)


def _macro_table(root: Path, folder: str) -> None:
    """The ranking table of the macro runs under ``root / folder`` (nothing when there are none):
    mean ± sd over seeds of each variant's correlations (recomputed by :func:`ranking_rows`)."""
    stats: dict[str, dict[str, list[float]]] = {}
    metrics = ("kendall", "spearman", "precision_top10pct", "kendall_top10pct")
    flops: dict[str, list[float]] = {metric: [] for metric in metrics}  # each run's ranked archs once
    for path in sorted((root / folder).glob("*/seed*")):
        if not _done(path) or not (path / "ranking.csv").is_file():
            continue
        # the run's own ranking, then its other ranking files (further BN modes, rescorings) as rows
        # "variant [file]": other scorings of the same trained supernets
        for ranking in [path / "ranking.csv", *sorted(path.glob("ranking-*.csv"))]:
            variant = path.parent.name + ("" if ranking.name == "ranking.csv" else f" [{ranking.stem}]")
            cell = stats.setdefault(variant, {"train_s": []})
            cell["train_s"].append(_train_seconds(path))
            rows = ranking_rows(path, ranking.name)
            with open(ranking, newline="") as fh:
                scored = [float(r["supernet_accuracy"]) for r in csv.DictReader(fh)]
            print(f"{folder} {variant} {path.name}: {_tau_line(rows)}; mean supernet accuracy "
                  f"{statistics.mean(scored):.3f}")
            for row in rows:
                suffix = "" if row["target"] == "true_accuracy" else f"@{row['target']}"
                for metric in metrics:
                    cell.setdefault(f"{row['predictor']}:{metric}{suffix}", []).append(float(row[metric]))
                    if row["predictor"] == "flops" and ranking.name == "ranking.csv":
                        flops[metric].append(float(row[metric]))
    if not stats:
        return
    print(f"{folder}:\n")
    print(f"FLOPs alone on the same archs (each run's ranked archs): Kendall {mean_sd(flops['kendall'])}, "
          f"Spearman {mean_sd(flops['spearman'])}, top-10% precision {mean_sd(flops['precision_top10pct'])}, "
          f"Kendall within the true top 10% {mean_sd(flops['kendall_top10pct'])}\n")
    print("| variant | seeds | " + " | ".join(h for h, _, _ in MACRO_COLUMNS) + " | train s |")
    print("|---|---|" + "---|" * len(MACRO_COLUMNS) + "---|")
    for variant, c in stats.items():
        cells = [mean_sd(c.get(f"{p}:{m}", [])) for _, p, m in MACRO_COLUMNS]
        print(f"| {variant} | {len(c['train_s'])} | " + " | ".join(cells) + f" | {statistics.mean(c['train_s']):.0f} |")
    print()


def compute(archs: int = 200) -> None:
    """Forward FLOPs of each macro skeleton (mean of ``archs`` random subnets, and the largest),
    and how many reduced-skeleton epochs cost one default epoch of the same method: a method
    runs the same paths per step on either skeleton, so its training FLOPs scale by this ratio."""
    import statistics as st

    from nasforge.hardware.metrics import TaskShape, count_flops
    from nasforge.space.registry import get_space

    shape, means = TaskShape((3, 32, 32), 10), {}
    for name, (space_settings, _, _) in SKELETONS.items():
        space = get_space("macro", **space_settings)
        largest = space.arch({c.name: len(c) - 1 for c in space.choices})
        means[name] = st.mean(count_flops(space.build(a, shape), shape.input_shape)
                              for a in space.sample_distinct(archs, 0))
        print(f"{name}: mean subnet {means[name] / 1e6:.1f} MFLOPs ({archs} random archs), largest "
              f"{count_flops(space.build(largest, shape), shape.input_shape) / 1e6:.1f} MFLOPs")
    print(f"one default epoch = {means['default'] / means['reduced']:.1f} reduced epochs of training FLOPs")


def _free_edges(key: str) -> int:
    """Parameter-free operations (none, skip_connect, avg_pool_3x3) among an NB201 arch's 6 edges."""
    ops = [part.split("~")[0] for part in key.split(":", 1)[1].replace("+", "").split("|") if part]
    return sum(op in ("none", "skip_connect", "avg_pool_3x3") for op in ops)


def collapse(root: Path, folders: list[str], every: int = 5) -> None:
    """The DARTS collapse curve of the nb201 run ``folders`` (method + tag, e.g. ``darts-50ep``):
    at epoch 1 and every ``every``-th epoch, the mean over finished seeds of the parameter-free
    operations' probability per edge, the parameter-free edges of the arg-max arch and that
    arch's true accuracy; then the result (DARTS-PT: its perturbation-selected arch; early
    stopping: the arch where training ended) and the epochs trained."""
    curves: dict[str, list[dict]] = {}
    for folder in folders:
        for path in sorted((root / "nb201" / folder).glob("seed*")):
            if _done(path):
                curves.setdefault(folder, []).append(_oneshot(path))
    if not curves:
        print(f"no finished runs of {folders} under {root / 'nb201'}")
        return
    last = max(len(r["epochs"]) for rs in curves.values() for r in rs)
    marks = sorted({1, *range(every, last + 1, every), last})
    print("Each cell: param-free probability per edge / param-free edges of the arg-max arch (of 6) / its true "
          "CIFAR-10 accuracy, mean over seeds (runs stopped early count up to their last epoch).\n")
    print("| epoch | " + " | ".join(f"{f} ({len(curves[f])} seeds)" for f in curves) + " |")
    print("|---|" + "---|" * len(curves))
    for mark in marks:
        cells = []
        for rs in curves.values():
            at = [r["epochs"][mark - 1] for r in rs if len(r["epochs"]) >= mark]
            if not at:
                cells.append("stopped")
                continue
            mass = statistics.mean(_free_mass(e["arch_weights"]) for e in at)
            free = statistics.mean(_free_edges(e["derived"]) for e in at)
            acc = statistics.mean(_true_accuracy(e["derived"]) for e in at)
            cells.append(f"{mass:.2f} / {free:.1f} / {acc:.2f}")
        print(f"| {mark} | " + " | ".join(cells) + " |")
    result = [mean_sd([_true_accuracy(r["arch"]) for r in rs]) + f" ({statistics.mean(_free_edges(r['arch']) for r in rs):.1f} free)"
              for rs in curves.values()]
    trained = [", ".join(str(len(r["epochs"])) for r in rs) for rs in curves.values()]
    seconds = [f"{statistics.mean(r['search_seconds'] for r in rs):.0f}" for rs in curves.values()]
    print("| result: true acc (param-free edges) | " + " | ".join(result) + " |")
    print("| epochs trained per seed | " + " | ".join(trained) + " |")
    print("| search s (mean) | " + " | ".join(seconds) + " |")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("study", choices=["nb201", "macro", "memory", "report", "collapse", "compute", "rescore",
                                          "layout"])
    parser.add_argument("--runs", nargs="+", type=Path, default=[], help="rescore, layout: finished macro run folders")
    parser.add_argument("--methods", nargs="+", default=["darts", "gdas", "pcdarts", "spos", "random-ws"],
                        help="nb201: the methods to run; collapse: the run folders (method + tag) to plot")
    parser.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=[*VARIANTS, *EQUAL_COMPUTE])
    parser.add_argument("--skeleton", choices=list(SKELETONS), default="reduced",
                        help="macro: the issue-7 reduced supernet (stem 8, head 128, 4 epochs) or the default one")
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--archs", type=int, default=None,
                        help="macro, compute: archs ranked / averaged (default 200); layout: archs timed (default 10)")
    parser.add_argument("--root", type=Path, default=ROOT)
    parser.add_argument("--set", nargs="*", default=[], metavar="NAME=VALUE",
                        help="nb201, macro: override a setting (e.g. epochs=40), the run folder gets --tag; "
                        "rescore: an evaluator setting, the ranking file gets --tag")
    parser.add_argument("--tag", default="", help="suffix of the nb201 and macro run folders, e.g. -40ep")
    args = parser.parse_args(argv)
    import yaml

    overrides = {k: yaml.safe_load(v) for k, v in (item.split("=", 1) for item in args.set)}  # as the CLI's -S
    if args.set and not args.tag:
        parser.error("--set needs a --tag, so the changed runs get folders of their own")
    if args.study == "nb201":
        run_nb201(args.methods, args.seeds, args.root, overrides, args.tag)
    elif args.study == "macro":
        run_macro(args.variants, args.seeds, args.root, args.archs or 200, args.skeleton, overrides, args.tag)
    elif args.study == "collapse":
        collapse(args.root, args.methods)
    elif args.study == "memory":
        run_memory(args.root)
    elif args.study == "rescore":
        rescore(args.runs, overrides, args.tag)
    elif args.study == "layout":
        layout(args.runs, args.archs or 10)
    elif args.study == "compute":
        compute(args.archs or 200)
    else:
        report(args.root)


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    main()
