"""Zero-cost proxies run on the asked device: ``ProxyEvaluator(device=...)``, the proxy study
and ``nasforge proxies --device``.

No GPU here, so the device under test is ``cpu:0``: torch accepts it and its ``.to`` returns
copies (``cpu`` returns the tensor itself), so a spy on ``Tensor.to`` / ``Module.to`` tells
whether the network and the batch were really moved to the device handed down. The values
must equal the plain CPU ones exactly.
"""

from __future__ import annotations

import numpy as np
import torch
from device_spy import DEVICE, DeviceSpy
from typer.testing import CliRunner

from nasforge.cli import app
from nasforge.estimate.proxies import DEFAULT_PROXIES
from nasforge.estimate.proxies.evaluator import ProxyEvaluator
from nasforge.space import get_space
from nasforge.task import task_from_arrays


def tiny():
    x = np.random.default_rng(0).normal(size=(40, 3, 8, 8)).astype(np.float32)
    return get_space("nb201", channels=4, cells=1), task_from_arrays(x, np.arange(40) % 10, name="tiny")


def test_every_proxy_scores_on_the_device_and_equals_the_cpu_value(monkeypatch):
    space, task = tiny()
    archs = space.sample_distinct(2, 0)
    plain = ProxyEvaluator(DEFAULT_PROXIES, task, space, batch_size=12)
    expected = [plain.evaluate(a) for a in archs]
    spy = DeviceSpy(monkeypatch)
    moved = ProxyEvaluator(DEFAULT_PROXIES, task, space, batch_size=12, device=DEVICE)
    assert spy.moved(moved.batch().x) and spy.moved(moved.batch().y)
    for arch, want in zip(archs, expected, strict=True):
        spy.modules.clear()
        got = moved.evaluate(arch)
        assert len(spy.modules) == 1, "the network was not moved to the device"
        assert got.ok and got.metrics == want.metrics and got.info["errors"] == want.info["errors"]


def test_cli_device_reaches_the_evaluator(monkeypatch, tmp_path):
    import nasforge.run.config as config_module

    resolved = config_module.resolve_device
    monkeypatch.setattr(config_module, "resolve_device", lambda d: DEVICE if d == "auto" else resolved(d))
    spy = DeviceSpy(monkeypatch)
    result = CliRunner().invoke(app, ["proxies", "--space", "nb201", "--task", "cifar10", "--archs", "2",
                                      "--out", str(tmp_path), "--proxies", "synflow,params", "--batch-size", "4",
                                      "--workers", "1"])
    assert result.exit_code == 0, result.output
    assert len(spy.modules) == 2  # one network per arch, each moved to the resolved device
    assert (tmp_path / "proxies.csv").is_file()


def test_cli_refuses_a_bad_device_before_scoring(tmp_path):
    bad = CliRunner().invoke(app, ["proxies", "--archs", "2", "--out", str(tmp_path / "a"), "--device", "tpu"])
    assert bad.exit_code != 0 and "--device" in bad.output and "'tpu'" in bad.output
    if not torch.cuda.is_available():
        missing = CliRunner().invoke(app, ["proxies", "--archs", "2", "--out", str(tmp_path / "b"),
                                           "--device", "cuda"])
        assert missing.exit_code != 0 and "no CUDA device" in missing.output
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()


def test_a_runs_proxy_scorers_get_its_device():
    """Guided strategies' scorers (lent through the run's services) run on the run's device."""
    from nasforge.experiment.services import run_services

    space = get_space("conv1d")
    services = run_services(space, "mnist1d", seed=0, device=DEVICE)
    assert services.scorer("synflow", {}).device == DEVICE
    assert run_services(space, "mnist1d", seed=0).scorer("synflow", {}).device == "cpu"
