"""The serial executor: evaluations in the calling process, one at a time."""

from __future__ import annotations

import logging
import signal
import threading
import time

from nasforge.core.records import EvalResult
from nasforge.experiment.executors.base import (
    EXECUTORS,
    Executor,
    check_timeout,
    this_process,
    timeout_result,
    with_worker,
)
from nasforge.space.arch import Arch

log = logging.getLogger(__name__)


class TrialTimeout(BaseException):
    """Raised in the evaluating thread by the timeout alarm.

    A ``BaseException`` so that an evaluator's ``except Exception`` does not swallow it.
    """


@EXECUTORS.register("serial")
class SerialExecutor(Executor):
    """Evaluates in the calling process, one at a time.

    ``trial_timeout`` uses ``SIGALRM``, so it interrupts Python code (a training loop between
    two steps) but not one long C call; it works in the main thread only.
    """

    in_process = True

    def __init__(self, workers: int = 1, trial_timeout: float | None = None) -> None:
        if workers != 1:
            raise ValueError(f"the serial executor runs one trial at a time; got workers={workers}")
        self.trial_timeout = check_timeout(trial_timeout)
        self._pending: list[tuple[int, Arch]] = []

    def free_slots(self) -> int:
        return 1 - len(self._pending)

    def running(self) -> int:
        return len(self._pending)

    def submit(self, number: int, arch: Arch) -> None:
        self._pending.append((number, arch))

    def wait(self) -> list[tuple[int, EvalResult]]:
        number, result = self._evaluate()
        return [(number, with_worker(result, {"executor": "serial", **this_process()}))]

    def _evaluate(self) -> tuple[int, EvalResult]:
        number, arch = self._pending.pop(0)
        limit = self.trial_timeout
        if limit is None:
            return number, self.evaluator.evaluate(arch)
        if threading.current_thread() is not threading.main_thread():
            log.warning("trial_timeout is ignored by the serial executor outside the main thread")
            return number, self.evaluator.evaluate(arch)
        start = time.perf_counter()

        def _alarm(signum: int, frame: object) -> None:
            raise TrialTimeout

        previous = signal.signal(signal.SIGALRM, _alarm)
        try:
            signal.setitimer(signal.ITIMER_REAL, limit)
            try:
                result = self.evaluator.evaluate(arch)
            finally:
                signal.setitimer(signal.ITIMER_REAL, 0)
        except TrialTimeout:
            result = timeout_result(number, time.perf_counter() - start, limit)
        finally:
            signal.signal(signal.SIGALRM, previous)
        return number, result
