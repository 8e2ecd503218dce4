"""The run directory: its layout, its creation, and an exclusive lock while a process uses it.

Layout: ``config.yaml``, ``trials.db``, ``pareto.csv``, ``best/`` and ``report.html``.
"""

from __future__ import annotations

import errno
import fcntl
import os
import shutil
import tempfile
import time
from pathlib import Path


class RunDirError(RuntimeError):
    """A run directory that cannot be used as asked (exists, missing, locked, not writable)."""


CONFIG = "config.yaml"
DB = "trials.db"
PARETO = "pareto.csv"
BEST = "best"
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


def check_new(path: Path) -> None:
    """Refuse a run directory that already holds a run, or one that cannot be written."""
    if (path / DB).exists():
        raise RunDirError(f"{path} already holds a run; continue it with `nasforge resume {path}` "
                          "or choose another --run-dir")
    parent = path if path.exists() else _existing_parent(path)
    if not parent.is_dir():
        raise RunDirError(f"cannot create the run directory {path}: {parent} is not a directory")
    check_writable(parent, f"cannot create the run directory {path}")


def check_existing(path: Path) -> None:
    """Refuse a folder that does not hold a run, or one that cannot be written."""
    if not (path / DB).is_file() or not (path / CONFIG).is_file():
        raise RunDirError(f"{path} is not a nasforge run directory (expected {CONFIG} and {DB} in it)")
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
        count = 0
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


class RunLock:
    """An exclusive, non-blocking lock on a run directory (released when the process ends)."""

    def __init__(self, path: Path) -> None:
        self.path = path / LOCK
        self._fd: int | None = None

    def __enter__(self) -> RunLock:
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.read(fd, 32).decode(errors="replace").strip() or "another process"
            os.close(fd)
            raise RunDirError(f"{self.path.parent} is in use by process {holder}; "
                              "two processes cannot run the same run directory") from None
        os.ftruncate(fd, 0)
        os.write(fd, str(os.getpid()).encode())
        self._fd = fd
        return self

    def __exit__(self, *_: object) -> None:
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None
