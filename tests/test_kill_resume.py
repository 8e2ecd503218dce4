"""SIGKILL mid-run, then ``nasforge resume``: a DARTS run (killed after an epoch) and an FBNetV3
run (killed after some trials) lose and repeat nothing, and end equal to an uninterrupted run
with the same seed."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def images(tmp_path_factory) -> Path:
    """A tiny image task (3x8x8, 3 classes) as an npz file."""
    rng = np.random.default_rng(0)
    templates = rng.standard_normal((3, 3, 8, 8)).astype(np.float32)
    y = (np.arange(96) % 3).astype(np.int64)
    x = (templates[y] + rng.standard_normal((96, 3, 8, 8))).astype(np.float32)
    path = tmp_path_factory.mktemp("data") / "images.npz"
    np.savez(path, x_train=x[:48], y_train=y[:48], x_val=x[48:72], y_val=y[48:72], x_test=x[72:], y_test=y[72:])
    return path


def nasforge(*args: str) -> subprocess.Popen:
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "OMP_NUM_THREADS": "1"}
    return subprocess.Popen([sys.executable, "-m", "nasforge", *args], stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, env=env, text=True)


def finish(*args: str) -> None:
    proc = nasforge(*args)
    _, err = proc.communicate(timeout=600)
    assert proc.returncode == 0, err


def kill_when(db: Path, query: str, at_least: int, proc: subprocess.Popen, timeout: float = 300) -> int:
    """SIGKILL ``proc`` once ``query`` on ``db`` counts ``at_least``; returns the count then."""
    deadline, count = time.time() + timeout, 0
    while time.time() < deadline and proc.poll() is None:
        time.sleep(0.05)
        if db.exists():
            try:
                with sqlite3.connect(db) as con:
                    count = con.execute(query).fetchone()[0]
            except sqlite3.OperationalError:
                continue
            if count >= at_least:
                break
    assert proc.poll() is None, "the run ended before it could be killed: " + (proc.stderr.read() if proc.stderr else "")
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    return count


def rows(db: Path, query: str) -> list[tuple]:
    """The rows of ``query``; JSON columns without the timings (which no two runs share)."""
    with sqlite3.connect(db) as con:
        return [tuple(_untimed(v) for v in row) for row in con.execute(query).fetchall()]


def _untimed(value):
    if isinstance(value, str) and value.startswith("{"):
        data = json.loads(value)
        return {k: v for k, v in data.items() if not k.endswith("seconds")}
    return value


EPOCHS = "SELECT epoch, record FROM epochs ORDER BY epoch"
TRIALS = "SELECT number, arch_key, status, metrics FROM trials WHERE status != 'running' ORDER BY number"


def test_darts_killed_after_an_epoch_resumes_to_the_uninterrupted_result(images, tmp_path):
    args = ["search", "--task", f"npz:{images}", "--space", "nb201", "-P", "channels=4", "-P", "cells=1",
            "--strategy", "darts", "-S", "epochs=6", "-S", "batch_size=8", "-S", "threads=1", "--final-epochs", "1",
            "--seed", "2"]
    finish(*args, "--out", str(tmp_path / "live"))
    proc = nasforge(*args, "--out", str(tmp_path / "cut"))
    done = kill_when(tmp_path / "cut/trials.db", "SELECT COUNT(*) FROM epochs", 2, proc)
    before = rows(tmp_path / "cut/trials.db", EPOCHS)
    assert 2 <= done and len(before) < 6, "killed mid-run"
    finish("resume", str(tmp_path / "cut"))
    after = rows(tmp_path / "cut/trials.db", EPOCHS)
    assert after[:len(before)] == before, "completed epochs are kept as they were"
    assert [e for e, _ in after] == list(range(1, 7)), "no epoch lost or repeated"
    assert after == rows(tmp_path / "live/trials.db", EPOCHS)
    assert rows(tmp_path / "cut/trials.db", TRIALS) == rows(tmp_path / "live/trials.db", TRIALS)
    cut, live = (json.loads((tmp_path / name / "best/summary.json").read_text()) for name in ("cut", "live"))
    assert cut["arch"] == live["arch"] and cut["test_accuracy"] == live["test_accuracy"]


def test_fbnetv3_killed_mid_search_resumes_to_the_uninterrupted_result(tmp_path):
    args = ["fbnetv3", "--epochs", "1", "--final-epochs", "1", "--initial", "4", "--batch", "2", "--rounds", "3",
            "--pool-size", "20", "--budgets", "3000,6000", "--recipe", "lr", "--predictor", "gbdt", "--seed", "1"]
    finish(*args, "--out", str(tmp_path / "live"))
    proc = nasforge(*args, "--out", str(tmp_path / "cut"))
    done = kill_when(tmp_path / "cut/trials.db", "SELECT COUNT(*) FROM trials WHERE status = 'complete'", 5, proc)
    before = rows(tmp_path / "cut/trials.db", TRIALS)
    assert 5 <= done < 10, "killed mid-search"
    finish("resume", str(tmp_path / "cut"))
    after = rows(tmp_path / "cut/trials.db", TRIALS)
    assert after[:len(before)] == before, "finished trials are kept as they were"
    keys = [r[1] for r in after]
    assert len(keys) == len(set(keys)) == 10, "no trial lost or repeated"
    assert after == rows(tmp_path / "live/trials.db", TRIALS)
    family = [json.loads((tmp_path / name / "best/family.json").read_text()) for name in ("cut", "live")]
    assert [(m["budget"], m["arch"]) for m in family[0]] == [(m["budget"], m["arch"]) for m in family[1]]
