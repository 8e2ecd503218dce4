"""Few-shot NAS (nasforge.oneshot.fewshot): routing, the budget, gradient matching, files."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from oneshot_toys import tiny_spaces, tiny_task

from nasforge.oneshot.base import get_method
from nasforge.oneshot.evaluator import SupernetEvaluator
from nasforge.oneshot.fewshot import (
    FewShotSupernet,
    balanced_partitions,
    best_partition,
    option_gradients,
)
from nasforge.oneshot.io import load_supernet, save_supernet
from nasforge.oneshot.supernet import build_supernet
from nasforge.run.oneshot import search_supernet

TINY = {"epochs": 3, "batch_size": 12, "search_trials": 2, "calib_batches": 1, "eval_images": 8}


def _archs(space, n=12, seed=0):
    rng = np.random.default_rng(seed)
    return [space.sample(rng) for _ in range(n)]


def test_each_arch_runs_on_the_sub_supernet_that_owns_it():
    space, task = tiny_spaces()["macro"], tiny_task()
    torch.manual_seed(0)
    net = FewShotSupernet(space, task, ["layer_1"], [[[0]], [[1, 2]]]).eval()
    x = torch.randn(4, 3, 8, 8)
    owners = set()
    for arch in _archs(space, 20):
        k = net.owner(arch)
        assert (arch["layer_1"] == 0) == (k == 0)
        owners.add(k)
        out = net(x, arch)
        torch.testing.assert_close(out, net.subnets[k](x, arch), rtol=0, atol=0)
        assert not torch.allclose(out, net.subnets[1 - k](x, arch))  # the other one computes something else
        torch.testing.assert_close(net.extract(arch)(x), out, rtol=1e-5, atol=1e-5)
    assert owners == {0, 1}


def test_groups_must_partition_the_options():
    space, task = tiny_spaces()["macro"], tiny_task()
    with pytest.raises(ValueError, match="belong to no group"):
        FewShotSupernet(space, task, ["layer_0"], [[[0]], [[1]]])
    with pytest.raises(ValueError, match="in groups 0 and 1"):
        FewShotSupernet(space, task, ["layer_0"], [[[0, 1]], [[1, 2]]])
    with pytest.raises(ValueError, match="not options of decision 'layer_0'"):
        FewShotSupernet(space, task, ["layer_0"], [[[0, 1, 2, 3]]])


def _count_steps(monkeypatch):
    calls = []
    step = torch.optim.SGD.step
    monkeypatch.setattr(torch.optim.SGD, "step", lambda self, *a, **k: (calls.append(1), step(self, *a, **k))[1])
    return calls


@pytest.mark.parametrize("method", ["fewshot", "fewshot-gm"])
def test_total_steps_equal_the_one_shot_runs(method, monkeypatch):
    space, task = tiny_spaces()["mbconv"], tiny_task()
    calls = _count_steps(monkeypatch)
    spos = get_method("spos", **TINY)
    state = spos.begin(space, task)
    while state.epochs_done < spos.settings.epochs:
        spos.epoch(state)
    one_shot = len(calls)
    calls.clear()
    few = get_method(method, **TINY, warmup_fraction=0.3)
    result = few.train(space, task, search=search_supernet)
    assert one_shot == 6 and len(calls) == one_shot
    info = result.info
    assert info["warmup_steps"] == 2 and info["warmup_steps"] + sum(info["sub_steps"]) == one_shot
    assert len(info["sub_steps"]) == len(info["groups"]) == (3 if method == "fewshot" else 2)
    assert max(info["sub_steps"]) - min(info["sub_steps"]) <= 1
    assert isinstance(result.supernet, FewShotSupernet)


def test_balanced_min_cut_partition():
    assert len(list(balanced_partitions(4, 2))) == 3  # {01|23, 02|13, 03|12}
    assert len(list(balanced_partitions(5, 2))) == 10  # sizes 2+3
    sim = np.array([[1, .9, -.2, -.1, 0], [.9, 1, -.3, 0, .1], [-.2, -.3, 1, .8, .7],
                    [-.1, 0, .8, 1, .6], [0, .1, .7, .6, 1]])
    assert best_partition(sim, 2) == [[0, 1], [2, 3, 4]]
    assert best_partition(sim[:2, :2], 3) == [[0], [1]]  # at most one group per option


def test_option_gradients_are_cosines_and_leave_the_supernet_as_it_was():
    space, task = tiny_spaces()["nb201"], tiny_task()
    torch.manual_seed(0)
    net = build_supernet(space, task)
    before = {k: v.clone() for k, v in net.state_dict().items()}
    x, y = torch.tensor(task.x_train[:12]), torch.tensor(task.y_train[:12])
    sim = option_gradients(net, "edge_1_0", [(x, y)], _archs(space, 1))
    assert sim.shape == (5, 5) and np.allclose(np.diag(sim), 1) and np.allclose(sim, sim.T)
    assert np.all(np.abs(sim) <= 1 + 1e-9) and not np.allclose(sim, 1)
    after = net.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)
    assert all(p.grad is None for p in net.parameters())


def test_gradient_matching_split_saves_and_loads_with_every_sub_supernet(tmp_path):
    space, task = tiny_spaces()["macro"], tiny_task()
    result = get_method("fewshot-gm", **TINY, warmup_fraction=0.5, split_on=("layer_2",)).train(
        space, task, search=search_supernet)
    net = result.supernet
    assert sorted(sum((g[0] for g in net.groups), [])) == [0, 1, 2] and len(net.groups) == 2
    assert np.array(result.info["similarity"]["layer_2"]).shape == (3, 3)
    path = save_supernet(net, tmp_path / "fs.pt")
    back = load_supernet(path)
    assert isinstance(back, FewShotSupernet) and back.groups == net.groups and back.split_on == ("layer_2",)
    net.eval()
    x = torch.tensor(task.x_val[:6])
    for arch in _archs(space, 6):
        torch.testing.assert_close(back(x, arch), net(x, arch), rtol=0, atol=0)
        live = SupernetEvaluator(net, task, calib_batches=1, batch_size=12).evaluate(arch).metrics
        saved = SupernetEvaluator(str(path), task, calib_batches=1, batch_size=12).evaluate(arch).metrics
        assert live == pytest.approx(saved)


def test_bad_few_shot_settings_are_refused_before_training():
    space, task = tiny_spaces()["mbconv"], tiny_task()
    with pytest.raises(ValueError, match=r"split_on: space 'mbconv' has no decision\(s\) \['depth_9'\]"):
        get_method("fewshot", **TINY, split_on=("depth_9",)).begin(space, task)
    with pytest.raises(ValueError, match=r"split_on: decision\(s\) \['kernel_1_1'\] are inactive"):
        get_method("fewshot", **TINY, split_on=("kernel_1_1",)).begin(space, task)
    with pytest.raises(ValueError, match="groups: the exhaustive few-shot split"):
        get_method("fewshot", groups=2)
    with pytest.raises(ValueError, match="cannot train 6 sub-supernets"):
        get_method("fewshot", **TINY, split_on=("width", "depth_0")).begin(space, task)
    with pytest.raises(ValueError, match="warmup_fraction"):
        get_method("fewshot-gm", warmup_fraction=1.0)


def test_cli_supernet_few_shot_file_serves_the_supernet_evaluator_for_a_strategy(tmp_path):
    """``nasforge supernet --method fewshot-gm`` writes a run whose supernet.pt holds the
    sub-supernets; a search with ``--evaluator supernet`` and another strategy reads it."""
    from typer.testing import CliRunner

    from nasforge.cli import app

    runner = CliRunner()
    out = tmp_path / "fs"
    res = runner.invoke(app, ["supernet", "--space", "macro", "-P", "stem=4", "-P", "head=8", "--method", "fewshot-gm",
                              "--epochs", "1", "--rank-archs", "4", "--task", "cifar10", "--threads", "1",
                              "-S", "data_fraction=0.02", "-S", "split_on=[layer_0]", "-S", "warmup_fraction=0.25",
                              "-S", "eval_images=16", "-S", "search_trials=2", "-S", "calib_batches=1",
                              "--out", str(out)])
    assert res.exit_code == 0, res.output
    net = load_supernet(out / "supernet.pt")
    assert isinstance(net, FewShotSupernet) and len(net.subnets) == 2 and net.split_on == ("layer_0",)
    res = runner.invoke(app, ["search", "--space", "macro", "-P", "stem=4", "-P", "head=8", "--task", "cifar10",
                              "--strategy", "local", "--evaluator", "supernet", "-E", f"path={out / 'supernet.pt'}",
                              "-E", "calib_batches=1", "-E", "eval_images=16", "--trials", "3", "--no-final-retrain",
                              "--out", str(tmp_path / "search")])
    assert res.exit_code == 0, res.output
    import sqlite3

    with sqlite3.connect(tmp_path / "search" / "trials.db") as db:
        done = db.execute("SELECT count(*) FROM trials WHERE status = 'complete'").fetchone()[0]
    assert done == 3
    res = runner.invoke(app, ["supernet", "--method", "darts", "--out", str(tmp_path / "x")])
    assert res.exit_code != 0 and "--method must be a weight-sharing method" in res.output


def test_few_shot_training_runs_on_the_device_and_equals_a_cpu_run(monkeypatch):
    """Warm-up, the gradient-matching split and the sub-supernets' steps see only batches sent to
    the run's device (``cpu:0``, see tests/device_spy.py); the result equals a plain CPU run's."""
    from device_spy import DEVICE, DeviceSpy

    from nasforge.oneshot.supernet import Supernet

    space, task = tiny_spaces()["macro"], tiny_task()
    states = {}
    for device in ("cpu", DEVICE):
        spy = DeviceSpy(monkeypatch, watch=Supernet)
        try:
            method = get_method("fewshot-gm", **TINY, warmup_fraction=0.3)
            states[device] = state = method.begin(space, task, device)
            while state.epochs_done < 3:
                method.epoch(state)
        finally:
            spy.close()
            monkeypatch.undo()
    assert spy.inputs and all(spy.moved(x) for x in spy.inputs)
    assert isinstance(states[DEVICE].supernet, FewShotSupernet)
    for (name, a), b in zip(states["cpu"].supernet.state_dict().items(),
                            states[DEVICE].supernet.state_dict().values(), strict=True):
        assert torch.equal(a, b), name
