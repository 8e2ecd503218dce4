"""Hardening: nothing lost, nothing executed, every bad input a clear error.

Degenerate data, config files that are not configs, non-finite budgets and settings, a killed
driver of the processes executor, and Ray started without an address or pointed at a wrong
one. Each case asserts the message the user sees, and that nothing was built, trained or
written. Cases already covered by ``test_bad_input.py``, ``test_cli.py`` and
``task/test_arrays.py`` (negative or fractional labels, a missing config file, ``--trials 0``)
are not repeated here.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

import nasforge
from nasforge.cli import app
from nasforge.run.config import ConfigError
from nasforge.task import Normalization, Task, TaskDataError, task_from_arrays

runner = CliRunner()
TESTS = Path(__file__).parent


@pytest.fixture
def nothing_built(monkeypatch):
    """Records every torch module constructed; the test asserts there was none."""
    built: list[str] = []
    init = torch.nn.Module.__init__

    def recording(self, *args, **kwargs):
        built.append(type(self).__name__)
        init(self, *args, **kwargs)

    monkeypatch.setattr(torch.nn.Module, "__init__", recording)
    return built


def refused(tmp_path, args, message, built=None):
    """``nasforge search ARGS`` ends with ``error: MESSAGE``, code 2, no traceback, no run directory."""
    result = runner.invoke(app, ["search", "--run-dir", str(tmp_path / "r"), *args])
    assert result.exit_code == 2, result.output
    assert message in " ".join(result.output.split()), result.output
    assert "Traceback" not in result.output
    assert not (tmp_path / "r").exists(), "no half-written run directory"
    if built is not None:
        assert built == [], f"networks were built before the refusal: {built}"


# ---------------------------------------------------------------------- degenerate data

RNG = np.random.default_rng(0)
X = RNG.standard_normal((60, 40)).astype(np.float32)
Y = np.arange(60) % 3


def _with(x, at, value):
    x = x.copy()
    x[at] = value
    return x


DATA = {
    "a single class": (
        dict(x_train=X, y_train=np.zeros(60, int)),
        "task 'data': y_train holds a single class (0); a classifier needs examples of at least 2 classes"),
    "3 rows": (
        dict(x_train=X[:3], y_train=Y[:3]),
        "task 'data': too few rows: x_train's 3 rows make train 1, val 1, test 1 once the test and validation "
        "splits are held out; each split needs at least 2 rows (give more rows, or x_val and x_test)"),
    "6 rows": (
        dict(x_train=X[:6], y_train=Y[:6]),
        "too few rows: x_train's 6 rows make train 4, val 1, test 1 once the test and validation splits are held "
        "out; each split needs at least 2 rows"),
    "a 1-row validation split": (
        dict(x_train=X, y_train=Y, x_val=X[:1], y_val=Y[:1]),
        "too few rows: x_train's 60 rows make train 48, val 1, test 12 once the test split is held out; each "
        "split needs at least 2 rows"),
    "a 1-row test split, all splits given": (
        dict(x_train=X, y_train=Y, x_val=X[:9], y_val=Y[:9], x_test=X[:1], y_test=Y[:1]),
        "task 'data': too few rows: train 60, val 9, test 1; each split needs at least 2 rows"),
    "a label of 10**9": (
        dict(x_train=X, y_train=_with(Y, 0, 10**9)),
        "task 'data': y_train has label 1000000000, but the 60 labelled rows hold 4 distinct labels: the class "
        "count would be 1,000,000,001 (the largest label + 1). Labels must be class indices 0..K-1; "
        "np.unique(y, return_inverse=True)[1] renumbers them"),
    "a label of 60 in 60 rows": (
        dict(x_train=X, y_train=_with(Y, 5, 60)),
        "y_train has label 60, but the 60 labelled rows hold 4 distinct labels: the class count would be 61"),
    "NaN in x_train": (
        dict(x_train=_with(X, (0, 0), np.nan), y_train=Y),
        "task 'data': x_train contains 1 NaN or infinite values"),
    "inf in x_val": (
        dict(x_train=X, y_train=Y, x_val=_with(X[:10], (3, 3), -np.inf), y_val=Y[:10]),
        "task 'data': x_val contains 1 NaN or infinite values"),
    "values beyond float32": (
        dict(x_train=_with(X.astype(np.float64), (0, 0), 1e300), y_train=Y),
        "task 'data': x_train holds values up to 1e+300 in magnitude, beyond float32's 3.4e+38; rescale the inputs"),
    "an empty x_val": (
        dict(x_train=X, y_train=Y, x_val=X[:0], y_val=Y[:0]),
        "task 'data': x_val is empty"),
    "an empty x_train": (
        dict(x_train=X[:0], y_train=Y[:0]),
        "task 'data': x_train is empty"),
    "x_test and y_test of different lengths": (
        dict(x_train=X, y_train=Y, x_test=X[:10], y_test=Y[:9]),
        "task 'data': x_test has 10 rows but y_test has 9"),
}


@pytest.mark.parametrize("case", list(DATA))
def test_degenerate_npz_data_is_refused_before_any_network(tmp_path, nothing_built, case):
    arrays, message = DATA[case]
    np.savez(tmp_path / "data.npz", **arrays)
    refused(tmp_path, ["--task", f"npz:{tmp_path / 'data.npz'}", "--trials", "1", "--epochs", "1"], message,
            nothing_built)


@pytest.mark.parametrize("case", ["a single class", "3 rows", "a label of 10**9", "values beyond float32"])
def test_task_from_arrays_refuses_the_same(case):
    arrays, message = DATA[case]
    with pytest.raises(TaskDataError) as info:
        task_from_arrays(**arrays, name="data")
    assert message in str(info.value)


@pytest.mark.parametrize("num_classes, message", [
    (10**9, "task 'arrays': num_classes=1000000000; expected an integer from 2 (a classifier needs two classes) "
            "to 100,000"),
    (1, "num_classes=1; expected an integer from 2"),
    (0, "num_classes=0; expected an integer from 2"),
    (2.5, "num_classes=2.5; expected an integer"),
])
def test_an_impossible_class_count_is_refused(num_classes, message):
    with pytest.raises(TaskDataError, match=message.replace("(", r"\(").replace(")", r"\)")):
        task_from_arrays(X, Y % 2, num_classes=num_classes)


def test_a_task_built_by_hand_is_checked_too():
    x, y = X[:10], Y[:10]
    with pytest.raises(TaskDataError, match="task 't': split 'test' has 1 row\\(s\\); each split needs at least 2"):
        Task("t", x, y, x, y, x[:1], y[:1], 3)
    with pytest.raises(TaskDataError, match=r"task 't': y_train holds a single class \(0\)"):
        Task("t", x, np.zeros(10, np.int64), x, y, x, y, 3)
    with pytest.raises(TaskDataError, match="num_classes=1; expected an integer from 2"):
        Task("t", x, y * 0, x, y * 0, x, y * 0, 1)


def test_a_normalization_with_nan_is_refused():
    with pytest.raises(ValueError, match=r"scale, mean and std must be finite numbers, got 1.0, \(nan,\), \(1.0,\)"):
        Normalization(mean=(float("nan"),), std=(1.0,))


# ------------------------------------------------------------------ config files


def test_config_paths_that_are_not_config_files(tmp_path, nothing_built):
    folder = tmp_path / "folder"
    folder.mkdir()
    refused(tmp_path, ["--config", str(folder)], f"error: config file {folder} is not a file", nothing_built)
    refused(tmp_path, ["--config", "/dev/null"], "error: config file /dev/null is not a file")
    binary = tmp_path / "binary.yaml"
    binary.write_bytes(bytes(range(256)))
    refused(tmp_path, ["--config", str(binary)],
            f"error: config file {binary} is not UTF-8 text (invalid start byte at byte 128)")
    control = tmp_path / "control.yaml"
    control.write_text("a: \x00\n")
    refused(tmp_path, ["--config", str(control)], f"error: config file {control} is not valid YAML: unacceptable "
            "character #x0000: special characters are not allowed")
    huge = tmp_path / "huge.yaml"
    with huge.open("wb") as fh:
        fh.truncate(11 * 2**20)
    refused(tmp_path, ["--config", str(huge)], f"error: config file {huge} is 11.0 MiB; a configuration is a small "
            "YAML file (at most 10 MiB): is it the right file?")


def test_a_config_path_that_is_not_utf8(tmp_path):
    name = os.fsdecode(b"c\xff.yaml")
    refused(tmp_path, ["--config", str(tmp_path / name)], "does not exist")
    (tmp_path / name).write_text("retries: lots\n")
    refused(tmp_path, ["--config", str(tmp_path / name)], "retries: Input should be a valid integer")


def test_a_yaml_alias_bomb_is_refused_without_expanding_it(tmp_path):
    """Nine levels of nine aliases: 9**9 values once written out, from a 400-byte file."""
    lines = ['space_settings:', '  l0: &l0 ["x","x","x","x","x","x","x","x","x"]']
    lines += [f"  l{i}: &l{i} [{','.join([f'*l{i - 1}'] * 9)}]" for i in range(1, 9)]
    bomb = tmp_path / "bomb.yaml"
    bomb.write_text("\n".join(lines) + "\n")
    began = time.monotonic()
    refused(tmp_path, ["--config", str(bomb)], f"error: config file {bomb} expands to 490,329,066 values through "
            "YAML aliases (*name), more than the 100,000 a configuration may hold")
    assert time.monotonic() - began < 10


def test_a_config_nested_too_deeply_is_refused(tmp_path):
    deep = tmp_path / "deep.yaml"
    deep.write_text("a: " + "[" * 50_000 + "]" * 50_000 + "\n")
    refused(tmp_path, ["--config", str(deep)], f"error: config file {deep} is nested too deeply to read")


# ------------------------------------------------------- budgets and settings that are not numbers


@pytest.mark.parametrize("args, message", [
    (["--minutes", "nan"], "budget.minutes: must be a finite number (got nan)"),
    (["--minutes", "inf"], "budget.minutes: must be a finite number (got inf)"),
    (["--minutes", "1e400"], "budget.minutes: must be a finite number (got inf)"),
    (["--trials", "100000000000"], "budget.trials: Input should be less than or equal to 10000000 "
                                   "(got 100000000000)"),
    (["--trials", "99999999999999999999999"], "budget.trials: Input should be less than or equal to 10000000"),
    (["--trial-timeout", "nan"], "trial_timeout: must be a finite number (got nan)"),
    (["--executor", "ray", "--gpus-per-trial", "inf"], "gpus_per_trial: must be a finite number (got inf)"),
    (["-E", "lr=nan"], "evaluator.settings.lr: must be a finite number (got 'nan')"),
    (["-E", "lr=.inf"], "evaluator.settings.lr: must be a finite number (got inf)"),
    (["--lr", "-inf"], "evaluator.settings.lr: must be a finite number (got -inf)"),
    (["-E", "weight_decay=Infinity"], "evaluator.settings.weight_decay: must be a finite number (got 'Infinity')"),
    (["-E", "epochs=1e9"], "evaluator.settings.epochs: Input should be a valid integer, unable to parse string as "
                           "an integer (got '1e9')"),
    (["-E", "epochs=1000000000"], "evaluator.settings.epochs: Input should be less than or equal to 10000 "
                                  "(got 1000000000)"),
    (["-E", "batch_size=1e12"], "evaluator.settings.batch_size: Input should be a valid integer"),
    (["--strategy", "nsga2", "-S", "crossover=inf"], "strategy_settings.crossover: must be a finite number "
                                                     "(got 'inf')"),
    (["--strategy", "reinforce", "-S", "lr=nan"], "strategy_settings.lr: must be a finite number (got 'nan')"),
    (["-P", "channels=[8, .nan]"], "space_settings.channels.1: must be a finite number (got nan)"),
])
def test_non_finite_or_absurd_numbers_name_the_field(tmp_path, nothing_built, args, message):
    refused(tmp_path, args, message, nothing_built)


def test_non_finite_numbers_in_a_config_file(tmp_path):
    config = tmp_path / "c.yaml"
    config.write_text("budget: {trials: 5, minutes: .nan}\nevaluator: {name: train, settings: {lr: -.inf}}\n")
    refused(tmp_path, ["--config", str(config)], "invalid configuration: evaluator.settings.lr: must be a finite "
            "number (got -inf) budget.minutes: must be a finite number (got nan)")


def test_non_finite_budget_from_python(tmp_path):
    with pytest.raises(ConfigError, match=r"budget.minutes: must be a finite number \(got nan\)"):
        nasforge.search("mnist1d", minutes=float("nan"), run_dir=tmp_path / "r")
    assert not (tmp_path / "r").exists()


def test_a_negative_population_size_is_refused(tmp_path):
    refused(tmp_path, ["--strategy", "evolution", "-S", "population_size=-1"], "error: evolution: need population_size >= 2 and 1 <= "
            "sample_size <= population_size, got -1 and 4")


def test_a_negative_population_size_is_refused_before_any_network(tmp_path, nothing_built):
    refused(tmp_path, ["--strategy", "evolution", "-S", "population_size=-1"], "population_size >= 2", nothing_built)


# ------------------------------------------------------- a killed driver of the processes executor


def _children(pid: int) -> set[int]:
    out: set[int] = set()
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            out |= {int(c) for c in (task / "children").read_text().split()}
        except OSError:
            continue
    return out


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"  # a zombie has ended; it waits only for its (new) parent to reap it


def _workers_of(pid: int) -> set[int]:
    """The driver's worker processes (spawned by multiprocessing; not its resource tracker)."""
    try:
        import psutil
    except ImportError:
        return {c for c in _children(pid) if "spawn_main" in _cmdline(c)}
    return {c.pid for c in psutil.Process(pid).children() if "spawn_main" in " ".join(c.cmdline())}


