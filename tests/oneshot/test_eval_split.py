"""What the supernet evaluator scores an arch on: ``eval_split`` (the validation images, or the
validation then the training images) and ``eval_images``; the channels-last layout it scores in
changes no value."""

from __future__ import annotations

import csv

import pytest
import torch
from oneshot_toys import tiny_spaces, tiny_task, tiny_task_for
from pydantic import ValidationError

from nasforge.estimate.trainer import accuracy
from nasforge.oneshot.base import OneShotSettings
from nasforge.oneshot.bn import prepare_bn
from nasforge.oneshot.data import SplitTensors, calibration_batches
from nasforge.oneshot.evaluator import SupernetEvaluator, SupernetSettings
from nasforge.oneshot.supernet import build_supernet
from nasforge.run.oneshot import ranking_study

ARCH = "21021021"


@pytest.fixture(scope="module")
def macro():
    task, space = tiny_task(), tiny_spaces()["macro"]
    torch.manual_seed(0)
    return task, space, build_supernet(space, task)


def _by_hand(supernet, task, arch, x, y, calib_batches=1, batch_size=8, seed=0):
    """The evaluator's metrics computed without it: contiguous layout, the same calibration."""
    data = SplitTensors.of(task)
    calib = calibration_batches(data.x_train, calib_batches, batch_size, seed)
    net = prepare_bn(supernet.extract(arch), "recalibrate", calib)
    with torch.no_grad():
        return accuracy(net, x, y, batch_size=256)


def test_scored_images_are_the_validation_split_then_the_training_split(macro):
    task = macro[0]
    data = SplitTensors.of(task)
    x, y = data.scored("val")
    assert torch.equal(x, data.x_val) and torch.equal(y, data.y_val)
    x, y = data.scored("train+val")
    assert len(x) == len(data.x_val) + len(data.x_train)
    assert torch.equal(x[:len(data.x_val)], data.x_val) and torch.equal(x[len(data.x_val):], data.x_train)
    assert torch.equal(y[len(data.x_val):], data.y_train)
    x, y = data.scored("train+val", 30)  # a limit reaching into the training images
    assert len(x) == 30 and torch.equal(x[24:], data.x_train[:6])
    with pytest.raises(ValueError, match="split must be"):
        data.scored("test")


def test_the_evaluator_scores_what_eval_split_names_with_unchanged_values(macro):
    task, space, supernet = macro
    arch = space.parse(ARCH)
    data = SplitTensors.of(task)
    on_val = SupernetEvaluator(supernet, task, calib_batches=1, batch_size=8).evaluate(arch).metrics
    acc, loss = _by_hand(supernet, task, arch, data.x_val, data.y_val)
    assert on_val["val_accuracy"] == pytest.approx(acc) and on_val["val_loss"] == pytest.approx(loss, rel=1e-5)
    both = SupernetEvaluator(supernet, task, calib_batches=1, batch_size=8, eval_split="train+val").evaluate(arch).metrics
    acc, loss = _by_hand(supernet, task, arch, *data.scored("train+val"))
    assert both["val_accuracy"] == pytest.approx(acc) and both["val_loss"] == pytest.approx(loss, rel=1e-5)
    assert both != on_val  # 48 images are not the 24 validation ones
    # the validation images come first: limited to them, train+val scores exactly as val does
    first = SupernetEvaluator(supernet, task, calib_batches=1, batch_size=8, eval_split="train+val",
                              eval_images=len(data.x_val)).evaluate(arch).metrics
    assert first == on_val


def test_channels_last_leaves_sequence_tasks_alone():
    task, space = tiny_task_for("gpt"), tiny_spaces()["gpt"]
    supernet = build_supernet(space, task)
    arch = space.sample_distinct(1, 0)[0]
    result = SupernetEvaluator(supernet, task, calib_batches=1, batch_size=8, eval_split="train+val").evaluate(arch)
    assert result.ok and {"val_accuracy", "val_loss", "perplexity"} <= set(result.metrics)


def test_an_unknown_split_is_refused_by_every_entry():
    with pytest.raises(ValueError, match="eval_split must be one of"):
        SupernetEvaluator("s.pt", "cifar10", eval_split="test")
    with pytest.raises(ValidationError, match="eval_split"):
        SupernetSettings(path="s.pt", eval_split="test")
    with pytest.raises(ValidationError, match="eval_split"):
        OneShotSettings(eval_split="test")


def test_the_ranking_study_scores_on_the_runs_split(macro, tmp_path):
    task, space, supernet = macro
    files = {}
    for split in ("val", "train+val"):
        out = tmp_path / split
        out.mkdir()
        ranking_study(supernet, task, OneShotSettings(rank_archs=6, calib_batches=1, eval_split=split), out)
        with open(out / "ranking.csv", newline="") as fh:
            files[split] = list(csv.DictReader(fh))
    assert [r["arch"] for r in files["val"]] == [r["arch"] for r in files["train+val"]]
    # 24 validation images give accuracies in 1/24ths; 48 images also give 1/48ths
    assert all(float(r["supernet_accuracy"]) * 24 == pytest.approx(round(float(r["supernet_accuracy"]) * 24), abs=1e-4)
               for r in files["val"])
    assert [r["supernet_loss"] for r in files["val"]] != [r["supernet_loss"] for r in files["train+val"]]
