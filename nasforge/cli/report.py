"""``nasforge compare``: several finished runs on one self-contained page.

(``nasforge report``, which rebuilds one run's page, lives with ``show`` in ``cli/search.py``.)
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from nasforge.cli import app
from nasforge.cli.common import Command, fail


@app.command(cls=Command)
def compare(
    runs: Annotated[list[Path], typer.Argument(help="two or more finished run directories")],
    out: Annotated[Path, typer.Option("--out", "-o", help="the page to write")] = Path("compare.html"),
) -> None:
    """Compare finished runs on one page: configs side by side, best-so-far curves and Pareto
    fronts overlaid, each run's selected model and hypervolume (common reference point)."""
    from nasforge.experiment.run_dir import DISK_FULL, RunDirError, describe_os_error
    from nasforge.report.compare import write_compare

    try:
        path = write_compare(runs, out)
    except (RunDirError, ValueError) as exc:
        fail(exc)
    except OSError as exc:  # the page could not be written; the runs were only read
        target = exc.filename or out
        if exc.errno in DISK_FULL:
            fail(f"no space left on device while writing {target}")
        fail(f"cannot write {target}: {Path(target).parent} {describe_os_error(exc)}")
    typer.echo(str(path))
