"""The errors of a run directory and its storage: what cannot be used as asked, and a full disk."""

from __future__ import annotations

import errno
from pathlib import Path


class RunDirError(RuntimeError):
    """A run directory that cannot be used as asked (exists, missing, locked, not writable)."""


class DiskFullError(RunDirError):
    """The disk filled up while nasforge wrote ``file`` of the run in ``run_dir``."""

    def __init__(self, file: str | Path, run_dir: str | Path, code: int = errno.ENOSPC) -> None:
        what = "disk quota exceeded" if code == errno.EDQUOT else "no space left on device"
        super().__init__(f"{what} while writing {file}; free space and `nasforge resume {run_dir}` "
                         "(finished trials are kept)")
        self.file, self.run_dir = Path(file), Path(run_dir)


#: errno values of a disk that is full (or a quota that is spent)
DISK_FULL = (errno.ENOSPC, errno.EDQUOT)
