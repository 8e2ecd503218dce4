"""After a search: retrain the selected architecture on train+val and export it.

Writes ``best/arch.json``, ``best/model.pt`` (state dict), ``best/model.onnx`` (checked against
PyTorch in ONNX Runtime) and ``best/summary.json`` with the test accuracy of the retrained
model: the only place the test split is used.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import numpy as np

from nasforge.core.records import Trial
from nasforge.estimate.train import TrainingEvaluator


def retrain_and_export(trial: Trial, evaluator: TrainingEvaluator, epochs: int, out_dir: Path) -> dict[str, Any]:
    """Retrain ``trial.arch`` on train+val for ``epochs``; score on test; save; return the summary."""
    import torch

    from nasforge.estimate.trainer import accuracy, as_tensors, fit
    from nasforge.hardware.metrics import count_flops, count_params
    from nasforge.run.export import export_onnx, save_state_dict

    out_dir.mkdir(parents=True, exist_ok=True)
    task = evaluator.loaded_task()
    if evaluator.threads:
        torch.set_num_threads(evaluator.threads)
    x = np.concatenate([task.x_train, task.x_val])
    y = np.concatenate([task.y_train, task.y_val])
    recipe = evaluator.effective_recipe(task, epochs=epochs, arch=trial.arch)
    torch.manual_seed(recipe.seed)
    model = evaluator.space.build(trial.arch, task)
    start = time.perf_counter()
    fit(model, *as_tensors(x, y), recipe)
    seconds = time.perf_counter() - start
    test_acc, test_loss = accuracy(model, *as_tensors(task.x_test, task.y_test))
    (out_dir / "arch.json").write_text(trial.arch.to_json() + "\n")
    save_state_dict(model, out_dir / "model.pt")
    onnx_diff = export_onnx(model, task.input_shape, out_dir / "model.onnx", task.x_test[:64])
    summary = {
        "arch": trial.arch.key,
        "values": trial.arch.to_dict(),
        "trial": trial.number,
        "search_metrics": dict(trial.metrics),
        "params": count_params(model),
        "flops": count_flops(model, task.input_shape),
        "test_accuracy": test_acc,
        "test_loss": test_loss,
        "retrain_epochs": epochs,
        "retrain_seconds": seconds,
        "task": task.name,
        "onnx_max_abs_diff": onnx_diff,
    }
    (out_dir / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    return summary
