"""After a search: finalise the selected architecture as its evaluator says.

- ``retrain`` (after ``train``, ``proxy``, ``supernet``, ``predictor``): train it from scratch on
  train+validation (the search's own recipe with ``final_epochs`` after ``train``; the
  ``retrain`` recipe after the others, whose search trained nothing), score it on the test split
  (the only use of the test split) and export ``best/arch.json``, ``best/model.pt`` (state
  dict), ``best/model.onnx`` (checked against PyTorch in ONNX Runtime) and ``best/summary.json``.
- ``table`` (after ``tabular``): nothing is trained; ``best/summary.json`` holds the table's
  truth for the architecture (and ``best/arch.json``).
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import numpy as np

from nasforge.core.records import Trial
from nasforge.estimate.base import RunContext
from nasforge.estimate.train import TrainingEvaluator, TrainSettings


def finalise(trial: Trial, config: Any, space: Any, task: Any, out_dir: Path) -> dict[str, Any]:
    """Finalise ``trial`` for the run of ``config`` (see the module docstring); returns the summary."""
    cls = config.evaluator.cls()
    if cls.finalise == "table":
        return table_summary(trial, config, space, out_dir)
    if config.evaluator.name == "train":
        settings = config.evaluator.parsed()
    else:
        settings = TrainSettings.model_validate(config.retrain)
    trainer = TrainingEvaluator.for_run(RunContext(space, task, config.seed, config.device), settings)
    return retrain_and_export(trial, trainer, settings.final_epochs, out_dir,
                              searched_with=config.evaluator.name)


def table_summary(trial: Trial, config: Any, space: Any, out_dir: Path) -> dict[str, Any]:
    """``best/summary.json`` of a tabular search: the table's truth of the selected architecture."""
    settings = config.evaluator.parsed()
    evaluator = config.evaluator.cls().for_run(RunContext(space), settings)
    truth = evaluator.evaluate(trial.arch)
    summary = {
        "kind": "table",
        "arch": trial.arch.key,
        "values": trial.arch.to_dict(),
        "trial": trial.number,
        "search_metrics": dict(trial.metrics),
        "benchmark": evaluator.benchmark,
        "truth": dict(truth.metrics),
    }
    out_dir.mkdir(parents=True, exist_ok=True)
    write_atomic(out_dir / "arch.json", trial.arch.to_json() + "\n")
    write_atomic(out_dir / "summary.json", json.dumps(summary, indent=2) + "\n")
    return summary


def retrain_and_export(trial: Trial, evaluator: TrainingEvaluator, epochs: int, out_dir: Path,
                       searched_with: str = "train") -> dict[str, Any]:
    """Retrain ``trial.arch`` on train+val for ``epochs``; score on test; save; return the summary."""
    import torch

    from nasforge.estimate.trainer import accuracy, as_tensors, fit
    from nasforge.hardware.metrics import count_flops, count_params
    from nasforge.run.export import export_onnx, save_state_dict

    out_dir.mkdir(parents=True, exist_ok=True)
    task = evaluator.loaded_task()
    device = evaluator.device
    if evaluator.threads:
        torch.set_num_threads(evaluator.threads)
    x = np.concatenate([task.x_train, task.x_val])
    y = np.concatenate([task.y_train, task.y_val])
    recipe = evaluator.effective_recipe(task, epochs=epochs, arch=trial.arch)
    torch.manual_seed(recipe.seed)
    model = evaluator.space.build(trial.arch, task).to(device)
    start = time.perf_counter()
    fit(model, *(t.to(device) for t in as_tensors(x, y)), recipe)
    seconds = time.perf_counter() - start
    test_acc, test_loss = accuracy(model, *(t.to(device) for t in as_tensors(task.x_test, task.y_test)))
    model = model.cpu()
    save_state_dict(model, out_dir / "model.pt")
    onnx_diff = export_onnx(model, task.input_shape, out_dir / "model.onnx", task.x_test[:64])
    summary = {
        "kind": "retrain",
        "arch": trial.arch.key,
        "values": trial.arch.to_dict(),
        "trial": trial.number,
        "searched_with": searched_with,
        "search_metrics": dict(trial.metrics),
        "params": count_params(model),
        "flops": count_flops(model, task.input_shape),
        "test_accuracy": test_acc,
        "test_loss": test_loss,
        "retrain_epochs": epochs,
        "retrain_seconds": seconds,
        "task": task.name,
        "device": device,
        "onnx_max_abs_diff": onnx_diff,
    }
    write_atomic(out_dir / "arch.json", trial.arch.to_json() + "\n")
    write_atomic(out_dir / "summary.json", json.dumps(summary, indent=2) + "\n")
    return summary


def write_atomic(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` through a temporary file renamed over it: a reader (or a crash)
    never sees a half-written file."""
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        with open(tmp, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            import os

            os.fsync(fh.fileno())
        tmp.replace(path)
    finally:
        tmp.unlink(missing_ok=True)
