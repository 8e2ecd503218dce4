"""Joint architecture + quantization + pruning search against a float search followed by uniform
INT8 quantization of its models, at equal training budget (issue 19).

    python benchmarks/quant_fronts.py run --task mnist1d --space conv1d --seeds 0 1 2 --trials 40
    python benchmarks/quant_fronts.py report --task mnist1d

Per seed, two searches of the same strategy (NSGA-II), trials, recipe and seed, both with the
objectives ``val_accuracy:max`` and ``model_bytes:min`` (a float network's ``model_bytes`` is 4
bytes per parameter):

- ``joint``: the ``quant`` space over the base space (per layer group: weight bits, activation
  bits, kept channels); every trial trains in float, is pruned and fine-tuned quantized
  (``qat_epochs``); its Pareto front is retrained (``final_front``: ``final_epochs`` in float,
  then ``final_qat_epochs`` quantized) and tested.
- ``float+int8``: the base space in float; each member of its Pareto front is then quantized
  uniformly (``w8a8k1.0`` in every group) and retrained the same way (``final_epochs`` in float,
  then ``final_qat_epochs`` quantized; :func:`nasforge.run.finalize.retrain_and_export`), so
  both arms' final models get the same training.

Every final model is scored on the test split (the fake-quantized PyTorch network; the QDQ
model's ONNX Runtime accuracy is in its ``summary.json``), its ``model_bytes`` counted and its
INT8 latency measured in ONNX Runtime (backend ``onnx_int8``: ONNX Runtime's static INT8
quantizer, 32-bit layers kept float; batch 1, one thread, CPU clock, :data:`LATENCY`). Per (arm,
seed): the hypervolume of the final models in the planes (1 - test accuracy, log10 model bytes /
log10 B) and (1 - test accuracy, latency / L) up to the reference point (1, 1.1), where B and L
are the largest bytes and latency of any final model of the task (both arms, all seeds), so both
arms share one scale (sizes span orders of magnitude, hence their log). A finished run directory is reused; ``results/`` holds one JSON per (arm, seed).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path
from typing import Any

from nasforge.bench.summary import mean_sd

ROOT = Path("runs/quant-fronts")
#: the train evaluator's settings of both arms (qat_* only matter to quantized networks)
SETTINGS: dict[str, Any] = {"epochs": 10, "final_epochs": 20, "batch_size": 128, "qat_epochs": 2,
                            "final_qat_epochs": 4, "threads": 1}
OBJECTIVES = ["val_accuracy:max", "model_bytes:min"]
LATENCY: dict[str, Any] = {"backend": "onnx_int8", "threads": 1, "batch_size": 1, "warmup": 10, "repeats": 50,
                           "clock": "cpu"}
ARMS = ("joint", "float+int8")
REFERENCE = (1.0, 1.1)


def run_dir(root: Path, task: str, arm: str, seed: int) -> Path:
    return root / task / arm.replace("+", "-") / f"seed{seed}"


def search(task: str, space: str, arm: str, seed: int, trials: int, root: Path, settings: dict[str, Any],
           space_settings: dict[str, Any]) -> Path:
    """The arm's search with its front retrained (resumed or reused if its directory exists)."""
    import nasforge
    from nasforge.run.runner import resume_search

    out = run_dir(root, task, arm, seed)
    if (out / "report.html").is_file():
        return out
    if (out / "trials.db").is_file():
        resume_search(out)
        return out
    if arm == "joint":
        name, kwargs = "quant", {"space_settings": {"base": space, "base_settings": space_settings}}
    else:
        name, kwargs = space, {"space_settings": space_settings}
    nasforge.search(task, name, "nsga2", evaluator_settings=settings, objectives=OBJECTIVES, trials=trials,
                    seed=seed, run_dir=out, final_front=True, progress=False, **kwargs)
    return out


def final_models(out: Path, arm: str, space: str, space_settings: dict[str, Any]) -> list[dict[str, Any]]:
    """The arm's final models: (arch key, test accuracy, model bytes, ONNX Runtime accuracy, folder).
    For ``float+int8`` each front member is first quantized uniformly to 8 bits and retrained."""
    import csv

    from nasforge.run.config import load_config
    from nasforge.run.finalize import final_trainer, finalised, retrain_and_export
    from nasforge.space.quant import QuantSpace
    from nasforge.space.registry import get_space

    rows = list(csv.DictReader((out / "best" / "front.csv").open()))
    models = []
    for row in rows:
        folder = out / "best" / "front" / row["member"]
        if arm == "float+int8":
            base = get_space(space, **space_settings)
            quant = QuantSpace(base)
            arch = quant.join(base.parse(row["arch"]), **{
                n: (8 if n.startswith(("w_bits", "a_bits")) else 1.0) for n in quant.extra_names})
            config = load_config(out / "config.yaml")
            trainer, epochs = final_trainer(config, quant, None)
            trainer.task = config.task
            folder = out / "int8" / row["member"]
            summary = finalised(folder, arch.key, "retrain", epochs) or retrain_and_export(
                arch, trainer, epochs, folder, "train", label=f"uniform INT8, member {row['member']}")
        else:
            summary = json.loads((folder / "summary.json").read_text())
        q = summary["quantized"]
        models.append({"arch": summary["arch"], "test_accuracy": summary["test_accuracy"],
                       "model_bytes": q["model_bytes"], "onnx_test_accuracy": q["onnx_test_accuracy"],
                       "folder": str(folder)})
    return models


