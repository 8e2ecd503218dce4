"""Hardening of the run directory: nothing lost, nothing executed, every bad input a clear error.

Each test feeds one bad input or fault to the command line (or its library call) and checks both
the message the user sees and that nothing finished was lost or overwritten.
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import re
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from nasforge.cli import app
from nasforge.core import atomic
from nasforge.experiment import run_dir as rd
from nasforge.experiment import storage as storage_module

runner = CliRunner()
TABULAR = ["--space", "macro", "--evaluator", "tabular"]
TRAIN = ["--trials", "2", "--epochs", "1", "--final-epochs", "1", "--batch-size", "256", "--strategy", "random"]


def _search(args: list[str]):
    return runner.invoke(app, ["search", *args])


def _flat(text: str) -> str:
    """Output with Rich's box drawing and line wrapping removed."""
    return " ".join(re.sub("[│╭╮╰╯─┃┏┓┗┛━┡┩└┘]", " ", text).split())


def snapshot(folder: Path, skip: tuple[str, ...] = ()) -> dict[str, tuple[int, int, str]]:
    """Every file under ``folder`` (hidden ones too): size, mtime and content hash."""
    out = {}
    for path in sorted(folder.rglob("*")):
        rel = str(path.relative_to(folder))
        if path.is_file() and rel not in skip:
            st = path.stat()
            out[rel] = (st.st_size, st.st_mtime_ns, hashlib.sha256(path.read_bytes()).hexdigest())
    return out


def rows(db: Path) -> list[tuple]:
    con = sqlite3.connect(db)  # closed as the last connection, it leaves no -wal/-shm file behind
    try:
        return con.execute("SELECT number, arch_key, status, metrics, finished FROM trials ORDER BY number").fetchall()
    finally:
        con.close()


@pytest.fixture(scope="module")
def finished(tmp_path_factory) -> Path:
    """A finished tabular run (4 trials); tests work on copies of it."""
    path = tmp_path_factory.mktemp("template") / "run"
    result = _search([*TABULAR, "--trials", "4", "--out", str(path)])
    assert result.exit_code == 0, result.output
    return path


@pytest.fixture
def run(finished, tmp_path) -> Path:
    path = tmp_path / "run"
    shutil.copytree(finished, path)
    return path


# ------------------------------------------------------- 1. the lock before any write


def test_search_on_a_run_directory_another_process_holds_changes_nothing(run):
    config = (run / rd.CONFIG).read_bytes()
    with rd.RunLock(run):
        before = snapshot(run)  # the lock holds the test's pid
        result = _search([*TABULAR, "--trials", "2", "--seed", "9", "--out", str(run)])
        resumed = runner.invoke(app, ["resume", str(run)])
    assert result.exit_code == 2, result.output
    assert f"{run} is in use by process {os.getpid()}; two processes cannot run the same run directory" \
        in result.output
    assert resumed.exit_code == 2 and "is in use by process" in resumed.output
    assert (run / rd.CONFIG).read_bytes() == config, "config.yaml is byte-identical"
    assert snapshot(run) == before


def test_search_on_a_folder_whose_lock_is_held_writes_nothing(tmp_path):
    """The race: the other search holds the lock but has not written its config.yaml yet."""
    folder = tmp_path / "new"
    folder.mkdir()
    with rd.RunLock(folder):
        before = snapshot(folder)
        result = _search([*TABULAR, "--trials", "2", "--out", str(folder)])
    assert result.exit_code == 2 and "is in use by process" in result.output, result.output
    assert snapshot(folder) == before and sorted(p.name for p in folder.iterdir()) == [rd.LOCK]


@pytest.mark.parametrize("name", [rd.CONFIG, rd.REPORT, rd.PARETO])
def test_a_folder_holding_a_users_file_is_refused_not_overwritten(tmp_path, name):
    folder = tmp_path / "mine"
    folder.mkdir()
    (folder / name).write_text("my own notes\n")
    before = snapshot(folder)
    result = _search([*TABULAR, "--trials", "2", "--out", str(folder)])
    assert result.exit_code == 2, result.output
    assert f"{folder} holds a {name} (and no trials.db: it is not a run) that a search would overwrite; " \
           "choose an empty folder or move it away" in _flat(result.output)
    assert snapshot(folder) == before, "nothing written, not even a lock"


# ------------------------------------------------------------- 2. a damaged store


