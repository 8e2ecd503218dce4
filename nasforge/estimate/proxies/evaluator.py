"""ProxyEvaluator: zero-cost proxies of an architecture as an :class:`Evaluator`.

For each architecture: build the network with a fixed seed (the same initialisation for every
proxy), then run each proxy on the same fixed batch of the task's training images (the first
``batch_size`` of a seeded permutation, identical for every architecture). Every proxy runs
inside :func:`~nasforge.estimate.proxies.base.preserved`, so it sees the network as built.

Registered as the ``proxy`` evaluator (alias ``proxies``), whose settings are ``proxies`` (a list
or a comma-separated string of registered proxy names; default ``synflow``), ``batch_size``,
``threads`` and ``clock``; a run passes its own task, seed and device. The network is built (and
initialised) on the CPU, so every device starts from the same weights, then it and the batch
move to ``device`` (``cpu``, ``cuda``, ``cuda:N``), where every proxy runs.

Metrics: one per proxy (higher = predicted better). ``info["seconds"]`` holds each proxy's own
cost: its time plus the shared passes it used (what it would cost alone); ``cost_seconds`` is the
real total. ``clock="cpu"`` measures these as the thread's CPU time instead of wall time (with one
torch thread all the work runs in the calling thread): steadier on a busy shared machine. A proxy that cannot score a network is left out, its error in ``info["errors"]``;
if every proxy fails the result is failed.
"""

from __future__ import annotations

import gc
import time
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, field_validator

from nasforge.core.records import EvalResult
from nasforge.estimate.base import Evaluator, IncompatibleError, RunContext, register_evaluator
from nasforge.estimate.proxies import DEFAULT_PROXIES, PROXIES
from nasforge.space.arch import Arch
from nasforge.space.space import Space

CLOCKS = {"wall": time.perf_counter, "cpu": time.thread_time}


class ProxySettings(BaseModel):
    """Settings of the ``proxy`` evaluator."""

    model_config = ConfigDict(extra="forbid")

    proxies: tuple[str, ...] = Field(("synflow",), min_length=1, description="zero-cost proxies to compute")
    batch_size: int = Field(64, ge=2, le=100_000, description="images of the fixed batch every proxy sees")
    threads: int | None = Field(1, ge=1, le=1024, description="torch threads per evaluation (null: all cores)")
    clock: str = Field("wall", pattern="^(wall|cpu)$", description="what a proxy's seconds count")

    @field_validator("proxies", mode="before")
    @classmethod
    def _names(cls, value: Any) -> Any:
        if isinstance(value, str):
            value = [v.strip() for v in value.split(",") if v.strip()]
        names = list(value) if isinstance(value, (list, tuple)) else value
        if isinstance(names, list):
            for name in names:
                PROXIES.get(str(name))  # an unknown proxy lists the valid ones
            if len(set(names)) != len(names):
                raise ValueError(f"a proxy is named twice in {names}")
        return names


