"""The Python API: nasforge.search with built-in names, a custom space and in-memory data."""

from __future__ import annotations

import numpy as np
import torch

import nasforge
from nasforge import Space, task_from_arrays


def test_custom_space_and_arrays(tmp_path):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((300, 12)).astype(np.float32)
    y = (x[:, :3].sum(1) > 0).astype(np.int64)

    def build(arch, task):
        return torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(12, arch["width"]), torch.nn.ReLU(),
                                   torch.nn.Linear(arch["width"], task.num_classes))

    space = Space({"width": [2, 8, 32], "unused": ["a", "b"]}, build=build, name="mlp")
    task = task_from_arrays(x, y, name="toy")
    result = nasforge.search(task, space, "random", trials=4, run_dir=tmp_path / "r",
                             evaluator={"epochs": 20, "final_epochs": 20, "batch_size": 32}, objectives=["val_accuracy:max"])
    assert len(result.trials) == 4
    assert result.best is not None and result.best.arch.space == "mlp"
    assert result.pareto_front[0] == result.best
    assert result.summary["test_accuracy"] > 0.6
    assert (tmp_path / "r" / "best" / "model.onnx").is_file()


def test_search_by_name(tmp_path):
    result = nasforge.search("mnist1d", "conv1d", "evolution", trials=3, run_dir=tmp_path / "r",
                             evaluator={"epochs": 1}, final_retrain=False,
                             strategy_settings={"population_size": 2, "sample_size": 1})
    assert [t.status for t in result.trials] == ["complete"] * 3
    assert result.summary is None and result.best in result.pareto_front


def test_without_a_task_the_space_brings_its_own(tmp_path):
    """As on the CLI: ``search(space="nb201", ...)`` searches the space's task, not MNIST-1D."""
    import yaml

    nasforge.search(space="nb201", evaluator="tabular", trials=2, run_dir=tmp_path / "nb", progress=False)
    assert yaml.safe_load((tmp_path / "nb" / "config.yaml").read_text())["task"] == "cifar10"
