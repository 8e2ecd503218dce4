"""The processes executor: a small pool of local worker processes, one trial each at a time.

Each worker is a ``spawn``-ed process that receives the evaluator (and the data it holds) once,
when it starts, then evaluates one architecture per message. The pool is our own rather than
``concurrent.futures``' because a per-trial timeout has to kill exactly one worker, and
``ProcessPoolExecutor`` breaks as a whole (taking every running trial) when one worker dies.
Here a dead or killed worker loses only its own trial, which comes back failed with reason
``worker died`` or ``timeout``, and a new worker takes its place.

Messages from a worker: ``("ready", pid)`` once, then ``("start", number)`` and
``("done", number, result)`` per trial; the timeout counts from ``start``, so a worker still
starting up (importing torch) does not eat into its trial's time.

A worker never outlives the driver, however the driver ends (SIGKILL, a crash, an OOM kill):
on Linux the kernel kills it when its parent dies (``prctl(PR_SET_PDEATHSIG, SIGKILL)``), and
on any system a daemon thread in the worker ends it within half a second of its parent
process changing. (Linux sends the death signal when the *thread* that started the worker
ends: start and use an executor from one thread, or from threads that live as long as it.)
"""

from __future__ import annotations

import ctypes
import multiprocessing as mp
import multiprocessing.connection as mpc
import os
import signal
import sys
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from nasforge.core.records import FAILED, EvalResult
from nasforge.estimate.base import Evaluator
from nasforge.experiment.executors.base import (
    EXECUTORS,
    Executor,
    ExecutorError,
    check_timeout,
    check_workers,
    describe_exit,
    died_result,
    limit_threads,
    pack,
    this_process,
    timeout_result,
    unpack,
    with_worker,
)
from nasforge.space.arch import Arch

_STARTUP_TIMEOUT = 600.0
_PR_SET_PDEATHSIG = 1  # from <linux/prctl.h>
#: seconds between a worker's checks that its parent is alive (the portable fallback)
PARENT_POLL_SECONDS = 0.5


def die_with_parent(parent: int) -> None:
    """End this process when process ``parent`` (its parent) ends; see the module docstring.

    Called first thing in a worker, before the evaluator is unpickled (which may take seconds).
    """
    if sys.platform.startswith("linux"):
        try:
            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        except (OSError, AttributeError):  # no prctl here: the thread below still watches
            pass
    if os.getppid() != parent:  # the parent died before the death signal was armed
        os._exit(1)
    threading.Thread(target=_watch_parent, args=(parent,), name="nasforge-parent-watch", daemon=True).start()


def _watch_parent(parent: int) -> None:
    while os.getppid() == parent:
        time.sleep(PARENT_POLL_SECONDS)
    os._exit(1)  # orphaned: the driver is gone, and with it whoever would read this trial's result


class _TieToParent:
    """An argument of the worker that, being unpickled in the worker, calls :func:`die_with_parent`.

    Placed before the evaluator among the worker's arguments, so the tie holds before the
    evaluator is unpickled (which may import torch and read data for seconds); in the worker the
    argument itself is ``None``.
    """

    def __init__(self, parent: int) -> None:
        self.parent = parent

    def __reduce__(self) -> tuple[Any, tuple[int]]:
        return die_with_parent, (self.parent,)


