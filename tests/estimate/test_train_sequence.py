"""Sequence (text) tasks through training, final retraining, export, the fit check and a run."""

from __future__ import annotations

import json
import math

import numpy as np
import onnxruntime as ort
import pytest
import torch

from nasforge.estimate.base import IncompatibleError
from nasforge.estimate.recipe import Recipe
from nasforge.estimate.train import TrainingEvaluator, TrainSettings
from nasforge.estimate.trainer import accuracy, fit
from nasforge.run.finalize import retrain_and_export
from nasforge.run.fit import build_error
from nasforge.space import get_space
from nasforge.task.text import decode, stdlib_text, text_task

ARCH = "gpt:e32|h2r2"


@pytest.fixture(scope="module")
def task():
    return text_task(stdlib_text()[:24_000], name="stdlib-24k", context=16)


def test_token_accuracy_and_loss_are_per_token():
    logits = torch.log(torch.tensor([[[0.7, 0.2, 0.1], [0.1, 0.1, 0.8]], [[0.5, 0.25, 0.25], [0.2, 0.6, 0.2]]]))
    target = torch.tensor([[0, 1], [2, 1]])
    acc, loss = accuracy(lambda x: logits, torch.zeros(2, 2, dtype=torch.long), target)
    assert acc == pytest.approx(2 / 4)  # positions 1 and 4 are argmax hits
    assert loss == pytest.approx(-(math.log(0.7) + math.log(0.1) + math.log(0.25) + math.log(0.6)) / 4)


def test_training_reports_perplexity_and_learns(task):
    space = get_space("gpt")
    evaluator = TrainingEvaluator(space, task, Recipe(epochs=2, batch_size=32, lr=0.005, label_smoothing=0.0))
    result = evaluator.evaluate(space.parse(ARCH))
    assert result.ok, result.error
    m = result.metrics
    assert m["perplexity"] == pytest.approx(math.exp(m["val_loss"]))
    assert m["perplexity"] < 0.5 * task.num_classes  # far better than guessing uniformly over the vocabulary
    assert 0.2 < m["val_accuracy"] < 1
    assert "perplexity" in evaluator.metric_names()
    assert TrainingEvaluator.default_objectives(TrainSettings(), space) == ["perplexity:min", "params:min"]


def test_mixup_and_shift_are_refused_for_text(task):
    space = get_space("gpt")
    with pytest.raises(IncompatibleError, match="mixup=0.2"):
        TrainingEvaluator.check_space(space, TrainSettings(mixup=0.2))
    TrainingEvaluator.check_space(space, TrainSettings())  # shift -1 means none for text
    model = space.build(space.parse(ARCH), task)
    x, y = torch.from_numpy(task.x_train[:8]), torch.from_numpy(task.y_train[:8])
    with pytest.raises(ValueError, match="shift=2"):
        fit(model, x, y, Recipe(epochs=1, shift=2))


def test_final_retraining_exports_model_vocabulary_and_onnx(task, tmp_path):
    space = get_space("gpt")
    evaluator = TrainingEvaluator(space, task, Recipe(epochs=1, batch_size=32, lr=0.005, label_smoothing=0.0))
    summary = retrain_and_export(space.parse(ARCH), evaluator, 1, tmp_path)
    assert summary["test_perplexity"] == pytest.approx(math.exp(summary["test_loss"]))
    assert summary["onnx_max_abs_diff"] < 1e-4
    vocab = json.loads((tmp_path / "vocab.json").read_text())
    assert vocab["level"] == "char" and vocab["context"] == 16 and vocab["tokens"] == list(task.class_names)
    assert decode(task.x_test[0], vocab["tokens"]) == decode(task.x_test[0], task.class_names)
    session = ort.InferenceSession(str(tmp_path / "model.onnx"), providers=["CPUExecutionProvider"])
    logits = session.run(None, {"input": task.x_test[:3]})[0]
    assert logits.shape == (3, 16, task.num_classes)
    model = space.build(space.parse(ARCH), task)
    model.load_state_dict(torch.load(tmp_path / "model.pt", weights_only=True))
    with torch.no_grad():
        assert np.allclose(model.eval()(torch.from_numpy(task.x_test[:3])).numpy(), logits, atol=1e-4)


def test_space_task_fit_check_knows_token_tasks(task):
    gpt, conv1d = get_space("gpt"), get_space("conv1d")
    assert build_error(gpt, task.input_shape, task.num_classes, task.x_train[:2]) is None
    assert "int64 token ids" in build_error(gpt, (40,), 10)  # float rows of a classification task
    assert "input shape (1, 40)" in build_error(gpt, (1, 40), 10)
    assert build_error(conv1d, task.input_shape, task.num_classes, task.x_train[:2]) is not None


def test_a_search_on_text_runs_end_to_end(tmp_path):
    """``nasforge.search`` on a user's text file with gpt: two trials, final retraining, report."""
    import nasforge

    corpus = tmp_path / "corpus.txt"
    corpus.write_text(stdlib_text()[:12_000], encoding="utf-8")
    result = nasforge.search(f"text:{corpus},context=16", "gpt", "random", trials=2,
                             evaluator_settings={"epochs": 1, "final_epochs": 1},
                             run_dir=tmp_path / "run", progress=False)
    config = (tmp_path / "run" / "config.yaml").read_text()
    assert "batch_size: 32" in config and "final_epochs: 1" in config  # gpt's defaults; the given value wins
    assert [t.status for t in result.trials] == ["complete", "complete"]
    assert all("perplexity" in t.metrics for t in result.trials)
    summary = json.loads((tmp_path / "run" / "best" / "summary.json").read_text())
    assert summary["task"] == "corpus" and summary["test_perplexity"] > 1
    assert (tmp_path / "run" / "best" / "vocab.json").is_file() and (tmp_path / "run" / "report.html").is_file()


def test_other_evaluators_and_extended_spaces_refuse_or_adapt_for_text():
    from nasforge.estimate.proxies.evaluator import ProxyEvaluator, ProxySettings

    with pytest.raises(IncompatibleError, match="token ids"):
        ProxyEvaluator.check_space(get_space("gpt"), ProxySettings())
    joint = get_space("joint", base="gpt")
    assert "mixup" not in [c.name for c in joint.choices] and "lr" in [c.name for c in joint.choices]
    with pytest.raises(ValueError, match="mixup"):
        get_space("joint", base="gpt", recipe=["lr", "mixup"])


def test_quantized_spaces_refuse_language_models():
    with pytest.raises(ValueError, match="quant: space 'gpt' builds language models"):
        get_space("quant", base="gpt")
    assert get_space("joint", base="gpt").task_kind == "sequence"
