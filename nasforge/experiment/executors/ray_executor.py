"""The Ray executor: one Ray actor per worker, on a local Ray instance or a cluster.

The evaluator is put into Ray's object store once (``ray.put``) and each actor receives it when
it starts, so data travels once per worker, not once per trial; an actor keeps what the
evaluator loads lazily (tensors, a task read from disk) between trials. Each actor reserves
``threads_per_worker`` CPUs and ``gpus_per_trial`` GPUs (a fraction shares a GPU), and
``workers`` actors bound the concurrent trials. Results are collected with ``ray.wait`` as they
end.

A trial past ``trial_timeout`` gets its actor killed (a running actor call cannot be
interrupted otherwise); an actor whose process dies takes its trial with it. Either way the
trial comes back failed (``timeout`` / ``worker died``) and a new actor takes the slot; calls
sent to a new actor wait until it is up, and its trial's clock starts then.

Without ``ray_address`` the executor starts a private local Ray instance (``address="local"``)
and stops it at ``close``: it never attaches to another Ray instance on the machine, nor to the
cluster ``RAY_ADDRESS`` names (that takes ``ray_address``). With ``ray_address`` (``HOST:PORT``,
``ray://HOST:PORT`` or ``auto``) it connects to that cluster, started by ``ray start --head``, and
first checks, in a second, that the address answers, that the cluster's token (when it wants
one) is at hand, and that it runs our Ray and Python versions
(:mod:`~nasforge.experiment.executors.ray_cluster`), so a wrong address or token fails at once
with what to do instead of Ray retrying for minutes. The cluster is left running at ``close``.

Each result carries where it ran in ``info["worker"]``: the Ray node's id, IP address and host
name, the actor's worker id and process id (see :func:`ray_worker`).

Ray is an optional dependency (``pip install 'nasforge[ray]'``), imported only by ``start``.
"""

from __future__ import annotations

import logging
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nasforge.core.records import FAILED, EvalResult
from nasforge.estimate.base import Evaluator
from nasforge.experiment.executors.base import (
    EXECUTORS,
    Executor,
    ExecutorError,
    check_timeout,
    check_workers,
    died_result,
    limit_threads,
    pack,
    timeout_result,
    unpack,
    with_worker,
)
from nasforge.experiment.executors.ray_cluster import (
    ClusterAccess,
    apply_environment,
    check_address,
    check_cluster,
    no_cluster,
)
from nasforge.space.arch import Arch

log = logging.getLogger(__name__)

_STARTUP_TIMEOUT = 600.0
INSTALL_HINT = "the ray executor needs Ray: pip install 'nasforge[ray]'"


def cannot_connect(address: str, cause: str) -> str:
    """The message for a cluster that passed the checks but that ``ray.init`` could not join."""
    return (f"cannot connect to the Ray cluster at {address}: {cause.strip().rstrip('.')}. It answered and "
            f"its token and versions were checked; `ray status` on its head node shows its state")


def ray_worker() -> dict[str, Any]:
    """Where this Ray worker runs: ``executor``, ``host``, ``pid``, ``node_id``, ``node_ip``, ``worker_id``."""
    import socket

    import ray

    context = ray.get_runtime_context()
    return {"executor": "ray", "host": socket.gethostname(), "pid": os.getpid(), "node_id": context.get_node_id(),
            "node_ip": ray.util.get_node_ip_address(), "worker_id": context.get_worker_id()}


class _EvalActor:
    """Holds one evaluator for the actor's life and evaluates one arch per call."""

    def __init__(self, evaluator: Evaluator, threads: int | None) -> None:
        limit_threads(threads)
        self.evaluator = evaluator
        self.threads = threads
        self.where = ray_worker()

    def ready(self) -> dict[str, Any]:
        return self.where

    def evaluate(self, arch: tuple[str, dict[str, Any], str]) -> EvalResult:
        limit_threads(self.threads)
        return with_worker(self.evaluator.evaluate(unpack(arch)), self.where)


@dataclass
class _Slot:
    actor: Any
    ready_ref: Any  # ``actor.ready.remote()`` until the actor is up, then None
    pid: int | None = None
    where: dict[str, Any] | None = None  # :func:`ray_worker` of the actor, once it is up
    number: int | None = None
    ref: Any = None
    started: float | None = None  # when the trial began (the actor was up and had it)


