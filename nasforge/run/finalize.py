"""After a search: finalise the selected architecture as its evaluator says.

- ``retrain`` (after ``train``, ``proxy``, ``supernet``, ``predictor``): train it from scratch on
  train+validation (the search's own recipe with ``final_epochs`` after ``train``; the
  ``retrain`` recipe after the others, whose search trained nothing), score it on the test split
  (the only use of the test split) and export ``best/arch.json``, ``best/model.pt`` (state
  dict), ``best/model.onnx`` (checked against PyTorch in ONNX Runtime) and ``best/summary.json``
  (on a sequence task also ``test_perplexity``, and ``best/vocab.json``: the token vocabulary).
- ``table`` (after ``tabular``): nothing is trained; ``best/summary.json`` holds the table's
  truth for the architecture (and ``best/arch.json``).
- ``export`` (after ``lm-subnet``): nothing is trained; the evaluator's ``export`` writes the
  selected sub-network with its inherited weights and ``best/summary.json``.

Finalising is idempotent: an output folder whose ``summary.json`` already holds this
architecture, finalised the same way (kind, and retraining epochs), is kept as it is, so a run
resumed after its final retraining only does what is missing. Every file is written atomically.

A strategy that offers a *constraint family* (``strategy.family()``: one architecture per
resource budget, e.g. FBNetV3) has each member finalised the same way into
``best/family/<i>/``, listed in ``best/family.json`` with its measured resource.
"""

from __future__ import annotations

import json
import math
import time
from pathlib import Path
from typing import Any

import numpy as np

from nasforge.core.atomic import write_text_atomic
from nasforge.core.records import Trial
from nasforge.estimate.base import RunContext
from nasforge.estimate.train import TrainingEvaluator, TrainSettings
from nasforge.run.phases import phase


def finalise(trial: Trial, config: Any, space: Any, task: Any, out_dir: Path) -> dict[str, Any]:
    """Finalise ``trial`` for the run of ``config`` (see the module docstring); returns the summary."""
    if config.evaluator.cls().finalise == "table":
        return finalised(out_dir, trial.arch.key, "table") or table_summary(trial.arch, config, space, out_dir, trial)
    if config.evaluator.cls().finalise == "export":  # the evaluator exports its own network (lm-subnet)
        return config.evaluator.cls().export(trial.arch, config.evaluator.parsed(),
                                             RunContext(space, task, config.seed, config.device), out_dir, trial)
    done = finalised(out_dir, trial.arch.key, "retrain", final_epochs(config))
    if done is not None:
        return done
    trainer, epochs = final_trainer(config, space, task)
    return retrain_and_export(trial.arch, trainer, epochs, out_dir, config.evaluator.name, trial)


def final_epochs(config: Any) -> int:
    """Epochs of the final retraining of ``config``'s run."""
    return int(_final_settings(config).final_epochs)