def _damage(db: Path, kind: str) -> None:
    if kind == "empty":
        db.write_bytes(b"")
    elif kind == "garbage":
        db.write_bytes(b"\x00garbage, not a database\xff" * 200)
    elif kind == "half":
        with open(db, "r+b") as fh:
            fh.truncate(db.stat().st_size // 2)
    else:  # a SQLite file of something else
        db.unlink()
        con = sqlite3.connect(db)
        con.execute("CREATE TABLE notes (text TEXT)")
        con.commit()
        con.close()


REASONS = {"empty": "empty: 0 bytes", "garbage": "not a SQLite database", "half": "SQLite: database disk image is "
           "malformed", "foreign": "no tables meta, trials: not a nasforge store"}


@pytest.mark.parametrize("kind", list(REASONS))
@pytest.mark.parametrize("command", [["show"], ["show", "--csv"], ["report"], ["resume"], ["search"]])
def test_a_damaged_store_is_refused_and_left_untouched(run, kind, command):
    db = run / rd.DB
    _damage(db, kind)
    before = snapshot(run)
    args = [*command, str(run)] if command[0] != "search" else ["search", *TABULAR, "--trials", "2", "--out", str(run)]
    result = runner.invoke(app, args)
    assert result.exit_code == 2, result.output
    message = _flat(result.output)
    assert f"error: {db} is damaged ({REASONS[kind]}" in message
    assert "nasforge will not write to it; restore it from a backup" in message
    assert isinstance(result.exception, SystemExit), "an error message, not a traceback"
    assert snapshot(run) == before, "the damaged file (and everything else) is left as it was"


def test_readers_open_the_store_read_only_and_change_no_file(run, tmp_path, monkeypatch):
    opened: list[tuple[str, bool]] = []
    connect = sqlite3.connect

    def recording(database, *args, **kwargs):
        opened.append((str(database), bool(kwargs.get("uri"))))
        return connect(database, *args, **kwargs)

    monkeypatch.setattr(storage_module.sqlite3, "connect", recording)
    before = snapshot(run)
    shown = runner.invoke(app, ["show", str(run), "--csv"])
    assert shown.exit_code == 0 and len(shown.output.strip().splitlines()) == 5, shown.output
    table = runner.invoke(app, ["show", str(run)])
    assert table.exit_code == 0, table.output
    reported = runner.invoke(app, ["report", str(run), "--out", str(tmp_path / "elsewhere")])
    assert reported.exit_code == 0 and (tmp_path / "elsewhere" / rd.REPORT).is_file(), reported.output
    assert opened and all(uri and "mode=ro" in name and name.startswith("file:") for name, uri in opened), opened
    assert all("immutable=1" in name for name, _ in opened), "no write-ahead log: nothing created next to it"
    assert snapshot(run) == before, "show and report --out change no file of the run"


def test_report_that_cannot_write_its_page_says_so(run, monkeypatch):
    def read_only(path, text):
        raise OSError(errno.EROFS, os.strerror(errno.EROFS))

    monkeypatch.setattr(rd, "write_text_atomic", read_only)
    before = snapshot(run)
    result = runner.invoke(app, ["report", str(run)])
    assert result.exit_code == 2, result.output
    assert (f"error: cannot write {run / rd.REPORT}: {run} is on a read-only file system; the run is unchanged; "
            f"`nasforge report {run} --out FOLDER` writes it elsewhere") in _flat(result.output)
    assert snapshot(run) == before


_IN_READ_ONLY_MOUNT = """
import json, sys
from typer.testing import CliRunner
from nasforge.cli import app
from nasforge.core import atomic
run, out = sys.argv[1], sys.argv[2]
results = {}
for name, args in {"show": ["show", run, "--csv"], "report": ["report", run], "report_out": ["report", run, "-o", out],
                   "resume": ["resume", run]}.items():
    r = CliRunner().invoke(app, args)
    results[name] = [r.exit_code, r.output]
print("RESULTS" + json.dumps(results))
"""


def _read_only_prefix(run: Path) -> list[str] | None:
    """A command prefix that runs its command with ``run`` on a read-only file system, or None."""
    unshare = shutil.which("unshare")
    if unshare and subprocess.run([unshare, "-rm", "true"], capture_output=True).returncode == 0:
        script = 'mount --bind "$1" "$1" && mount -o remount,bind,ro "$1" && shift && exec "$@"'
        return [unshare, "-rm", "sh", "-c", script, "sh", str(run)]
    if os.geteuid() != 0:  # without root, permissions make it read-only
        for path in [run, *run.rglob("*")]:
            path.chmod(path.stat().st_mode & ~0o222)
        return []
    return None


def test_show_and_report_work_on_a_read_only_file_system(run, tmp_path):
    prefix = _read_only_prefix(run)
    if prefix is None:
        pytest.skip("root without user namespaces cannot make a read-only folder here; "
                    "test_readers_open_the_store_read_only_and_change_no_file covers the code path")
    before = snapshot(run)
    try:
        proc = subprocess.run([*prefix, sys.executable, "-c", _IN_READ_ONLY_MOUNT, str(run), str(tmp_path / "out")],
                              capture_output=True, text=True, timeout=300)
    finally:
        for path in [run, *run.rglob("*")]:
            path.chmod(path.stat().st_mode | 0o200)
    assert "RESULTS" in proc.stdout, proc.stderr
    results = json.loads(proc.stdout.split("RESULTS", 1)[1])
    code, output = results["show"]
    assert code == 0 and len(output.strip().splitlines()) == 5, output
    code, output = results["report"]
    assert code == 2 and f"cannot write {run / rd.REPORT}: {run} is on a read-only file system" in _flat(output)
    assert f"`nasforge report {run} --out FOLDER` writes it elsewhere" in _flat(output)
    code, output = results["report_out"]
    assert code == 0 and (tmp_path / "out" / rd.REPORT).is_file(), output
    code, output = results["resume"]
    assert code == 2 and f"cannot continue the run in {run}: {run} is on a read-only file system" in output
    assert snapshot(run) == before


# ------------------------------------------------------ 3. resuming a finished run


def test_resume_of_a_complete_run_changes_nothing(run):
    before = snapshot(run, skip=(rd.LOCK,))
    result = runner.invoke(app, ["resume", str(run)])
    assert result.exit_code == 0, result.output
    assert "the run is complete: nothing was run or written again" in _flat(result.output)
    assert snapshot(run, skip=(rd.LOCK,)) == before, "best/, the report and trials.db are untouched"


def _full_disk_open(fail_in: str):
    """``open`` that fails with ENOSPC halfway through writing a file in the folder ``fail_in``."""
    real = open

    class HalfWritten:
        def __init__(self, fh):
            self.fh = fh

        def write(self, text):
            self.fh.write(text[: len(text) // 2])
            self.fh.flush()
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            self.fh.close()

    def fake(file, mode="r", *args, **kwargs):
        fh = real(file, mode, *args, **kwargs)
        return HalfWritten(fh) if "w" in mode and Path(file).parent.name == fail_in else fh

    return fake


def test_a_run_stopped_in_its_finalisation_is_only_finalised(tmp_path, monkeypatch):
    """Ctrl-C while best/model.pt is being written; resume finishes just the finalisation."""
    import torch

    from nasforge.run import export

    run = tmp_path / "run"
    real_save = torch.save

    def interrupted(obj, path, *args, **kwargs):
        Path(path).write_bytes(b"half a model")
        raise KeyboardInterrupt

    monkeypatch.setattr(export.torch, "save", interrupted)
    result = _search([*TRAIN, "--out", str(run)])
    assert result.exit_code == 130, result.output
    assert f"interrupted; continue with `nasforge resume {run}`" in result.output
    assert not (run / "best/model.pt").exists(), "no half-written model"
    assert not [p for p in (run / "best").iterdir() if p.name.startswith(".")], "no temporary file left"
    stored = rows(run / rd.DB)
    assert [r[2] for r in stored] == ["complete", "complete"]

    monkeypatch.setattr(export.torch, "save", real_save)
    resumed = runner.invoke(app, ["resume", str(run)])
    assert resumed.exit_code == 0, resumed.output
    assert rows(run / rd.DB) == stored, "no trial was evaluated again"
    summary = json.loads((run / "best/summary.json").read_text())
    assert summary["retrain_epochs"] == 1 and (run / "best/model.pt").stat().st_size > 1000
    assert (run / "best/model.onnx").is_file() and (run / rd.REPORT).is_file()
    before = snapshot(run, skip=(rd.LOCK,))
    again = runner.invoke(app, ["resume", str(run)])
    assert again.exit_code == 0 and "the run is complete" in _flat(again.output)
    assert snapshot(run, skip=(rd.LOCK,)) == before, "best/model.pt is not retrained or rewritten"


# ------------------------------------------------------------------ 4. Ctrl-C


def _finished_rows(db: Path) -> list[tuple]:
    return [r for r in rows(db) if r[2] != "running"]


def _finished_so_far(db: Path) -> int:
    """Finished trials of a run still being written, read without ever creating ``db`` (a plain
    ``connect`` before the run makes its store leaves an empty file the run then refuses)."""
    if not db.is_file():
        return 0
    con = sqlite3.connect(f"{db.as_uri()}?mode=ro", uri=True)
    try:
        return con.execute("SELECT COUNT(*) FROM trials WHERE status != 'running'").fetchone()[0]
    finally:
        con.close()


def test_sigint_mid_search_stops_cleanly_and_resume_completes(tmp_path):
    run = tmp_path / "interrupted"
    budget = 8
    cmd = [sys.executable, "-m", "nasforge", "search", "--trials", str(budget), "--epochs", "2", "--final-epochs",
           "1", "--run-dir", str(run), "--strategy", "evolution", "-S", "population_size=4", "-S", "sample_size=2"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "PYTHONUNBUFFERED": "1"},
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    deadline = time.time() + 120
    while time.time() < deadline and proc.poll() is None:
        time.sleep(0.2)
        try:
            if _finished_so_far(run / rd.DB) >= 2:
                break
        except sqlite3.Error:
            continue
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    assert f"interrupted; continue with `nasforge resume {run}`" in err and "Traceback" not in err
    stored = rows(run / rd.DB)
    finished = [r for r in stored if r[2] != "running"]
    assert 2 <= len(finished) < budget, "interrupted mid-search"
    assert all(r[2] == "complete" for r in finished), "the interrupted trial is not stored as failed"
    assert len(stored) - len(finished) <= 1, "at most the trial in flight is left running"
    assert not (run / "best").exists()

    result = runner.invoke(app, ["resume", str(run)])
    assert result.exit_code == 0, result.output
    after = _finished_rows(run / rd.DB)
    assert after[: len(finished)] == finished, "finished trials are kept as they were"
    assert len(after) == budget and len({r[1] for r in after}) == budget
    assert (run / "best/summary.json").is_file() and (run / "best/model.onnx").is_file()


# ---------------------------------------------------------------- 5. a full disk


def test_a_disk_full_while_exporting_leaves_no_partial_file(tmp_path, monkeypatch):
    run = tmp_path / "run"
    monkeypatch.setattr(atomic, "open", _full_disk_open("best"), raising=False)
    result = _search([*TABULAR, "--trials", "4", "--out", str(run)])
    assert result.exit_code == 2, result.output
    assert (f"error: no space left on device while writing {run / 'best/arch.json'}; free space and "
            f"`nasforge resume {run}`") in _flat(result.output)
    assert "Traceback" not in result.output
    assert list((run / "best").iterdir()) == [], "no zero-byte or half-written arch.json, no temporary file"
    stored = rows(run / rd.DB)
    assert [r[2] for r in stored] == ["complete"] * 4

    monkeypatch.undo()
    resumed = runner.invoke(app, ["resume", str(run)])
    assert resumed.exit_code == 0, resumed.output
    assert rows(run / rd.DB) == stored
    assert json.loads((run / "best/arch.json").read_text())["key"].startswith("macro:")


def test_a_disk_full_while_saving_the_model_leaves_no_partial_file(tmp_path, monkeypatch):
    import torch

    from nasforge.run import export

    run = tmp_path / "run"
    real_save = torch.save

    def full(obj, path, *args, **kwargs):
        Path(path).write_bytes(b"\0" * 100)
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(export.torch, "save", full)
    result = _search([*TRAIN, "--out", str(run)])
    assert result.exit_code == 2, result.output
    assert (f"no space left on device while writing {run / 'best/model.pt'}; free space and "
            f"`nasforge resume {run}`") in _flat(result.output)
    assert not (run / "best/model.pt").exists() and not (run / "best/summary.json").exists()
    assert not [p for p in (run / "best").iterdir() if p.name.startswith(".")]
    stored = rows(run / rd.DB)
    monkeypatch.setattr(export.torch, "save", real_save)
    assert runner.invoke(app, ["resume", str(run)]).exit_code == 0
    assert rows(run / rd.DB) == stored and (run / "best/model.pt").stat().st_size > 1000


def test_a_disk_full_during_the_search_keeps_the_finished_trials(tmp_path, monkeypatch):
    from nasforge.experiment.storage import Storage

    run = tmp_path / "run"
    finish = Storage.finish_trial
    calls = []

    def filling(self, *args, **kwargs):
        calls.append(1)
        if len(calls) == 3:
            raise sqlite3.OperationalError("database or disk is full")
        return finish(self, *args, **kwargs)

    monkeypatch.setattr(Storage, "finish_trial", filling)
    result = _search([*TABULAR, "--trials", "4", "--out", str(run)])
    assert result.exit_code == 2, result.output
    assert (f"error: no space left on device while writing {run / rd.DB}; free space and "
            f"`nasforge resume {run}`") in _flat(result.output)
    stored = rows(run / rd.DB)
    assert [r[2] for r in stored] == ["complete", "complete", "running"] and not (run / "best").exists()

    monkeypatch.undo()
    resumed = runner.invoke(app, ["resume", str(run)])
    assert resumed.exit_code == 0, resumed.output
    after = rows(run / rd.DB)
    assert after[:2] == stored[:2] and [r[2] for r in after] == ["complete"] * 4
    assert (run / "best/summary.json").is_file()


# ------------------------------------------------- 6. a config edited between sessions


def _edit(run: Path, **changes) -> None:
    config = yaml.safe_load((run / rd.CONFIG).read_text())
    for dotted, value in changes.items():
        *parents, last = dotted.split("__")
        target = config
        for key in parents:
            target = target[key]
        target[last] = value
    (run / rd.CONFIG).write_text(yaml.safe_dump(config, sort_keys=False))


def test_a_changed_config_is_refused_with_the_changed_fields(run):
    _edit(run, budget__trials=6, seed=5, objectives=["accuracy:max", "params:min"])
    before = snapshot(run, skip=(rd.LOCK,))
    result = runner.invoke(app, ["resume", str(run)])
    assert result.exit_code == 2, result.output
    message = _flat(result.output)
    assert f"error: {run / rd.CONFIG} changed since the run started:" in message
    assert "seed: 0 -> 5" in message and "objectives: ['accuracy:max'] -> ['accuracy:max', 'params:min']" in message
    assert "budget.trials" not in message.split("Fields that may change without it:")[0], "a safe change is not listed"
    assert f"nasforge resume {run} --allow-change objectives --allow-change seed" in message
    assert ("Fields that may change without it: budget.trials, budget.minutes, executor, workers, threads_per_worker, "
            "gpus_per_trial, ray_address, ray_token_file, trial_timeout, retries, final_retrain, final_front, "
            "evaluator.settings.threads") in message
    assert snapshot(run, skip=(rd.LOCK,)) == before, "nothing run, nothing written"


def test_a_safe_change_goes_on_and_an_allowed_one_is_recorded(run):
    stored = rows(run / rd.DB)
    _edit(run, budget__trials=6)
    result = runner.invoke(app, ["resume", str(run)])
    assert result.exit_code == 0, result.output
    after = rows(run / rd.DB)
    assert after[:4] == stored and len(after) == 6, "a raised budget searches on"

    _edit(run, seed=7)
    nope = runner.invoke(app, ["resume", str(run), "--allow-change", "sede"])
    assert nope.exit_code == 2 and "--allow-change sede: the run's configuration has no field 'sede'" in nope.output
    allowed = runner.invoke(app, ["resume", str(run), "--allow-change", "seed"])
    assert allowed.exit_code == 0, allowed.output
    again = runner.invoke(app, ["resume", str(run)])
    assert again.exit_code == 0 and "the run is complete" in _flat(again.output), "the accepted change is recorded"


def test_a_run_without_a_stored_config_is_accepted_with_a_warning(run):
    con = sqlite3.connect(run / rd.DB)
    con.execute("DELETE FROM meta WHERE key IN ('config', 'finished')")
    con.commit()
    con.close()
    _edit(run, seed=3)
    # a process of its own: the warning reaches the terminal through the CLI's log handler
    result = subprocess.run([sys.executable, "-m", "nasforge", "resume", str(run)], capture_output=True, text=True,
                            env={**os.environ, "COLUMNS": "250"}, timeout=300)
    assert result.returncode == 0, result.stderr
    assert (f"{run} was started by a nasforge that did not store the run's configuration: changes made to its "
            "config.yaml since cannot be detected") in _flat(result.stdout + result.stderr)


# ------------------------------------------------ 7. constraints nothing met


def test_constraints_nothing_met_are_reported_with_the_closest_trial(tmp_path):
    run = tmp_path / "run"
    result = _search([*TABULAR, "--trials", "4", "--constraint", "accuracy>=99", "--out", str(run)])
    assert result.exit_code == 0, result.output
    stored = rows(run / rd.DB)
    best = max(stored, key=lambda r: json.loads(r[3])["accuracy"])
    accuracy = json.loads(best[3])["accuracy"]
    message = _flat(result.output)
    assert "nothing met the constraints" in message
    assert ("none of the 4 trials met the constraints accuracy>=99: nothing was selected, retrained or exported."
            in message)
    assert f"closest: trial {best[0]} ({best[1]}, complete) with accuracy {accuracy:.4g}" in message
    assert not (run / "best").exists()
