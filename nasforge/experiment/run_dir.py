"""The run directory: its layout, its creation, and an exclusive lock while a process uses it.

Layout: ``config.yaml``, ``trials.db``, ``pareto.csv``, ``best/`` and ``report.html``.
"""

from __future__ import annotations

import fcntl
import os
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
    if not os.access(parent, os.W_OK):
        raise RunDirError(f"cannot create the run directory {path}: {parent} is not writable")


def check_existing(path: Path) -> None:
    """Refuse a folder that does not hold a run."""
    if not (path / DB).is_file() or not (path / CONFIG).is_file():
        raise RunDirError(f"{path} is not a nasforge run directory (expected {CONFIG} and {DB} in it)")


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
