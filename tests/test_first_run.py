"""A first run without stumbles (issue 17): task/space mismatches name the spaces that fit, before
any data is loaded; the default budget is trials only and a time cut says so; ``--device auto``."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

import nasforge
from nasforge.cli import app
from nasforge.run import config as config_module
from nasforge.run.config import ConfigError, load_config, resolve_device
from nasforge.run.fit import TASK_SHAPES, SpaceTaskMismatchError, fitting_spaces, known_shape
from nasforge.task import load_task, task_from_arrays

runner = CliRunner()

DIGITS_ADVICE = "spaces that fit task 'digits': macro, mbconv, nb201; space 'conv1d' fits the built-in task(s) mnist1d"


@pytest.fixture
def no_data(monkeypatch):
    """Loading any data fails the test: a refusal must come first."""
    import nasforge.run.runner as run_runner

    def refuse(*_args, **_kwargs):
        raise AssertionError("data was loaded before the refusal")

    monkeypatch.setattr(run_runner, "load_data", refuse)


# ------------------------------------------------------------------ task / space mismatch


def test_cli_conv1d_on_digits_lists_the_spaces_that_fit_before_loading_data(tmp_path, no_data):
    result = runner.invoke(app, ["search", "--task", "digits", "--space", "conv1d", "--trials", "1",
                                 "--out", str(tmp_path / "r")])
    assert result.exit_code == 2, result.output
    assert "error: space 'conv1d' cannot build a network for task 'digits' (input shape (1, 8, 8))" in result.output
    assert DIGITS_ADVICE in result.output
    assert "Traceback" not in result.output and not (tmp_path / "r").exists()


def test_python_conv1d_on_digits_raises_the_same_error(tmp_path, no_data):
    with pytest.raises(SpaceTaskMismatchError, match="spaces that fit task 'digits': macro, mbconv, nb201") as info:
        nasforge.search("digits", "conv1d", trials=1, run_dir=tmp_path / "r", progress=False)
    assert isinstance(info.value, ConfigError) and isinstance(info.value, ValueError)
    assert DIGITS_ADVICE in str(info.value)
    assert not (tmp_path / "r").exists()


def test_an_image_space_on_sequences_names_conv1d(tmp_path, no_data):
    with pytest.raises(SpaceTaskMismatchError) as info:
        nasforge.search("mnist1d", "nb201", trials=1, run_dir=tmp_path / "r", progress=False)
    text = str(info.value)
    assert "space 'nb201' cannot build a network for task 'mnist1d' (input shape (1, 40))" in text
    assert "spaces that fit task 'mnist1d': conv1d" in text
    assert "space 'nb201' fits the built-in task(s) digits, cifar10, cifar10-subset" in text


def test_data_of_unknown_shape_is_checked_once_loaded_with_the_same_advice(tmp_path):
    rng = np.random.default_rng(0)
    images = task_from_arrays(rng.standard_normal((40, 3, 8, 8)).astype(np.float32), rng.integers(0, 3, 40),
                              name="mine")
    with pytest.raises(SpaceTaskMismatchError, match="spaces that fit task 'mine': macro, mbconv, nb201"):
        nasforge.search(images, "conv1d", trials=1, run_dir=tmp_path / "r", progress=False)
    assert not (tmp_path / "r").exists()


def test_no_space_fits_says_how_to_define_one():
    assert fitting_spaces((5,), 3) == []
    from nasforge.run.fit import check_space_fits
    from nasforge.space import get_space

    with pytest.raises(SpaceTaskMismatchError, match=r"no registered space fits task 'flat': define one for inputs "
                       r"shaped \(5,\)"):
        check_space_fits(get_space("conv1d"), "flat", (5,), 3)


@pytest.mark.parametrize("name", ["digits", "mnist1d"])
def test_known_task_shapes_are_the_loaded_ones(name):
    task = load_task(name)
    assert TASK_SHAPES[name] == (tuple(task.input_shape), task.num_classes)
    assert known_shape(f"{name}:7" if name == "mnist1d" else name) == TASK_SHAPES[name]
    assert known_shape("npz:/data/mine.npz") is None


# ------------------------------------------------------------------ budget


def test_the_default_budget_is_trials_only():
    cfg = load_config()
    assert (cfg.budget.trials, cfg.budget.minutes) == (60, None)
    assert "minutes: null" in cfg.to_yaml()


# ------------------------------------------------------------------ --device


def test_auto_is_the_cpu_here_and_the_gpu_where_torch_sees_one(monkeypatch):
    assert resolve_device("auto") == ("cuda" if torch.cuda.is_available() else "cpu")
    assert load_config().device == resolve_device("auto")  # auto is the default, resolved when read
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert resolve_device("auto") == "cuda"
    assert load_config().device == "cuda" and load_config(device="auto").device == "cuda"
    assert load_config(device="cpu").device == "cpu"


def test_cuda_without_cuda_is_refused_before_anything_runs(monkeypatch, tmp_path, no_data):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    result = runner.invoke(app, ["search", "--device", "cuda", "--out", str(tmp_path / "r")])
    assert result.exit_code == 2
    assert "device 'cuda': this machine has no CUDA device" in result.output and not (tmp_path / "r").exists()
    result = runner.invoke(app, ["search", "--device", "gpu"])
    assert result.exit_code == 2 and "got 'gpu' (or 'auto'" in result.output


def _captured_device(monkeypatch, args: list[str]) -> str:
    """The device of the config a training command hands to the runner (nothing runs)."""
    import nasforge.cli.search as cli_search

    seen = {}

    def capture(_start, cfg):
        seen["device"] = cfg.device
        raise SystemExit(0)

    monkeypatch.setattr(cli_search, "_run", capture)
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    return seen["device"]


@pytest.mark.parametrize("command", [["search"], ["oneshot"], ["supernet"], ["fbnetv3"]])
def test_training_commands_resolve_auto_through_resolve_device(monkeypatch, command):
    calls = []
    real = config_module.resolve_device

    def spy(device):
        calls.append(device)
        return real(device)

    monkeypatch.setattr(config_module, "resolve_device", spy)
    assert _captured_device(monkeypatch, command) == "cpu"
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert _captured_device(monkeypatch, command) == "cuda"
    assert _captured_device(monkeypatch, [*command, "--device", "cpu"]) == "cpu"
    assert calls == ["auto", "auto", "cpu"]


def test_hardware_commands_resolve_auto(monkeypatch):
    from nasforge.cli.hardware import _settings

    assert _settings("auto").device == "cpu"
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert _settings("auto").device == "cuda"
    import typer

    commands = typer.main.get_command(app).commands
    for name in ("cost", "latency", "search", "resume", "oneshot", "supernet", "fbnetv3"):
        device = next(p for p in commands[name].params if p.name == "device")
        assert device.default in ("auto", None), name  # None: the config's default (auto) or the run's own
        assert device.help.startswith("auto"), name