@EXECUTORS.register("ray")
class RayExecutor(Executor):
    """``workers`` Ray actors; local Ray (``num_cpus = workers x threads``) unless ``ray_address`` is given.

    ``ray_address``: ``HOST:PORT`` of a cluster's head node (``ray start --head`` prints it),
    ``ray://HOST:PORT`` (Ray Client) or ``auto`` (the cluster Ray's own discovery finds:
    ``RAY_ADDRESS``, else the last ``ray start`` on this machine). ``ray_token_file``: a file
    holding the cluster's token, for a cluster with token authentication (otherwise Ray's own
    sources are used: ``RAY_AUTH_TOKEN``, ``RAY_AUTH_TOKEN_PATH``, ``~/.ray/auth_token``).

    An already initialised Ray (``ray.init`` called by the user) is used as it is and left
    running at ``close``.
    """

    def __init__(self, workers: int = 2, threads_per_worker: int | None = None, gpus_per_trial: float = 0.0,
                 ray_address: str | None = None, trial_timeout: float | None = None,
                 ray_token_file: str | Path | None = None) -> None:
        self.workers = check_workers(workers)
        if threads_per_worker is not None and threads_per_worker < 1:
            raise ValueError(f"threads_per_worker must be >= 1, got {threads_per_worker}")
        if not gpus_per_trial >= 0:
            raise ValueError(f"gpus_per_trial must be >= 0, got {gpus_per_trial}")
        if ray_address is not None:
            try:
                check_address(ray_address)
            except ValueError as exc:
                raise ValueError(f"ray_address: {exc}") from None
        if ray_token_file is not None and ray_address is None:
            raise ValueError("ray_token_file: needs ray_address (a private local Ray makes its own token)")
        local = max(1, (os.cpu_count() or 1) // workers)
        self.threads_per_worker = threads_per_worker or (1 if ray_address else local)
        self.gpus_per_trial = float(gpus_per_trial)
        self.address = ray_address
        self.token_file = ray_token_file
        self.trial_timeout = check_timeout(trial_timeout)
        self._slots: list[_Slot] = []
        self._owns_ray = False
        self._access: ClusterAccess | None = None
        self._restore_env: dict[str, str | None] = {}

    # ------------------------------------------------------------------ lifecycle
    def preflight(self) -> None:
        """Ray is installed; a cluster at ``ray_address`` answers, takes our token and runs our
        versions (:func:`~nasforge.experiment.executors.ray_cluster.check_cluster`)."""
        import importlib.util

        if importlib.util.find_spec("ray") is None:
            raise ExecutorError(INSTALL_HINT)
        if self.address:
            self._access = check_cluster(self.address, self.token_file)

    def start(self, evaluator: Evaluator) -> None:
        super().start(evaluator)
        try:
            import ray
        except ImportError:
            raise ExecutorError(INSTALL_HINT) from None
        began = time.perf_counter()
        if not ray.is_initialized():
            if self.address:
                self.preflight()
                assert self._access is not None
                self._restore_env = apply_environment(self._access.env)
            elif os.environ.get("RAY_ADDRESS"):
                log.warning("RAY_ADDRESS=%s is set but no ray_address was given: starting a private local Ray "
                            "instance (pass --ray-address to use that cluster)", os.environ["RAY_ADDRESS"])
            address = self._access.address if self._access else "local"  # "local": a new instance
            try:
                ray.init(address=address, num_cpus=None if self.address else self.workers * self.threads_per_worker,
                         include_dashboard=False, log_to_driver=False, logging_level=logging.ERROR)
            except Exception as exc:  # noqa: BLE001 - Ray raises several kinds here
                self._undo_environment()
                cause = f"{type(exc).__name__}: {exc}"
                if self.address and isinstance(exc, ConnectionError) and address.startswith("ray://"):
                    raise ExecutorError(no_cluster(address, cause)) from None
                if self.address:
                    raise ExecutorError(cannot_connect(address, cause)) from None
                raise ExecutorError(f"cannot start a private local Ray instance: {cause}") from None
            self._owns_ray = True
        try:
            self._start_actors(ray, evaluator)
        except BaseException:
            self.close()
            raise
        self.startup_seconds = time.perf_counter() - began

    def _start_actors(self, ray: Any, evaluator: Evaluator) -> None:
        self._check_resources(ray.cluster_resources())
        self._evaluator_ref = ray.put(evaluator)
        self._actor_cls = ray.remote(_EvalActor).options(
            num_cpus=self.threads_per_worker, num_gpus=self.gpus_per_trial, max_restarts=0, max_task_retries=0)
        self._slots = [self._new_slot() for _ in range(self.workers)]
        try:
            pids = ray.get([s.ready_ref for s in self._slots], timeout=_STARTUP_TIMEOUT)
        except ray.exceptions.GetTimeoutError:
            raise ExecutorError(f"the Ray workers did not start within {_STARTUP_TIMEOUT:g} s; the cluster has "
                               f"{ray.cluster_resources()}") from None
        except ray.exceptions.RayError as exc:
            cause = str(exc).strip().splitlines()[-1] if str(exc).strip() else type(exc).__name__
            raise ExecutorError(f"a Ray worker failed to start ({cause}); is the evaluator importable on the "
                                "workers?") from None
        for slot, where in zip(self._slots, pids, strict=True):
            slot.ready_ref, slot.pid, slot.where = None, where["pid"], where

    def close(self) -> None:
        if self._slots or self._owns_ray:
            import ray

            for slot in self._slots:
                ray.kill(slot.actor)
            self._slots = []
            self._evaluator_ref = None
            if self._owns_ray:
                ray.shutdown()
                self._owns_ray = False
                self._undo_environment()

    def _undo_environment(self) -> None:
        """Put back the auth variables changed to connect (after ``ray.shutdown``)."""
        if self._restore_env:
            apply_environment(self._restore_env)
            self._restore_env = {}

    def pids(self) -> list[int]:
        """Process ids of the actors that are up."""
        return [s.pid for s in self._slots if s.pid is not None]

    # ---------------------------------------------------------------- scheduling
    def free_slots(self) -> int:
        return sum(1 for s in self._slots if s.number is None)

    def running(self) -> int:
        return sum(1 for s in self._slots if s.number is not None)

    def submit(self, number: int, arch: Arch) -> None:
        slot = next(s for s in self._slots if s.number is None)
        slot.number, slot.ref = number, slot.actor.evaluate.remote(pack(arch))
        slot.started = time.monotonic() if slot.ready_ref is None else None

    def wait(self) -> list[tuple[int, EvalResult]]:
        import ray

        if self.running() == 0:
            raise RuntimeError("wait() with no trial running")
        while True:
            waiting = {s.ref: s for s in self._slots if s.number is not None}
            waiting.update({s.ready_ref: s for s in self._slots if s.ready_ref is not None})
            ray.wait(list(waiting), num_returns=1, timeout=self._next_deadline())
            done, _ = ray.wait(list(waiting), num_returns=len(waiting), timeout=0)
            out: list[tuple[int, EvalResult]] = []
            for ref in done:
                slot = waiting[ref]
                if slot.ready_ref is not None and ref == slot.ready_ref:
                    ended = self._up(slot, ref)
                elif slot.ref is not None and ref == slot.ref:
                    ended = self._collect(slot)
                else:
                    continue  # the slot was replaced meanwhile
                if ended is not None:
                    out.append(ended)
            out += self._stop_overdue()
            if out:
                return out

    # ------------------------------------------------------------------- helpers
    def _new_slot(self) -> _Slot:
        actor = self._actor_cls.remote(self._evaluator_ref, self.threads_per_worker)
        return _Slot(actor, actor.ready.remote())

    def _up(self, slot: _Slot, ref: Any) -> tuple[int, EvalResult] | None:
        """A new actor came up (or failed to)."""
        import ray

        try:
            slot.where, slot.ready_ref = ray.get(ref), None
            slot.pid = slot.where["pid"]
        except ray.exceptions.RayError as exc:
            return self._died(slot, f"a new Ray worker failed to start ({type(exc).__name__})")
        if slot.number is not None:
            slot.started = time.monotonic()
        return None

    def _collect(self, slot: _Slot) -> tuple[int, EvalResult] | None:
        import ray

        number = slot.number
        assert number is not None
        try:
            result = ray.get(slot.ref)
        except ray.exceptions.RayTaskError as exc:  # the call raised (the evaluator itself does not)
            result = with_worker(EvalResult(status=FAILED, error=f"{type(exc.cause).__name__}: {exc.cause}"),
                                 slot.where)
        except ray.exceptions.RayError as exc:
            return self._died(slot, f"Ray worker process {slot.pid} died ({type(exc).__name__})")
        slot.number, slot.ref, slot.started = None, None, None
        return number, result

    def _died(self, slot: _Slot, how: str) -> tuple[int, EvalResult] | None:
        number, started, where = slot.number, slot.started, slot.where
        self._replace(slot)
        if number is None:
            return None
        return number, with_worker(died_result(number, time.monotonic() - started if started else 0.0, how), where)

    def _stop_overdue(self) -> list[tuple[int, EvalResult]]:
        limit, now = self.trial_timeout, time.monotonic()
        out = []
        for slot in self._slots:
            if (limit is not None and slot.number is not None and slot.started is not None
                    and now - slot.started > limit):
                out.append((slot.number, with_worker(timeout_result(slot.number, now - slot.started, limit),
                                                     slot.where)))
                self._replace(slot)
        return out

    def _replace(self, slot: _Slot) -> None:
        import ray

        ray.kill(slot.actor)
        fresh = self._new_slot()
        slot.actor, slot.ready_ref, slot.pid, slot.where = fresh.actor, fresh.ready_ref, None, None
        slot.number, slot.ref, slot.started = None, None, None

    def _next_deadline(self) -> float | None:
        if self.trial_timeout is None:
            return None
        started = [s.started for s in self._slots if s.number is not None and s.started is not None]
        if not started:
            return None  # only trials waiting for an actor; its coming up ends the wait
        return max(0.0, min(started) + self.trial_timeout - time.monotonic()) + 0.01

    def _check_resources(self, have: dict[str, float]) -> None:
        cpus, gpus = have.get("CPU", 0.0), have.get("GPU", 0.0)
        if cpus < self.threads_per_worker:
            raise ExecutorError(f"each Ray worker needs {self.threads_per_worker} CPU(s) (threads_per_worker) "
                               f"but the Ray cluster has {cpus:g}")
        if self.gpus_per_trial > gpus:
            raise ExecutorError(f"gpus_per_trial={self.gpus_per_trial:g} but the Ray cluster has {gpus:g} GPU(s)")
        if cpus < self.workers * self.threads_per_worker:
            log.warning("%d workers x %d CPUs exceed the Ray cluster's %g CPUs; some workers will wait",
                        self.workers, self.threads_per_worker, cpus)
