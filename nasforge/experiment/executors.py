"""Executors run evaluations, asynchronously: submit when a slot is free, collect as they end.

Contract: ``start(evaluator)`` once; then ``free_slots()``, ``submit(number, arch)`` and
``wait()`` (blocks until at least one submitted evaluation ends and returns the ended ones as
``(number, EvalResult)``); ``close()`` at the end. The loop asks a new architecture whenever a
slot is free, so workers never wait for the slowest one.
"""

from __future__ import annotations

import concurrent.futures as cf
import multiprocessing as mp
from typing import Any

from nasforge.estimate.base import FAILED, EvalResult, Evaluator
from nasforge.registry import Registry
from nasforge.space.arch import Arch


class Executor:
    """Base class; see the module docstring."""

    workers: int = 1

    def start(self, evaluator: Evaluator) -> None:
        self.evaluator = evaluator

    def free_slots(self) -> int:
        raise NotImplementedError

    def running(self) -> int:
        raise NotImplementedError

    def submit(self, number: int, arch: Arch) -> None:
        raise NotImplementedError

    def wait(self) -> list[tuple[int, EvalResult]]:
        raise NotImplementedError

    def close(self) -> None:
        pass


EXECUTORS: Registry[type[Executor]] = Registry("executor")


@EXECUTORS.register("serial")
class SerialExecutor(Executor):
    """Evaluates in the calling process, one at a time."""

    def __init__(self, workers: int = 1) -> None:
        if workers != 1:
            raise ValueError(f"the serial executor runs one trial at a time; got workers={workers}")
        self._pending: list[tuple[int, Arch]] = []

    def free_slots(self) -> int:
        return 1 - len(self._pending)

    def running(self) -> int:
        return len(self._pending)

    def submit(self, number: int, arch: Arch) -> None:
        self._pending.append((number, arch))

    def wait(self) -> list[tuple[int, EvalResult]]:
        number, arch = self._pending.pop(0)
        return [(number, self.evaluator.evaluate(arch))]


_WORKER_EVALUATOR: Evaluator | None = None


def _init_worker(evaluator: Evaluator, threads: int) -> None:
    global _WORKER_EVALUATOR
    import torch

    torch.set_num_threads(threads)
    _WORKER_EVALUATOR = evaluator


def _evaluate_in_worker(arch: Arch) -> EvalResult:
    assert _WORKER_EVALUATOR is not None
    return _WORKER_EVALUATOR.evaluate(arch)


@EXECUTORS.register("processes")
class ProcessExecutor(Executor):
    """A pool of worker processes; the evaluator (and its data) is sent once per worker."""

    def __init__(self, workers: int = 2, threads_per_worker: int = 1) -> None:
        if workers < 1:
            raise ValueError(f"workers must be >= 1, got {workers}")
        self.workers = workers
        self.threads_per_worker = threads_per_worker
        self._futures: dict[cf.Future, int] = {}

    def start(self, evaluator: Evaluator) -> None:
        super().start(evaluator)
        self._pool = cf.ProcessPoolExecutor(
            self.workers, mp_context=mp.get_context("spawn"),
            initializer=_init_worker, initargs=(evaluator, self.threads_per_worker))

    def free_slots(self) -> int:
        return self.workers - len(self._futures)

    def running(self) -> int:
        return len(self._futures)

    def submit(self, number: int, arch: Arch) -> None:
        self._futures[self._pool.submit(_evaluate_in_worker, arch)] = number

    def wait(self) -> list[tuple[int, EvalResult]]:
        done, _ = cf.wait(list(self._futures), return_when=cf.FIRST_COMPLETED)
        out = []
        for fut in done:
            number = self._futures.pop(fut)
            try:
                out.append((number, fut.result()))
            except Exception as exc:  # a worker that died takes its trial with it
                out.append((number, EvalResult(status=FAILED, error=f"worker failed: {type(exc).__name__}: {exc}")))
        return out

    def close(self) -> None:
        pool: Any = getattr(self, "_pool", None)
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)


def get_executor(name: str, **settings: Any) -> Executor:
    """A new executor ``name`` (``serial`` or ``processes``)."""
    return EXECUTORS.get(name)(**settings)
