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

DIGITS_ADVICE = "spaces that fit task 'digits': macro, mbconv, nb201, vit; space 'conv1d' fits the built-in task(s) mnist1d"


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


# ------------------------------------------------------------------ the time budget's note


def test_a_time_cut_says_so_at_the_end(tmp_path):
    """A tabular run on the simulated clock: 10 s per query, 1 minute of budget -> 6 of 50 trials."""
    args = ["search", "--space", "nb201", "--evaluator", "tabular", "-E", "simulated_seconds=10", "--strategy",
            "random", "--clock", "simulated", "--minutes", "1", "--trials", "50"]
    result = runner.invoke(app, [*args, "--out", str(tmp_path / "cut")], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert "stopped by the time budget after 6 of 50 trials (budget.minutes 1 on the simulated clock)" in result.output
    result = runner.invoke(app, [*args[:-4], "--minutes", "60", "--trials", "5", "--out", str(tmp_path / "full")],
                           env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert "5 trials: 5 complete" in result.output and "stopped by the time budget" not in result.output


# ------------------------------------------------------------------ phases and progress

#: a tiny real run: two one-epoch trials on 5% of MNIST-1D, a two-epoch final retraining
TINY = dict(trials=2, strategy="evolution", evaluator={"name": "train", "settings": {"epochs": 1, "final_epochs": 2,
                                                               "data_fraction": 0.05}},
            strategy_settings={"population_size": 2, "sample_size": 1})


def test_every_long_phase_is_announced_in_order(tmp_path, capsys):
    from nasforge.run.phases import listening

    heard: list[tuple[str, int, int | None]] = []
    with listening(lambda name, done, total: heard.append((name, done, total))):
        nasforge.search("mnist1d", "conv1d", run_dir=tmp_path / "r", progress=False, **TINY)
    assert capsys.readouterr().out == ""  # progress=False prints nothing
    names = list(dict.fromkeys(name for name, _, _ in heard))
    assert names == ["loading data", "setting up", "final retraining", "ONNX export", "report"]
    assert [(d, t) for n, d, t in heard if n == "final retraining"] == [(0, 2), (1, 2), (2, 2)]


def test_python_shows_progress_by_default(tmp_path, capsys):
    import inspect

    assert inspect.signature(nasforge.search).parameters["progress"].default is True
    nasforge.search("mnist1d", "conv1d", run_dir=tmp_path / "r", **TINY)
    out = capsys.readouterr().out  # not a terminal: the display is drawn once, when the run ends
    for row in ("loading data", "setting up", "search", "2/2 trials", "final retraining", "2/2 epochs",
                "ONNX export", "report"):
        assert row in out, (row, out)
    assert out.count("✓") == 6


def test_a_refused_run_leaves_only_its_error_a_stopped_search_its_display():
    import io

    from rich.console import Console

    from nasforge.run.progress import SearchProgress

    console = Console(file=io.StringIO(), width=100)
    with pytest.raises(RuntimeError), SearchProgress(3, None, "val_accuracy:max", console) as bar:
        bar.phase("loading data")
        raise RuntimeError("boom")
    assert console.file.getvalue().strip() == ""  # nothing of the display is left
    with pytest.raises(KeyboardInterrupt), SearchProgress(3, None, "val_accuracy:max", console) as bar:
        bar.phase("search", 1, 3)
        raise KeyboardInterrupt
    assert "1/3 trials" in console.file.getvalue()  # after trials, the display stays
    console.file.seek(0)
    console.file.truncate()
    with SearchProgress(3, 2.0, "val_accuracy:max", console) as bar:
        bar.phase("loading data")
        bar.phase("final retraining", 1, 4)
    text = console.file.getvalue()
    assert "✓ loading data" in text and "final retraining" in text and "1/4 epochs" in text


# ------------------------------------------------------------------ nasforge show


def test_show_prints_every_architecture_in_full_at_120_columns(tmp_path):
    run = tmp_path / "r"
    nasforge.search("mnist1d", "conv1d", "random", run_dir=run, progress=False, final_retrain=False,
                    trials=3, evaluator={"epochs": 1, "data_fraction": 0.05})
    from contextlib import closing

    from nasforge.experiment.storage import Storage
    from nasforge.space import get_space

    with closing(Storage(run / "trials.db")) as storage:
        keys = [t.arch.key for t in storage.trials(get_space("conv1d").parse)]
    assert max(len(k) for k in keys) > 40  # long enough to have been cut before
    result = runner.invoke(app, ["show", str(run)], env={"COLUMNS": "120"}, terminal_width=120)
    assert result.exit_code == 0, result.output
    assert "…" not in result.output and max(len(line) for line in result.output.splitlines()) <= 120
    cells: list[str] = []
    for line in result.output.splitlines():
        parts = line.split("│")
        if len(parts) > 3:
            if parts[1].strip():
                cells.append("")
            cells[-1] += parts[2].strip()
    assert cells == keys


# ------------------------------------------------------------------ the package's face


def test_all_and_dir_show_the_api_and_import_stays_light():
    import subprocess
    import sys

    public = [n for n in nasforge.__all__ if not n.startswith("__")]
    assert {"search", "Space", "Choice", "Arch", "load_task", "task_from_arrays", "SearchResult",
            "ConfigError"} <= set(public)
    assert set(nasforge.__all__) <= set(dir(nasforge))
    assert [n for n in dir(nasforge) if not n.startswith("_")] == sorted(public)
    for name in nasforge.__all__:
        assert getattr(nasforge, name) is not None, name
    code = ("import sys, time; t = time.perf_counter(); import nasforge; dt = time.perf_counter() - t; "
            "names = dir(nasforge); "
            "print(dt, sorted(m for m in sys.modules if m.startswith('nasforge') or m == 'torch'))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split(" ", 1)
    assert out[1].strip() == "['nasforge']"  # dir() loads nothing; torch is not imported
    assert float(out[0]) < 0.5


def test_resume_on_another_device_is_a_change_of_the_config(tmp_path, monkeypatch):
    run = tmp_path / "r"
    made = runner.invoke(app, ["search", "--space", "nb201", "--evaluator", "tabular", "--strategy", "random",
                               "--trials", "2", "--out", str(run)])
    assert made.exit_code == 0, made.output
    assert "device: cpu" in (run / "config.yaml").read_text()
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    moved = runner.invoke(app, ["resume", str(run), "--device", "cuda"])
    assert moved.exit_code == 2
    assert "device: 'cpu' -> 'cuda'" in moved.output and "--allow-change device" in moved.output
