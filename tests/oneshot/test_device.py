"""One-shot training and inherited-weight scoring honour the run's device.

This machine has no GPU, so the device under test is ``cpu:0``: a device torch accepts whose
``Tensor.to`` / ``Module.to`` return *copies* (``cpu`` returns the tensor itself), and which no
code path asks for unless it was handed the run's device. A spy on ``Tensor.to`` remembers
every tensor moved there; the checks assert that the supernet was moved there and that every
batch the supernet, BN recalibration and the inherited-weight evaluation see is one of those
tensors (or a view of one). The results must equal a plain ``cpu`` run's exactly.
"""

from __future__ import annotations

from typing import Any

import pytest
import torch
from device_spy import DEVICE, DeviceSpy
from oneshot_toys import tiny_spaces, tiny_task

from nasforge.oneshot.base import OneShotSettings, get_method
from nasforge.oneshot.evaluator import SupernetEvaluator
from nasforge.oneshot.io import load_supernet, save_supernet
from nasforge.oneshot.supernet import Supernet, build_supernet

TINY = OneShotSettings(epochs=2, batch_size=12, search_trials=2, calib_batches=2, eval_images=8)


@pytest.fixture
def spy(monkeypatch):
    s = DeviceSpy(monkeypatch, watch=Supernet)
    yield s
    s.close()


@pytest.mark.parametrize("method", ["spos", "darts", "gdas"])
def test_training_moves_the_supernet_and_every_batch_to_the_device(spy, method):
    settings = TINY.model_dump()
    plain = get_method(method, **settings)
    state = plain.begin(tiny_spaces()["nb201"], tiny_task(), "cpu")
    plain.epoch(state)
    spy.inputs.clear()
    moved = get_method(method, **settings)
    moved_state = moved.begin(tiny_spaces()["nb201"], tiny_task(), DEVICE)
    assert moved_state.device == DEVICE and moved_state.supernet in spy.modules
    moved.epoch(moved_state)
    assert spy.inputs, "the supernet saw no batch"
    assert all(spy.moved(x) for x in spy.inputs), "a batch reached the supernet without going to the device"
    assert moved_state.trajectory[0].train_loss == state.trajectory[0].train_loss
    for (name, a), b in zip(state.supernet.state_dict().items(), moved_state.supernet.state_dict().values(),
                            strict=True):
        assert torch.equal(a, b), name


def test_inherited_weight_evaluation_uses_the_device(spy, monkeypatch):
    import nasforge.estimate.trainer as trainer
    import nasforge.oneshot.bn as bn

    task, space = tiny_task(), tiny_spaces()["nb201"]
    supernet = build_supernet(space, task)
    arch = space.parse(space.sample_distinct(1, 0)[0].key)
    plain = SupernetEvaluator(supernet, task, calib_batches=2, batch_size=8).evaluate(arch)
    seen: dict[str, list[torch.Tensor]] = {"calib": [], "val": []}
    prepare, accuracy = bn.prepare_bn, trainer.accuracy

    def prepare_spy(model, mode, batches=()):
        seen["calib"] += list(batches)
        return prepare(model, mode, batches)

    def accuracy_spy(forward, x, y, batch_size=1024):
        seen["val"] += [x, y]
        return accuracy(forward, x, y, batch_size)

    monkeypatch.setattr(bn, "prepare_bn", prepare_spy)
    monkeypatch.setattr(trainer, "accuracy", accuracy_spy)
    moved = SupernetEvaluator(supernet, task, calib_batches=2, batch_size=8, device=DEVICE).evaluate(arch)
    assert supernet in spy.modules
    assert len(seen["calib"]) == 2 and all(spy.moved(x) for x in seen["calib"])
    assert seen["val"] and all(spy.moved(t) for t in seen["val"])
    assert moved.metrics == plain.metrics


def test_a_saved_supernet_loads_onto_the_device(spy, tmp_path):
    task, space = tiny_task(), tiny_spaces()["macro"]
    supernet = build_supernet(space, task).eval()
    path = save_supernet(supernet.to(DEVICE), tmp_path / "s.pt")
    saved = torch.load(path, map_location="cpu", weights_only=True)["state_dict"]
    assert all(t.device == torch.device("cpu") for t in saved.values())
    loaded = load_supernet(path, DEVICE)
    assert loaded in spy.modules
    arch = space.parse("21021021")
    x = torch.from_numpy(task.x_val[:4])
    torch.testing.assert_close(loaded(x, arch), supernet(x, arch), rtol=0, atol=0)


def test_a_oneshot_run_trains_on_the_resolved_device_and_equals_a_cpu_run(spy, monkeypatch, tmp_path):
    import nasforge.run.config as config_module
    from nasforge.api import search

    def run(name: str) -> Any:
        return search(task=tiny_task(), space=tiny_spaces()["nb201"], strategy="spos", run_dir=tmp_path / name,
                      strategy_settings={**TINY.model_dump(include={"epochs", "batch_size", "search_trials",
                                                                    "calib_batches", "eval_images"}),
                                         "search_strategy": "random"},
                      trials=2, final_retrain=False, progress=False, device="cpu")

    plain = run("cpu")
    assert not any(isinstance(m, Supernet) for m in spy.modules)
    resolved = config_module.resolve_device
    monkeypatch.setattr(config_module, "resolve_device", lambda d: DEVICE if d == "cpu" else resolved(d))
    spy.inputs.clear()
    moved = run("device")
    assert any(isinstance(m, Supernet) for m in spy.modules), "the run's supernet never went to the device"
    assert spy.inputs and all(spy.moved(x) for x in spy.inputs)
    assert [(t.arch.key, t.metrics["val_accuracy"]) for t in moved.trials] == \
        [(t.arch.key, t.metrics["val_accuracy"]) for t in plain.trials]
    state = torch.load(tmp_path / "device" / "checkpoint.pt", map_location="cpu", weights_only=True)
    assert state["trajectory"] and all(t.device == torch.device("cpu") for t in state["supernet"].values())
