"""A run read back from its directory, read-only: ``nasforge.load_run(RUN)``.

The run's files are only read (``trials.db`` opened read-only, see
:func:`nasforge.report.data.read_run`), so a run another process is still writing, or one on a
read-only disk, can be looked at.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nasforge.core.records import Trial
from nasforge.experiment.selection import pareto_trials, select_best
from nasforge.report.data import RunRecords, read_run
from nasforge.report.table import TrialTable, trial_table


@dataclass(frozen=True)
class RunView(RunRecords):
    """A run directory's records (configuration as stored, trials, final summary, run facts)
    with the views a user asks for: front, selected trial, trial table, DataFrame."""

    #: the space's decision names in its own order (None: the space is not registered here)
    decisions: list[str] | None = None

    @property
    def pareto_front(self) -> list[Trial]:
        """The non-dominated feasible trials, best first on the first objective."""
        return pareto_trials(self.trials, self.objectives, self.constraints)

    @property
    def best(self) -> Trial | None:
        """The trial the run selects (the same rule as the search)."""
        return select_best(self.trials, self.objectives, self.constraints)

    def table(self) -> TrialTable:
        """The trial table (:func:`~nasforge.report.table.trial_table`)."""
        return trial_table(self.trials, self.objectives, self.constraints, self.decisions)

    def to_dataframe(self) -> Any:
        """The trial table as a pandas DataFrame (needs ``pip install 'nasforge[pandas]'``)."""
        return self.table().to_dataframe()


def read_run_view(run_dir: str | Path) -> RunView:
    """Read the run in ``run_dir`` (a :class:`~nasforge.experiment.run_dir.RunDirError` if the
    folder holds no intact run)."""
    records = read_run(run_dir)
    return RunView(**vars(records), decisions=space_decisions(records.config))


def space_decisions(config: dict[str, Any]) -> list[str] | None:
    """The decision names of the run's space, in the space's order, if the space is registered
    (a run stores its architectures' decisions sorted by name); else None."""
    from nasforge.space.registry import SPACES, get_space

    name, settings = config.get("space"), config.get("space_settings") or {}
    if not isinstance(name, str) or name not in SPACES or not isinstance(settings, dict):
        return None
    try:
        return [c.name for c in get_space(name, **settings).choices]
    except (TypeError, ValueError):
        return None
