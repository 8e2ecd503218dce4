"""The executor contract, its registry, and the failed results executors make themselves.

Contract: ``start(evaluator)`` once (it may block until the workers are up); then
``free_slots()``, ``submit(number, arch)`` and ``wait()``, which blocks until at least one
submitted evaluation ends and returns the ended ones as ``(number, EvalResult)``; ``close()`` at
the end. The loop asks a new architecture whenever a slot is free, so workers never wait for the
slowest one. ``workers`` bounds the concurrent trials.

Faults are results, never exceptions: an evaluation past ``trial_timeout`` seconds is stopped
(its worker killed where it has one) and comes back failed with reason ``timeout``; a worker
process that dies takes its trial with it, which comes back failed with reason ``worker died``,
and the executor starts a new worker. The reason is in ``EvalResult.info["reason"]``.

Where each trial ran is in ``EvalResult.info["worker"]`` (kept in the trial's stored ``info``):
``executor``, ``host`` and ``pid`` of the process that evaluated it, and on Ray the node's
``node_id`` and ``node_ip`` and the actor's ``worker_id``.
"""

from __future__ import annotations

import math
import signal
from collections.abc import Iterable, Mapping
from dataclasses import replace
from typing import Any

from nasforge.core.records import FAILED, EvalResult
from nasforge.core.registry import Registry
from nasforge.estimate.base import Evaluator
from nasforge.space.arch import Arch

#: the key of ``EvalResult.info`` / ``Trial.info`` that says where a trial ran: ``executor``,
#: ``host``, ``pid``, and on Ray also ``node_id``, ``node_ip`` and ``worker_id``
WORKER = "worker"
TIMEOUT = "timeout"
WORKER_DIED = "worker died"
EXCEPTION = "exception"
NAN = "nan"


class ExecutorError(RuntimeError):
    """An executor that cannot start (Ray missing or unreachable, workers failing to start)."""


class Executor:
    """Base class; see the module docstring."""

    workers: int = 1
    #: whether evaluations run in the calling process (a ``cpu`` clock then sees their CPU time)
    in_process: bool = False
    trial_timeout: float | None = None
    #: seconds ``start`` took (workers started and the evaluator shipped to them)
    startup_seconds: float = 0.0

    def preflight(self) -> None:
        """Cheap checks before a run directory is made (raise :class:`ExecutorError`); no workers start."""

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


EXECUTORS: Registry[type[Executor]] = Registry(
    "executor",
    modules=(
        "nasforge.experiment.executors.serial",
        "nasforge.experiment.executors.processes",
        "nasforge.experiment.executors.ray_executor",
    ),
)


def check_timeout(trial_timeout: float | None) -> float | None:
    """``trial_timeout`` validated: ``None`` (no limit) or a positive number of seconds."""
    if trial_timeout is None:
        return None
    if not (isinstance(trial_timeout, int | float) and math.isfinite(trial_timeout) and trial_timeout > 0):
        raise ValueError(f"trial_timeout must be a positive number of seconds, got {trial_timeout!r}")
    return float(trial_timeout)


def check_workers(workers: int) -> int:
    if not isinstance(workers, int) or workers < 1:
        raise ValueError(f"workers must be an integer >= 1, got {workers!r}")
    return workers


def timeout_result(number: int, seconds: float, limit: float) -> EvalResult:
    """The failed result of a trial stopped after ``seconds`` for exceeding ``limit``."""
    return EvalResult(status=FAILED, error=f"timeout: trial {number} ran past the trial timeout of {limit:g} s "
                      "and was stopped", cost_seconds=seconds, info={"reason": TIMEOUT})


def died_result(number: int, seconds: float, how: str) -> EvalResult:
    """The failed result of a trial whose worker died (``how`` says how)."""
    return EvalResult(status=FAILED, error=f"worker died: {how} while evaluating trial {number}",
                      cost_seconds=seconds, info={"reason": WORKER_DIED})


def this_process() -> dict[str, Any]:
    """Where an evaluation in this process runs: ``host`` (the machine's name) and ``pid``."""
    import os
    import socket

    return {"host": socket.gethostname(), "pid": os.getpid()}


def with_worker(result: EvalResult, where: Mapping[str, Any] | None) -> EvalResult:
    """``result`` with ``info["worker"] = where`` (the node and process that evaluated it), if known."""
    if not where:
        return result
    return replace(result, info={**dict(result.info), WORKER: dict(where)})


def where_ran(infos: Iterable[Mapping[str, Any]]) -> list[str]:
    """One line per machine that ran trials, from the trials' ``info``, in order of first use:
    ``"vm 192.0.2.2 (Ray node 704f4106c4e0): 6 trials, 2 worker processes"``. Trials without a
    ``worker`` record (stored before nasforge kept one) are left out."""
    machines: dict[str, tuple[str, list[int], set[Any]]] = {}
    for info in infos:
        where = info.get(WORKER) if info else None
        if not isinstance(where, Mapping):
            continue
        node = where.get("node_id")
        label = " ".join(str(v) for v in (where.get("host"), where.get("node_ip")) if v) or "?"
        if node:
            label += f" (Ray node {str(node)[:12]})"
        key = str(node or where.get("host"))
        entry = machines.setdefault(key, (label, [0], set()))
        entry[1][0] += 1
        entry[2].add(where.get("pid"))
    return [f"{label}: {count[0]} trial{'s' * (count[0] != 1)}, {len(pids)} worker process{'es' * (len(pids) != 1)}"
            for label, count, pids in machines.values()]


def describe_exit(pid: int | None, exitcode: int | None) -> str:
    """``"worker process 12 was killed by SIGKILL"`` / ``"... exited with code 1"``."""
    who = f"worker process {pid}" if pid else "a worker process"
    if exitcode is not None and exitcode < 0:
        try:
            name = signal.Signals(-exitcode).name
        except ValueError:
            name = f"signal {-exitcode}"
        return f"{who} was killed by {name}"
    return f"{who} exited with code {exitcode}"


def failure_reason(result: EvalResult) -> str | None:
    """Why a result failed: ``timeout``, ``worker died``, ``nan`` or ``exception`` (``None`` if it did not)."""
    if result.status != FAILED:
        return None
    reason = result.info.get("reason") if result.info else None
    if reason:
        return str(reason)
    return NAN if result.error and result.error.startswith("NonFiniteMetricError") else EXCEPTION


def pack(arch: Arch) -> tuple[str, dict[str, Any], str]:
    """An Arch as plain data for another process (an Arch itself does not survive pickling)."""
    return arch.space, arch.to_dict(), arch.body


def unpack(data: tuple[str, dict[str, Any], str]) -> Arch:
    """The Arch :func:`pack` made."""
    return Arch(*data)


def limit_threads(threads: int | None) -> None:
    """Pin this process's math libraries to ``threads`` threads (before or after torch loads).

    torch is not imported for it: an evaluator that never uses torch starts faster.
    """
    if not threads:
        return
    import os
    import sys

    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ[var] = str(threads)
    torch: Any = sys.modules.get("torch")
    if torch is not None and torch.get_num_threads() != threads:
        torch.set_num_threads(threads)
