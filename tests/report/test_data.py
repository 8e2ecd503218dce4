"""What the report plots: the best-so-far curve counts full-fidelity trials only."""

from __future__ import annotations

from pathlib import Path

from nasforge.core.objectives import Objective
from nasforge.core.records import COMPLETE, Trial
from nasforge.report.data import RunRecords, history
from nasforge.space import get_space


def test_history_ignores_lower_rungs():
    space = get_space("conv1d")
    archs = space.sample_distinct(3, 0)
    metrics = [{"val_accuracy": 0.95, "fidelity": 1 / 9}, {"val_accuracy": 0.80, "fidelity": 1.0},
               {"val_accuracy": 0.85}]
    trials = [Trial(i + 1, a, COMPLETE, m) for i, (a, m) in enumerate(zip(archs, metrics, strict=True))]
    records = RunRecords(Path("."), {}, trials, [Objective.parse("val_accuracy:max")], [], None)
    curve = history(records)
    assert curve.trial_index == [2, 3]  # the rung at 1/9 of the epochs is not a result to beat
    assert curve.best_so_far == [0.80, 0.85]
