"""Where nasforge finds reference data (tabular benchmarks, the CIFAR-10 subset)."""

from __future__ import annotations

import os
from pathlib import Path


class MissingDataError(FileNotFoundError):
    """A data file nasforge needs is not where it looked; the message says how to fix it."""


def data_dir() -> Path:
    """The data directory: ``$NASFORGE_DATA`` if set, else ``../shared/data`` beside the repo."""
    env = os.environ.get("NASFORGE_DATA")
    if env:
        return Path(env).expanduser()
    repo_root = Path(__file__).resolve().parents[2]
    return (repo_root.parent / "shared" / "data").resolve()


def data_file(name: str, what: str) -> Path:
    """Path of ``name`` in the data directory, or a :class:`MissingDataError` naming the fix."""
    path = data_dir() / name
    if not path.is_file():
        raise MissingDataError(
            f"{what} needs the file {name!r}, expected at {path}. "
            f"Set NASFORGE_DATA to the folder that holds it (e.g. export NASFORGE_DATA=/path/to/data)."
        )
    return path
