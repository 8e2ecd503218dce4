"""The run's clock: wall, CPU or simulated seconds, what the time budget counts and every trial
records; it continues across sessions of a run."""

from __future__ import annotations

import time

import pytest
from toys import ToyEvaluator, toy_space

from nasforge.core.objectives import Objective
from nasforge.core.records import EvalResult
from nasforge.experiment.budget import Budget
from nasforge.experiment.clock import Clock
from nasforge.experiment.experiment import Experiment
from nasforge.experiment.storage import Storage
from nasforge.strategy.base import get_strategy


class Costly(ToyEvaluator):
    """Reports 30 s of (simulated) cost per evaluation and burns a little CPU."""

    def _evaluate(self, arch):
        total = sum(range(20_000))
        return EvalResult(metrics={**super()._evaluate(arch), "burn": float(total > 0)}, cost_seconds=30.0)


def run(path, clock, budget, executor=None):
    kwargs = {"executor": executor} if executor is not None else {}
    return Experiment(toy_space(), get_strategy("random"), Costly(), Storage(path), [Objective("score")], budget,
                      seed=0, clock=clock, **kwargs).run()


def test_a_simulated_clock_counts_the_reported_costs(tmp_path):
    trials = run(tmp_path / "r.db", "simulated", Budget(minutes=2))
    assert len(trials) == 4  # 4 x 30 s of reported cost fill two minutes, in a fraction of a real second
    assert [t.clock for t in trials] == [30.0, 60.0, 90.0, 120.0]


def test_the_clock_continues_when_a_run_is_resumed(tmp_path):
    run(tmp_path / "r.db", "simulated", Budget(minutes=1))
    trials = run(tmp_path / "r.db", "simulated", Budget(minutes=2))
    assert len(trials) == 4 and trials[-1].clock == 120.0


def test_wall_and_cpu_clocks_measure_this_process():
    wall, cpu = Clock("wall"), Clock("cpu")
    time.sleep(0.05)
    assert wall.now() >= 0.05 and cpu.now() < 0.05  # sleeping costs wall time, not CPU time
    burn = time.process_time() + 0.05
    while time.process_time() < burn:
        pass
    assert cpu.now() >= 0.05


def test_a_cpu_clock_adds_the_cpu_time_of_other_processes():
    clock = Clock("cpu", in_process=False)
    before = clock.now()
    clock.record(EvalResult(cost_seconds=99.0, cpu_seconds=7.0))
    assert clock.now() - before == pytest.approx(7.0, abs=0.05)
    assert Clock("cpu", in_process=True).now() < 1.0  # in-process evaluations are already counted


def test_an_unknown_clock_is_refused():
    with pytest.raises(ValueError, match="clock must be one of wall, cpu, simulated"):
        Clock("sundial")