def _running_trials(db: Path) -> int:
    import sqlite3

    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as con:
            return con.execute("SELECT COUNT(*) FROM trials WHERE status = 'running'").fetchone()[0]
    except sqlite3.Error:
        return 0


@pytest.mark.skipif(not Path("/proc/self/task").is_dir(), reason="reads worker processes from /proc")
def test_workers_end_when_the_driver_is_killed(tmp_path):
    """SIGKILL the driver of ``--executor processes --workers 2`` mid-trial: its workers, each
    with long trials ahead, end within seconds instead of training on as orphans."""
    rng = np.random.default_rng(0)
    np.savez(tmp_path / "d.npz", x_train=rng.standard_normal((600, 40)).astype(np.float32),
             y_train=np.arange(600) % 3)
    run = tmp_path / "run"
    driver = subprocess.Popen(
        [sys.executable, "-m", "nasforge", "search", "--task", f"npz:{tmp_path / 'd.npz'}", "--trials", "4",
         "--epochs", "2000", "--no-final-retrain", "--executor", "processes", "--workers", "2",
         "--threads-per-worker", "1", "--run-dir", str(run)],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"})
    workers: set[int] = set()
    try:
        deadline = time.monotonic() + 180
        while _running_trials(run / "trials.db") < 2:
            assert driver.poll() is None, f"the search ended early: {driver.stderr.read()}"
            assert time.monotonic() < deadline, "no trials started within 3 minutes"
            time.sleep(0.2)
        workers = _workers_of(driver.pid)
        assert len(workers) == 2 and all(_alive(w) for w in workers), workers
        driver.send_signal(signal.SIGKILL)
        driver.wait(10)
        deadline = time.monotonic() + 5
        while any(_alive(w) for w in workers) and time.monotonic() < deadline:
            time.sleep(0.1)
        left = [w for w in workers if _alive(w)]
        assert not left, f"workers {left} outlived their driver"
    finally:
        if driver.poll() is None:
            driver.kill()
            driver.wait(10)
        for pid in workers:  # only ever our own workers, by their pid
            if _alive(pid):
                os.kill(pid, signal.SIGKILL)
    assert _running_trials(run / "trials.db") == 2, "the cut trials stay recorded as running, for resume"


TIE = """
import os, pickle, sys, time
from pathlib import Path
from nasforge.experiment.executors import processes
if sys.argv[2] == "thread":
    processes.sys = type(sys)("not_linux")  # no prctl: the watching thread alone must end the child
    processes.sys.platform = "other"
parent = os.getpid()
child = os.fork()
if child == 0:
    pickle.loads(pickle.dumps(processes._TieToParent(parent)))  # what a worker's unpickled argument does
    while os.getppid() == parent:
        time.sleep(0.01)
    time.sleep(1.5)
    Path(sys.argv[1]).write_text("survived")
    os._exit(0)
print(child, flush=True)
time.sleep(0.5)
"""


@pytest.mark.parametrize("how", ["prctl", "thread"])
def test_the_tie_to_the_parent_ends_an_orphan(tmp_path, how):
    """A process that unpickled a ``_TieToParent`` ends when its parent does: by the kernel's death
    signal on Linux, by the watching thread where there is no prctl."""
    if how == "prctl" and not sys.platform.startswith("linux"):
        pytest.skip("PR_SET_PDEATHSIG is Linux's")
    out = subprocess.run([sys.executable, "-c", TIE, str(tmp_path / "survived"), how], capture_output=True,
                         text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    child = int(out.stdout.split()[0])
    deadline = time.monotonic() + 2
    while _alive(child) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _alive(child), "the child outlived its parent"
    time.sleep(1.5)
    assert not (tmp_path / "survived").exists()


# --------------------------------------------------------------------------------- Ray


def _ray():
    return pytest.importorskip("ray", reason="the ray extra is not installed")


@pytest.mark.parametrize("address", ["127.0.0.1:1", "ray://127.0.0.1:1"])
def test_a_wrong_ray_address_says_what_to_check_at_once(tmp_path, address):
    _ray()
    began = time.monotonic()
    refused(tmp_path, ["--executor", "ray", "--ray-address", address],
            f"error: no Ray cluster at {address}: Connection refused. Start one with `ray start --head"
            f"{'' if address.startswith('ray://') else ' --port=1'}` on that machine, or check the host and the port "
            "(the head node's GCS port: 6379 unless `ray start --port` chose another; ray://HOST:10001 for Ray "
            "Client, which needs 'ray[client]'); `ray status` on the head node shows whether it is up")
    assert time.monotonic() - began < 30


def test_a_wrong_ray_address_from_python_fails_fast(tmp_path):
    ray = _ray()
    from faulty import FaultyEvaluator

    from nasforge.experiment.executors import ExecutorError, get_executor

    assert not ray.is_initialized()
    began = time.monotonic()
    with pytest.raises(ExecutorError, match="no Ray cluster at 127.0.0.1:1: Connection refused. Start one"):
        get_executor("ray", workers=1, ray_address="127.0.0.1:1").start(FaultyEvaluator(tmp_path))
    assert time.monotonic() - began < 15 and not ray.is_initialized()


HOLD_RAY = """
import logging, sys
import ray
ray.init(address="local", num_cpus=1, include_dashboard=False, log_to_driver=False, logging_level=logging.ERROR)
print(ray.get_runtime_context().gcs_address, flush=True)
sys.stdin.read()  # until the test closes our stdin
ray.shutdown()
"""


def test_ray_without_an_address_runs_on_its_own_instance(tmp_path):
    """Another Ray instance on the machine, named by RAY_ADDRESS: a search without --ray-address
    starts its own (it used to attach and fail with "num_cpus and num_gpus must not be provided")."""
    _ray()
    holder = subprocess.Popen([sys.executable, "-c", HOLD_RAY], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                              stderr=subprocess.DEVNULL, text=True)
    try:
        address = holder.stdout.readline().strip()
        assert address, "the other Ray instance did not start"
        np.savez(tmp_path / "d.npz", x_train=X, y_train=Y)
        out = subprocess.run(
            [sys.executable, "-m", "nasforge", "search", "--task", f"npz:{tmp_path / 'd.npz'}", "--trials", "2",
             "--epochs", "1", "--no-final-retrain", "--executor", "ray", "--workers", "2", "--threads-per-worker",
             "1", "--run-dir", str(tmp_path / "run")],
            capture_output=True, text=True, timeout=240,
            env={**os.environ, "RAY_ADDRESS": address, "OMP_NUM_THREADS": "1", "COLUMNS": "200"})
    finally:
        holder.stdin.close()
        try:
            holder.wait(30)
        except subprocess.TimeoutExpired:
            holder.kill()
            holder.wait(10)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "2 trials: 2 complete" in out.stdout
    text = " ".join((out.stdout + out.stderr).split())
    assert f"RAY_ADDRESS={address} is set but no ray_address was given: starting a private local Ray instance" in text
