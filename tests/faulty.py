"""A toy evaluator that misbehaves on chosen evaluations, in any process (for fault tests).

Evaluations are numbered 1, 2, ... across every process that shares ``folder`` (each claims
the next number by creating ``call-N`` exclusively), so "the 3rd evaluation" means the same
thing with serial, process and Ray workers, and a retry is a later evaluation.
"""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

from toys import toy_score, toy_space

from nasforge.core.objectives import Objective
from nasforge.estimate.base import Evaluator
from nasforge.experiment.budget import Budget
from nasforge.experiment.experiment import Experiment
from nasforge.experiment.storage import Storage
from nasforge.strategy.base import get_strategy

FAULTS = ("raise", "nan", "hang", "die", "await_kill")


class FaultyEvaluator(Evaluator):
    """Toy metrics after ``seconds`` of sleep; at evaluation numbers in ``calls``, does ``fault``.

    ``raise``: an exception; ``nan``: a NaN score; ``hang``: sleeps ``hang_seconds``; ``die``:
    SIGKILLs its own process; ``await_kill``: writes its pid to ``folder/victim.pid`` and sleeps
    until someone kills it. At evaluation numbers in ``interrupt`` it raises KeyboardInterrupt,
    which stops a serial search mid-trial as a killed driver would.
    """

    def __init__(self, folder: str | Path, fault: str = "raise", calls: tuple[int, ...] = (),
                 seconds: float = 0.0, hang_seconds: float = 120.0, interrupt: tuple[int, ...] = ()) -> None:
        assert fault in FAULTS, fault
        self.folder = str(folder)
        self.fault = fault
        self.calls = tuple(calls)
        self.seconds = seconds
        self.hang_seconds = hang_seconds
        self.interrupt = tuple(interrupt)

    def claim(self) -> int:
        n = 1
        while True:
            try:
                os.close(os.open(os.path.join(self.folder, f"call-{n}"), os.O_CREAT | os.O_EXCL))
                return n
            except FileExistsError:
                n += 1

    def _evaluate(self, arch):
        n = self.claim()
        if n in self.interrupt:
            raise KeyboardInterrupt
        if self.seconds:
            time.sleep(self.seconds)
        metrics = {"score": toy_score(arch), "size": float(sum(int(v) for v in arch.values())),
                   "pid": float(os.getpid())}
        if n not in self.calls:
            return metrics
        if self.fault == "raise":
            raise RuntimeError(f"deliberate failure at evaluation {n}")
        if self.fault == "nan":
            return {**metrics, "score": float("nan")}
        if self.fault == "die":
            os.kill(os.getpid(), signal.SIGKILL)
        if self.fault == "await_kill":
            Path(self.folder, "victim.pid").write_text(str(os.getpid()))
        time.sleep(self.hang_seconds)
        return metrics


def evaluations(folder: str | Path) -> int:
    """How many evaluations have started."""
    return len(list(Path(folder).glob("call-*")))


def kill_victim_when_ready(folder: str | Path, timeout: float = 120.0) -> int:
    """Wait for ``victim.pid`` (written mid-trial) and SIGKILL that process; returns its pid."""
    path = Path(folder, "victim.pid")
    deadline = time.monotonic() + timeout
    while not path.exists() or not path.read_text().strip():
        if time.monotonic() > deadline:
            raise TimeoutError("no victim appeared")
        time.sleep(0.05)
    pid = int(path.read_text())
    os.kill(pid, signal.SIGKILL)
    return pid


class Unloadable(Evaluator):
    """Pickles, but cannot be unpickled in a worker."""

    def __init__(self) -> None:
        self.state = 1

    def __setstate__(self, state):
        raise RuntimeError("cannot load me")

    def _evaluate(self, arch):
        return {"score": 0.0}


def search(tmp_path, evaluator, executor, trials=8, retries=0, name="t.db"):
    """Run a random search on the toy space; returns (trials, storage)."""
    storage = Storage(Path(tmp_path) / name)
    exp = Experiment(toy_space(), get_strategy("random"), evaluator, storage, [Objective("score")],
                     Budget(trials=trials), seed=1, executor=executor, retries=retries)
    return exp.run(), storage


def overlapping(trials) -> bool:
    """Whether two trials ran at the same time (by their stored start and end times)."""
    spans = sorted((t.started, t.finished) for t in trials)
    return any(b[0] < a[1] for a, b in zip(spans, spans[1:], strict=False))