def int8_latency(arch_key: str, space: str, space_settings: dict[str, Any], shape: tuple[int, ...]) -> float:
    """Median INT8 latency (ms) of the arch's network in ONNX Runtime (:data:`LATENCY`)."""
    from nasforge.hardware.latency import LatencySettings, measure_latency
    from nasforge.hardware.metrics import TaskShape
    from nasforge.space.quant import QuantSpace

    quant = QuantSpace(space, base_settings=space_settings)
    model = quant.build(quant.parse(arch_key), TaskShape(shape, 10))
    return measure_latency(model, shape, LatencySettings(**LATENCY)).median_ms


def run(args: argparse.Namespace) -> None:
    import torch

    from nasforge.run.fit import known_shape

    torch.set_num_threads(1)
    settings = {**SETTINGS, **dict(_pairs(args.set))}
    space_settings = dict(_pairs(args.space_setting))
    shape = known_shape(args.task)
    if shape is None:
        raise SystemExit(f"task {args.task!r}: give a built-in task (its input shape is needed for latency)")
    results = args.root / args.task / "results"
    results.mkdir(parents=True, exist_ok=True)
    for seed in args.seeds:
        for arm in ARMS:
            target = results / f"{arm.replace('+', '-')}-seed{seed}.json"
            if target.is_file():
                continue
            out = search(args.task, args.space, arm, seed, args.trials, args.root, settings, space_settings)
            models = final_models(out, arm, args.space, space_settings)
            for m in models:
                m["latency_ms"] = int8_latency(m["arch"], args.space, space_settings, shape[0])
            target.write_text(json.dumps({"task": args.task, "space": args.space, "arm": arm, "seed": seed,
                                          "trials": args.trials, "settings": settings, "models": models}, indent=2))
            print(f"{arm} seed {seed}: {len(models)} final models", flush=True)


def hypervolumes(files: list[Path]) -> list[dict[str, Any]]:
    """Per result file: its arm, seed and the two hypervolumes on the shared scale."""
    import numpy as np

    from nasforge.core.pareto import hypervolume

    data = [json.loads(f.read_text()) for f in files]
    models = [m for d in data for m in d["models"]]
    if not models:
        raise SystemExit("no final models in the results")
    scale_bytes = max(m["model_bytes"] for m in models)
    scale_latency = max(m["latency_ms"] for m in models)
    rows = []
    for d in data:
        acc = np.array([1 - m["test_accuracy"] for m in d["models"]])
        size = np.array([np.log10(m["model_bytes"]) / np.log10(scale_bytes) for m in d["models"]])
        latency = np.array([m["latency_ms"] / scale_latency for m in d["models"]])
        rows.append({"arm": d["arm"], "seed": d["seed"], "models": len(d["models"]),
                     "hv_bytes": hypervolume(np.c_[acc, size], REFERENCE),
                     "hv_latency": hypervolume(np.c_[acc, latency], REFERENCE),
                     "best_accuracy": float(1 - acc.min()),
                     "smallest_bytes": float(min(m["model_bytes"] for m in d["models"])),
                     "onnx_gap_points": float(max(abs(m["onnx_test_accuracy"] - m["test_accuracy"]) * 100
                                                  for m in d["models"]))})
    return rows


def report(args: argparse.Namespace) -> None:
    files = sorted((args.root / args.task / "results").glob("*.json"))
    rows = hypervolumes(files)
    print(f"| {args.task} | seeds | HV (acc, bytes) | HV (acc, INT8 latency) | best test acc | smallest bytes | "
          "max ONNX gap (points) |")
    print("|---|---|---|---|---|---|---|")
    for arm in ARMS:
        mine = [r for r in rows if r["arm"] == arm]
        if not mine:
            continue

        def column(key: str, rows: list[dict[str, Any]] = mine) -> str:
            return mean_sd([r[key] for r in rows])

        print(f"| {arm} | {len(mine)} | {column('hv_bytes')} | {column('hv_latency')} | {column('best_accuracy')} | "
              f"{statistics.mean(r['smallest_bytes'] for r in mine):,.0f} | "
              f"{max(r['onnx_gap_points'] for r in mine):.2f} |")
    paired = {(r["seed"], r["arm"]): r for r in rows}
    seeds = sorted({r["seed"] for r in rows if (r["seed"], "joint") in paired and (r["seed"], "float+int8") in paired})
    for key in ("hv_bytes", "hv_latency"):
        wins = sum(paired[(s, "joint")][key] > paired[(s, "float+int8")][key] for s in seeds)
        print(f"\njoint > float+int8 on {key}: {wins} of {len(seeds)} seeds")


def _pairs(items: list[str] | None) -> list[tuple[str, Any]]:
    import yaml

    out = []
    for item in items or []:
        name, sep, value = item.partition("=")
        if not sep:
            raise SystemExit(f"expected NAME=VALUE, got {item!r}")
        out.append((name, yaml.safe_load(value)))
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    for name in ("run", "report"):
        p = sub.add_parser(name)
        p.add_argument("--task", default="mnist1d")
        p.add_argument("--root", type=Path, default=ROOT)
        if name == "run":
            p.add_argument("--space", default="conv1d")
            p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
            p.add_argument("--trials", type=int, default=40)
            p.add_argument("--set", action="append", help="train evaluator setting NAME=VALUE (both arms)")
            p.add_argument("--space-setting", action="append", help="base space setting NAME=VALUE")
    args = parser.parse_args(argv)
    (run if args.command == "run" else report)(args)


if __name__ == "__main__":
    sys.exit(main())