def _worker_main(tie: None, conn: mpc.Connection, evaluator: Evaluator, threads: int | None) -> None:
    """A worker's life: announce itself, then evaluate until told to stop or the pipe closes."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the driver's to handle
    limit_threads(threads)
    conn.send(("ready", os.getpid()))
    while True:
        try:
            message = conn.recv()
        except (EOFError, OSError):
            return
        if message is None:
            return
        number, arch = message
        conn.send(("start", number))
        limit_threads(threads)
        result = evaluator.evaluate(unpack(arch))
        try:
            conn.send(("done", number, result))
        except (BrokenPipeError, OSError):
            return
        except Exception as exc:  # noqa: BLE001 - e.g. an unpicklable metric value
            conn.send(("done", number, EvalResult(status=FAILED, error=f"result could not be sent back: "
                                                               f"{type(exc).__name__}: {exc}")))


@dataclass
class _Worker:
    process: Any
    conn: mpc.Connection
    ready: bool = False
    number: int | None = None  # the trial it holds
    submitted: float = 0.0
    started: float | None = None  # when the trial began in the worker
    pid: int | None = field(default=None)


@EXECUTORS.register("processes")
class ProcessExecutor(Executor):
    """``workers`` local processes; ``threads_per_worker`` torch threads each (default: cores / workers)."""

    def __init__(self, workers: int = 2, threads_per_worker: int | None = None,
                 trial_timeout: float | None = None) -> None:
        self.workers = check_workers(workers)
        if threads_per_worker is not None and threads_per_worker < 1:
            raise ValueError(f"threads_per_worker must be >= 1, got {threads_per_worker}")
        self.threads_per_worker = threads_per_worker or max(1, (os.cpu_count() or 1) // workers)
        self.trial_timeout = check_timeout(trial_timeout)
        self._pool: list[_Worker] = []
        self._ctx = mp.get_context("spawn")

    # ------------------------------------------------------------------ lifecycle
    def start(self, evaluator: Evaluator) -> None:
        super().start(evaluator)
        began = time.perf_counter()
        self._pool = [self._spawn() for _ in range(self.workers)]
        deadline = time.monotonic() + _STARTUP_TIMEOUT
        try:
            for worker in self._pool:
                self._await_ready(worker, deadline)
        except BaseException:
            self.close()
            raise
        self.startup_seconds = time.perf_counter() - began

    def close(self) -> None:
        for worker in self._pool:
            try:
                if worker.number is None:
                    worker.conn.send(None)
                else:
                    worker.process.kill()
            except (BrokenPipeError, OSError):
                pass
        for worker in self._pool:
            worker.process.join(5)
            if worker.process.is_alive():
                worker.process.kill()
                worker.process.join(5)
            worker.conn.close()
        self._pool = []

    def pids(self) -> list[int]:
        """Process ids of the current workers."""
        return [w.process.pid for w in self._pool]

    # ---------------------------------------------------------------- scheduling
    def free_slots(self) -> int:
        return sum(1 for w in self._pool if w.number is None)

    def running(self) -> int:
        return sum(1 for w in self._pool if w.number is not None)

    def submit(self, number: int, arch: Arch) -> None:
        index = next(i for i, w in enumerate(self._pool) if w.number is None)
        if not self._pool[index].process.is_alive():  # died while idle
            self._replace(index)
        worker = self._pool[index]
        try:
            worker.conn.send((number, pack(arch)))
        except (BrokenPipeError, OSError):
            self._replace(index)
            worker = self._pool[index]
            worker.conn.send((number, pack(arch)))
        worker.number, worker.submitted, worker.started = number, time.monotonic(), None

    def wait(self) -> list[tuple[int, EvalResult]]:
        if self.running() == 0:
            raise RuntimeError("wait() with no trial running")
        while True:
            busy = [w for w in self._pool if w.number is not None]
            mpc.wait([w.conn for w in busy] + [w.process.sentinel for w in busy], timeout=self._next_deadline())
            out: list[tuple[int, EvalResult]] = []
            for index, worker in enumerate(self._pool):
                if worker.number is not None:
                    ended = self._poll(index, worker)
                    if ended is not None:
                        out.append(ended)
            if out:
                return out

    # ------------------------------------------------------------------- helpers
    def _spawn(self) -> _Worker:
        parent, child = self._ctx.Pipe(duplex=True)
        process = self._ctx.Process(target=_worker_main,
                                    args=(_TieToParent(os.getpid()), child, self.evaluator, self.threads_per_worker),
                                    daemon=True, name="nasforge-worker")
        process.start()
        child.close()
        return _Worker(process, parent, pid=process.pid)

    def _await_ready(self, worker: _Worker, deadline: float) -> None:
        while not worker.ready:
            left = deadline - time.monotonic()
            ready = mpc.wait([worker.conn, worker.process.sentinel], timeout=max(left, 0))
            if worker.conn in ready and worker.conn.poll():
                try:
                    self._receive(worker)
                    continue
                except (EOFError, OSError):
                    pass
            if not worker.process.is_alive() or left <= 0:
                worker.process.kill()
                worker.process.join(5)
                raise ExecutorError(f"a worker process failed to start ({describe_exit(worker.pid, worker.process.exitcode)}"
                                   "); its error is printed above. Is the evaluator importable in a fresh process?")

    def _receive(self, worker: _Worker) -> EvalResult | None:
        message = worker.conn.recv()
        if message[0] == "ready":
            worker.ready = True
        elif message[0] == "start":
            worker.started = time.monotonic()
        elif message[0] == "done":
            return message[2]
        return None

    def _poll(self, index: int, worker: _Worker) -> tuple[int, EvalResult] | None:
        """The ended trial of a busy worker, or ``None`` while it is still running."""
        number = worker.number
        assert number is not None
        try:
            while worker.conn.poll():
                result = self._receive(worker)
                if result is not None:
                    worker.number = None
                    return number, with_worker(result, self._where(worker))
        except (EOFError, OSError):
            worker.process.join(5)  # the pipe closed: the worker is gone or going
        now = time.monotonic()
        if not worker.process.is_alive():
            worker.process.join(1)
            how = describe_exit(worker.pid, worker.process.exitcode)
            self._replace(index)
            return number, with_worker(died_result(number, now - (worker.started or worker.submitted), how),
                                       self._where(worker))
        limit = self.trial_timeout
        if limit is not None and worker.started is not None and now - worker.started > limit:
            worker.process.kill()
            worker.process.join(5)
            self._replace(index)
            return number, with_worker(timeout_result(number, now - worker.started, limit), self._where(worker))
        return None

    @staticmethod
    def _where(worker: _Worker) -> dict[str, Any]:
        """Where ``worker`` runs (``info["worker"]``): this machine, its process id."""
        return {"executor": "processes", **this_process(), "pid": worker.pid}

    def _next_deadline(self) -> float | None:
        """Seconds until the earliest running trial passes its timeout (``None``: no limit)."""
        if self.trial_timeout is None:
            return None
        started = [w.started for w in self._pool if w.number is not None and w.started is not None]
        if not started:
            return 1.0  # trials not begun yet: look again soon
        return max(0.0, min(started) + self.trial_timeout - time.monotonic()) + 0.01

    def _replace(self, index: int) -> None:
        self._pool[index].conn.close()
        self._pool[index] = self._spawn()
