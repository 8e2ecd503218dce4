"""The run directory: its layout, its creation, an exclusive lock while a process uses it, and
atomic writes of its files.

Layout: ``config.yaml``, ``trials.db``, ``pareto.csv``, ``best/`` and ``report.html``.

A process that writes into a run directory holds its :class:`RunLock` before it writes anything;
every file besides ``trials.db`` is written through :func:`atomic_path` (a temporary file renamed
over the target), so a crash, a Ctrl-C or a full disk never leaves a half-written output.
"""

from __future__ import annotations

import errno
import fcntl
import os
import shutil
import tempfile
import time
from pathlib import Path

from nasforge.core.atomic import atomic_path, write_text_atomic  # noqa: F401 - how run files are written
from nasforge.experiment.errors import DISK_FULL, DiskFullError, RunDirError  # noqa: F401 - the run directory's errors

CONFIG = "config.yaml"
DB = "trials.db"
PARETO = "pareto.csv"
BEST = "best"
FRONT_CSV = "front.csv"  # in BEST: every Pareto-front member retrained and tested (config final_front)
REPORT = "report.html"
LOCK = ".lock"
#: free disk space below which a run directory is refused (a run writes a few MB: database, model, report)
MIN_FREE_BYTES = 32 * 2**20


def default_run_dir(root: str | Path = "nasforge-runs") -> Path:
    """A fresh ``nasforge-runs/<date>-<time>`` folder name (not created)."""
    stamp = time.strftime("%Y%m%d-%H%M%S")
    path = Path(root) / stamp
    n = 1
    while path.exists():
        n += 1
        path = Path(root) / f"{stamp}-{n}"
    return path


#: files and folders a run writes besides trials.db (a folder holding one of them is not empty)
RUN_FILES = (CONFIG, PARETO, REPORT, BEST, "checkpoint.pt", "supernet.pt")


def check_new(path: Path, locked: bool = False) -> None:
    """Refuse a run directory that a process is using, that already holds a run (or a damaged
    store), that holds files a run would overwrite, or that cannot be written. Writes nothing.
    ``locked``: the caller holds the directory's :class:`RunLock` (checking again under it)."""
    if path.exists() and not path.is_dir():
        raise RunDirError(f"cannot create the run directory {path}: it is a file")
    if path.is_dir() and not locked:
        check_not_in_use(path)
    if (path / DB).exists():
        from nasforge.experiment.storage import check_store

        check_store(path / DB)
        raise RunDirError(f"{path} already holds a run; continue it with `nasforge resume {path}` "
                          "or choose another --run-dir")
    found = [name for name in RUN_FILES if (path / name).exists()]
    if found:
        names = "a " + found[0] if len(found) == 1 else ", ".join(found)
        raise RunDirError(f"{path} holds {names} (and no {DB}: it is not a run) that a search would overwrite; "
                          f"choose an empty folder or move {'it' if len(found) == 1 else 'them'} away (a config "
                          "file is given to a search with --config FILE)")
    parent = path if path.exists() else _existing_parent(path)
    if not parent.is_dir():
        raise RunDirError(f"cannot create the run directory {path}: {parent} is not a directory")
    check_writable(parent, f"cannot create the run directory {path}")


def check_run(path: Path) -> None:
    """Refuse a folder that does not hold a run (``config.yaml`` and ``trials.db``), or whose
    ``trials.db`` is damaged. Writes nothing: readers (``show``, ``report``) call this."""
    if not (path / DB).is_file() or not (path / CONFIG).is_file():
        raise RunDirError(f"{path} is not a nasforge run directory (expected {CONFIG} and {DB} in it)")
    from nasforge.experiment.storage import check_store

    check_store(path / DB)


def check_existing(path: Path) -> None:
    """Refuse a folder that does not hold an intact run, or one that cannot be written."""
    check_run(path)
    check_writable(path, f"cannot continue the run in {path}")


def check_writable(folder: Path, doing: str) -> None:
    """Write, sync and delete a small probe file in ``folder``, and check the free space.

    A read-only file system, a full disk or missing permissions (which ``os.access`` does not
    see for root) fail here, before any work, with ``doing`` and the cause in the message.
    """
    try:
        write_probe(folder)
    except OSError as exc:
        raise RunDirError(f"{doing}: {folder} {_cause(exc)}") from None
    free = shutil.disk_usage(folder).free
    if free < MIN_FREE_BYTES:
        raise RunDirError(f"{doing}: the disk of {folder} is full ({free / 2**20:.1f} MiB free; a run needs at "
                          f"least {MIN_FREE_BYTES // 2**20} MiB)")


def write_probe(folder: Path) -> None:
    """Create, write 4 KiB to, sync and delete a file in ``folder`` (raises the OSError if any step fails)."""
    fd, name = tempfile.mkstemp(prefix=".nasforge-probe-", dir=folder)
    try:
        os.write(fd, b"\0" * 4096)
        os.fsync(fd)
    finally:
        os.close(fd)
        os.unlink(name)


def describe_os_error(exc: OSError) -> str:
    """What went wrong with a file, in words (``is on a read-only file system``, ...)."""
    return _cause(exc)


def _cause(exc: OSError) -> str:
    causes = {errno.EROFS: "is on a read-only file system", errno.ENOSPC: "is on a full disk (no space left)",
              errno.EDQUOT: "is over its disk quota", errno.EACCES: "is not writable (permission denied)",
              errno.EPERM: "is not writable (operation not permitted)"}
    return causes.get(exc.errno, f"cannot be written: {exc.strerror or exc}")


def remove_if_unused(path: Path) -> None:
    """Remove the files of a run that holds no trial yet (it could not start), and the folder if empty."""
    import sqlite3

    try:
        con = sqlite3.connect(path / DB)
        try:
            count = con.execute("SELECT COUNT(*) FROM trials").fetchone()[0]
        finally:
            con.close()
    except sqlite3.Error:
        return  # not a store this process created: leave it as it is
    if count:
        return
    for name in (CONFIG, DB, f"{DB}-wal", f"{DB}-shm", f"{DB}-journal", LOCK):
        (path / name).unlink(missing_ok=True)
    try:
        path.rmdir()
    except OSError:
        pass  # the folder holds other files: it was the user's before the run


def _existing_parent(path: Path) -> Path:
    for parent in [path, *path.absolute().parents]:
        if parent.exists():
            return parent
    return Path("/")


def check_not_in_use(path: Path) -> None:
    """Refuse a run directory whose lock another process holds (writes nothing)."""
    try:
        fd = os.open(path / LOCK, os.O_RDONLY)
    except OSError:
        return  # no lock file: nobody has used it
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        raise _in_use(path, fd) from None
    else:
        fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


def _in_use(path: Path, fd: int) -> RunDirError:
    holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "another process"
    return RunDirError(f"{path} is in use by process {holder}; two processes cannot run the same run directory")


class RunLock:
    """An exclusive, non-blocking lock on a run directory (released when the process ends).

    Taken before anything is written into the directory; it writes only ``.lock`` (its pid).
    """

    def __init__(self, path: Path) -> None:
        self.path = path / LOCK
        self._fd: int | None = None

    def __enter__(self) -> RunLock:
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            error = _in_use(self.path.parent, fd)
            os.close(fd)
            raise error from None
        os.ftruncate(fd, 0)
        os.write(fd, str(os.getpid()).encode())
        self._fd = fd
        return self

    def __exit__(self, *_: object) -> None:
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None