@register_evaluator("proxy", aliases=("proxies",))
class ProxyEvaluator(Evaluator):
    """Zero-cost proxies ``proxies`` of each arch on ``task`` (a Task or a spec like ``"cifar10"``).

    ``space`` (a Space or a registered name) builds the networks; by default the arch's own
    space by name. ``threads`` pins torch's intra-op threads (1 per worker process is best).
    """

    Settings = ProxySettings

    @classmethod
    def check_space(cls, space: Any, settings: Any) -> None:
        from nasforge.estimate.train import is_sequence_space

        super().check_space(space, settings)
        if is_sequence_space(space):
            raise IncompatibleError(f"the zero-cost proxies score classifiers of float inputs; space {space.name!r} "
                                    "builds language models of token ids: use the train evaluator")

    @classmethod
    def reports(cls, settings: ProxySettings, space: Any) -> list[str]:
        return list(settings.proxies)

    @classmethod
    def default_objectives(cls, settings: ProxySettings, space: Any) -> list[str]:
        return [f"{name}:max" for name in settings.proxies]

    @classmethod
    def for_run(cls, run: RunContext, settings: ProxySettings, constraints: Sequence[Any] = ()) -> ProxyEvaluator:
        return cls(settings.proxies, run.task, run.space, settings.batch_size, run.seed, settings.threads,
                   settings.clock, device=run.device)

    def __init__(self, proxies: Sequence[str] = DEFAULT_PROXIES, task: Any = "cifar10",
                 space: Space | str | None = None, batch_size: int = 64, seed: int = 0,
                 threads: int | None = None, clock: str = "wall", device: str = "cpu") -> None:
        if clock not in CLOCKS:
            raise ValueError(f"clock must be one of {list(CLOCKS)}, got {clock!r}")
        self.proxies = tuple(proxies)
        self.task = task
        self.space = space
        self.batch_size = batch_size
        self.seed = seed
        self.threads = threads
        self.clock = clock
        self.device = device
        self._batch: Any = None
        self._spaces: dict[str, Space] = {}

    def __getstate__(self) -> dict[str, Any]:  # the batch is rebuilt in each process
        return {**self.__dict__, "_batch": None, "_spaces": {}}

    def metric_names(self) -> list[str]:
        return list(self.proxies)

    # ------------------------------------------------------------------ set-up
    def loaded_task(self) -> Any:
        if isinstance(self.task, str):
            from nasforge.task import load_task

            self.task = load_task(self.task)
        return self.task

    def batch(self) -> Any:
        """The fixed :class:`ProxyBatch` (built once per process)."""
        if self._batch is None:
            import torch

            from nasforge.estimate.proxies.base import ProxyBatch

            for name in self.proxies:
                PROXIES.get(name)
            if self.batch_size < 2:
                raise ValueError(f"batch_size must be >= 2, got {self.batch_size}")
            task = self.loaded_task()
            order = np.random.default_rng(self.seed).permutation(len(task.x_train))[: self.batch_size]
            self._batch = ProxyBatch(torch.from_numpy(np.ascontiguousarray(task.x_train[order])).to(self.device),
                                     torch.from_numpy(task.y_train[order].astype(np.int64)).to(self.device),
                                     int(task.num_classes), self.seed, CLOCKS[self.clock])
        return self._batch

    def space_for(self, arch: Arch) -> Space:
        if isinstance(self.space, Space):
            return self.space
        name = self.space or arch.space
        if name not in self._spaces:
            from nasforge.space.registry import get_space

            self._spaces[name] = get_space(name)
        return self._spaces[name]

    def build(self, arch: Arch) -> Any:
        """The network of ``arch``, initialised from ``seed`` on the CPU (the caller's RNG is untouched),
        on ``device``."""
        import torch

        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(self.seed)
            model = self.space_for(arch).build(arch, self.loaded_task())
        return model.to(self.device).train()

    # -------------------------------------------------------------- evaluation
    def _evaluate(self, arch: Arch) -> EvalResult:
        import torch

        if self.threads:
            torch.set_num_threads(self.threads)
        batch = self.batch()
        clock = CLOCKS[self.clock]
        start, wall = clock(), time.perf_counter()
        model = self.build(arch)
        build_seconds = clock() - start
        values, seconds, errors = score_all(model, batch, self.proxies)
        if not values:
            raise RuntimeError("every proxy failed: " + "; ".join(f"{k}: {v}" for k, v in errors.items()))
        info = {"seconds": seconds, "build_seconds": build_seconds, "errors": errors,
                "batch_size": self.batch_size, "seed": self.seed, "clock": self.clock}
        return EvalResult(metrics=values, cost_seconds=time.perf_counter() - wall, info=info)


def score_all(model: Any, batch: Any, proxies: Sequence[str]
              ) -> tuple[dict[str, float], dict[str, float], dict[str, str]]:
    """``(values, seconds, errors)`` of ``proxies`` on one network, each in a preserved state."""
    from nasforge.estimate.proxies.base import preserved

    values: dict[str, float] = {}
    seconds: dict[str, float] = {}
    errors: dict[str, str] = {}
    batch.clear()
    try:
        for name in proxies:
            proxy = PROXIES.get(name)()
            batch.start_proxy()
            start = batch.clock()
            try:
                with preserved(model):
                    value = float(proxy.score(model, batch))
                if not np.isfinite(value):
                    raise ValueError(f"non-finite value {value}")
                values[name] = value
            except Exception as exc:  # noqa: BLE001 - one failing proxy must not lose the others
                errors[name] = f"{type(exc).__name__}: {exc}"
            own = batch.clock() - start
            seconds[name] = own + batch.reused_seconds()
    finally:
        batch.clear()
        _collect()
    return values, seconds, errors


_SCORED = [0]
_FULL_EVERY = 32


def _collect() -> None:
    """Free the graphs that reference cycles (hooks) hold, so they do not pile up between archs:
    the young generations after every network (cheap), everything every 32 networks (a full
    collection costs ~0.1 s in a process with a large heap)."""
    _SCORED[0] += 1
    gc.collect(2 if _SCORED[0] % _FULL_EVERY == 0 else 1)


def proxy_values(result: EvalResult) -> Mapping[str, float]:
    """The proxy metrics of a result (empty for a failed one)."""
    return dict(result.metrics) if result.ok else {}