def finalised(out_dir: Path, arch_key: str, kind: str, epochs: int | None = None) -> dict[str, Any] | None:
    """The summary in ``out_dir`` if it already finalises ``arch_key`` as ``kind`` (with ``epochs``
    of retraining), else None. ``summary.json`` is the last file written, so the rest is there."""
    try:
        summary = json.loads((out_dir / "summary.json").read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(summary, dict) or summary.get("arch") != arch_key or summary.get("kind") != kind:
        return None
    if epochs is not None and summary.get("retrain_epochs") != epochs:
        return None
    files = ("arch.json", "model.pt", "model.onnx") if kind == "retrain" else ("arch.json",)
    return summary if all((out_dir / name).is_file() for name in files) else None


def final_trainer(config: Any, space: Any, task: Any) -> tuple[TrainingEvaluator, int]:
    """The training evaluator and epochs of the final retraining: the search's own recipe after a
    ``train`` search, the ``retrain`` recipe after the others."""
    settings = _final_settings(config)
    return TrainingEvaluator.for_run(RunContext(space, task, config.seed, config.device), settings), settings.final_epochs


def _final_settings(config: Any) -> TrainSettings:
    return config.evaluator.parsed() if config.evaluator.name == "train" else TrainSettings.model_validate(
        config.retrain)


def finalise_family(members: list[dict[str, Any]], resource: str, config: Any, space: Any, task: Any,
                    out_dir: Path) -> list[dict[str, Any]]:
    """Finalise every member of a constraint family into ``out_dir/family/<i>/``; write
    ``out_dir/family.json``: each member's budget, arch, predicted value, resource (as the search
    estimated it and as measured on the final network) and its final result."""
    rows = []
    for i, member in enumerate(members):
        arch = space.parse(member["arch"])
        result = _finalise_member(arch, config, space, task, out_dir / "family" / str(i),
                                  f"family member {i + 1} of {len(members)}")
        if "test_accuracy" in result:
            folder = out_dir / "family" / str(i)
            result[f"measured_{resource}"] = measure(folder, final_trainer(config, space, task)[0], arch, resource)
        rows.append({**member, "result": {k: v for k, v in result.items() if k != "values"}})
    out_dir.mkdir(parents=True, exist_ok=True)
    write_text_atomic(out_dir / "family.json", json.dumps(rows, indent=2) + "\n")
    return rows


def finalise_front(front: list[Trial], objectives: list[Any], config: Any, space: Any, task: Any,
                   out_dir: Path) -> list[dict[str, Any]]:
    """Finalise every Pareto-front trial (config ``final_front``) into ``out_dir/front/<i>/``, in
    the order of the front's first objective's cost (e.g. fewest params first when params is one),
    and write ``out_dir/front.csv``: per member its trial, arch, the search's objective values and
    the final result (test accuracy and params after retraining, or the table's truth). Members
    already finalised the same way are kept (a resumed run only does what is missing)."""
    import csv
    import io

    costs = [o for o in objectives if o.direction == "min"] or list(objectives)
    members = sorted(front, key=lambda t: (float(t.metrics[costs[0].metric]), t.number))
    rows = []
    for i, trial in enumerate(members):
        result = _finalise_member(trial.arch, config, space, task, out_dir / "front" / str(i),
                                  f"front member {i + 1} of {len(members)}", trial)
        row: dict[str, Any] = {"member": i, "trial": trial.number, "arch": trial.arch.key}
        row.update({f"search_{o.metric}": trial.metrics.get(o.metric) for o in objectives})
        final = result.get("truth") if result.get("kind") == "table" else result
        row.update({k: v for k, v in (final or {}).items() if isinstance(v, (int, float)) and not isinstance(v, bool)})
        rows.append(row)
    columns = list(dict.fromkeys(k for row in rows for k in row))
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, columns, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    out_dir.mkdir(parents=True, exist_ok=True)
    write_text_atomic(out_dir / "front.csv", buffer.getvalue())
    return rows


def _finalise_member(arch: Any, config: Any, space: Any, task: Any, folder: Path, what: str,
                     trial: Trial | None = None) -> dict[str, Any]:
    """Finalise one more architecture than the selected one (a family or front member)."""
    if config.evaluator.cls().finalise == "table":
        return finalised(folder, arch.key, "table") or table_summary(arch, config, space, folder, trial)
    if config.evaluator.cls().finalise == "export":
        return config.evaluator.cls().export(arch, config.evaluator.parsed(),
                                             RunContext(space, task, config.seed, config.device), folder, trial)
    trainer, epochs = final_trainer(config, space, task)
    return finalised(folder, arch.key, "retrain", epochs) or retrain_and_export(
        arch, trainer, epochs, folder, config.evaluator.name, trial, label=f"final retraining, {what}")


def measure(folder: Path, trainer: TrainingEvaluator, arch: Any, metric: str) -> float:
    """``metric`` (params, FLOPs, latency...) of ``arch``'s final network, measured here."""
    from nasforge.hardware.metrics import hardware_metrics

    task = trainer.loaded_task()
    model = trainer.space.build(arch, task)
    return float(hardware_metrics(model, tuple(task.input_shape), (metric,))[metric])


def table_summary(arch: Any, config: Any, space: Any, out_dir: Path, trial: Trial | None = None) -> dict[str, Any]:
    """``summary.json`` of a tabular search: the table's truth of the selected architecture."""
    settings = config.evaluator.parsed()
    evaluator = config.evaluator.cls().for_run(RunContext(space), settings)
    truth = evaluator.evaluate(arch)
    summary = {
        "kind": "table",
        "arch": arch.key,
        "values": arch.to_dict(),
        "trial": None if trial is None else trial.number,
        "search_metrics": {} if trial is None else dict(trial.metrics),
        "benchmark": evaluator.benchmark,
        "truth": dict(truth.metrics),
    }
    out_dir.mkdir(parents=True, exist_ok=True)
    write_text_atomic(out_dir / "arch.json", arch.to_json() + "\n")
    write_text_atomic(out_dir / "summary.json", json.dumps(summary, indent=2) + "\n")
    return summary


def retrain_and_export(arch: Any, evaluator: TrainingEvaluator, epochs: int, out_dir: Path,
                       searched_with: str = "train", trial: Trial | None = None,
                       label: str = "final retraining") -> dict[str, Any]:
    """Retrain ``arch`` on train+val for ``epochs`` (its own recipe decisions, if any); score it
    on test; save; return the summary (``trial``: the search's trial of it, if there was one).
    Each epoch, then the export, is announced as phase ``label`` and ``ONNX export``
    (:mod:`nasforge.run.phases`; a family member's with its suffix)."""
    import torch

    from nasforge.estimate.qat import fit_maybe_quantized
    from nasforge.estimate.trainer import accuracy, as_tensors
    from nasforge.hardware.metrics import count_flops, count_params
    from nasforge.run.export import export_onnx, save_state_dict
    from nasforge.space.quantnet import find_quantized

    out_dir.mkdir(parents=True, exist_ok=True)
    task = evaluator.loaded_task()
    device = evaluator.device
    if evaluator.threads:
        torch.set_num_threads(evaluator.threads)
    x = np.concatenate([task.x_train, task.x_val])
    y = np.concatenate([task.y_train, task.y_val])
    recipe = evaluator.effective_recipe(task, epochs=epochs, arch=arch)
    torch.manual_seed(recipe.seed)
    model = evaluator.space.build(arch, task).to(device)
    start = time.perf_counter()
    phase(label, 0, recipe.epochs)
    test_xy = [t.to(device) for t in as_tensors(task.x_test, task.y_test)]
    float_test: dict[str, float] = {}  # a quantized network's float accuracy before pruning and fine-tune
    fit_maybe_quantized(model, *(t.to(device) for t in as_tensors(x, y)), recipe, evaluator.final_qat_epochs,
                        on_epoch=lambda epoch, _model: phase(label, epoch, recipe.epochs) or False,
                        on_float=lambda net: float_test.update(float_test_accuracy=accuracy(net.eval(), *test_xy)[0]))
    seconds = time.perf_counter() - start
    test_acc, test_loss = accuracy(model.eval(), *test_xy)
    model = model.cpu()
    phase("ONNX export" + label.removeprefix("final retraining"))  # ", family member i of n" for a family
    save_state_dict(model, out_dir / "model.pt")
    quantized: dict[str, Any] = {}
    if find_quantized(model) is None:
        onnx_diff = export_onnx(model, task.input_shape, out_dir / "model.onnx", task.x_test[:64])
    else:  # QDQ ONNX, scored on the test split in ONNX Runtime (nasforge.run.quant_export)
        from nasforge.run.quant_export import export_quantized

        quantized = {**float_test, "qat_epochs": evaluator.final_qat_epochs,
                     **export_quantized(model, task.input_shape, out_dir / "model.onnx", task.x_test, task.y_test)}
        onnx_diff = quantized["onnx_max_abs_diff"]
    summary = {
        "kind": "retrain",
        "arch": arch.key,
        "values": arch.to_dict(),
        "trial": None if trial is None else trial.number,
        "searched_with": searched_with,
        "search_metrics": {} if trial is None else dict(trial.metrics),
        "params": count_params(model),
        "flops": count_flops(model, task.input_shape),
        "test_accuracy": test_acc,
        "test_loss": test_loss,
        **({"test_perplexity": math.exp(min(test_loss, 700.0))} if task.is_sequence else {}),
        "retrain_epochs": epochs,
        "retrain_seconds": seconds,
        "task": task.name,
        "device": device,
        "onnx_max_abs_diff": onnx_diff,
        **({"quantized": quantized} if quantized else {}),
    }
    if task.is_sequence:  # the tokens the model reads and writes (nasforge.task.text.decode)
        from nasforge.task.text import vocabulary_record

        write_text_atomic(out_dir / "vocab.json", json.dumps(vocabulary_record(task)) + "\n")
    write_text_atomic(out_dir / "arch.json", arch.to_json() + "\n")
    write_text_atomic(out_dir / "summary.json", json.dumps(summary, indent=2) + "\n")
    return summary
