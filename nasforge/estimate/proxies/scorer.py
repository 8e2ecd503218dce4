"""Scorers for the proxy-guided strategies: ``score(arch) -> float`` from a zero-cost proxy.

Registered in :data:`SCORERS` (factories ``factory(space, **settings) -> score(arch)``): one
scorer per proxy (``"synflow"``,
``"nwot"``, ...) computing it on demand, and ``"table"`` reading a ``proxies.csv`` written by
``nasforge proxies``. Importing this module does not import torch; scoring does.

Values are cached per process (the same arch, proxy, task and seed give the same value), and
``seconds(arch)`` reports what the value cost to compute (proxy plus network build), so a run
is charged the real compute of every arch it scores even when another run in the same worker
process computed it first (``clock="cpu"``: CPU seconds, steady on a busy machine).
"""

from __future__ import annotations

import csv
from functools import partial
from pathlib import Path
from typing import Any

from nasforge.core.registry import Registry
from nasforge.estimate.proxies import DEFAULT_PROXIES, PROXIES
from nasforge.space.arch import Arch
from nasforge.space.space import Space

#: Factories ``factory(space, **settings) -> score(arch)``; built-ins are every zero-cost proxy
#: and ``table`` (a precomputed proxies.csv). A run resolves them with its own task and seed
#: (:class:`~nasforge.core.services.Services`).
SCORERS: Registry[Any] = Registry("scorer")
register_scorer = SCORERS.register

_CACHE: dict[tuple[Any, ...], tuple[float, float]] = {}  # per process: (value, seconds)


class ProxyScorer:
    """One proxy of each arch's network, computed by a :class:`ProxyEvaluator` on ``device``."""

    def __init__(self, space: Space, proxy: str, task: Any = "cifar10", batch_size: int = 64,
                 seed: int = 0, threads: int | None = 1, clock: str = "wall", device: str = "cpu") -> None:
        PROXIES.get(proxy)
        if task is None:
            raise ValueError(f"scorer {proxy!r} computes a proxy on the run's data, and this run has no task "
                             "(give the scorer a task: scorer_settings={task: cifar10})")
        self.clock = clock
        self.space = space
        self.proxy = proxy
        self.task = task
        self.batch_size = batch_size
        self.seed = seed
        self.threads = threads
        self.device = device
        self._evaluator: Any = None

    def _key(self, arch: Arch) -> tuple[Any, ...]:
        task = self.task if isinstance(self.task, str) else getattr(self.task, "name", id(self.task))
        return (self.proxy, task, self.batch_size, self.seed, arch.key)

    def __call__(self, arch: Arch) -> float:
        key = self._key(arch)
        if key not in _CACHE:
            if self._evaluator is None:
                from nasforge.estimate.proxies.evaluator import ProxyEvaluator

                self._evaluator = ProxyEvaluator((self.proxy,), self.task, self.space,
                                                 self.batch_size, self.seed, self.threads, self.clock,
                                                 device=self.device)
            result = self._evaluator.evaluate(arch)
            if not result.ok or self.proxy not in result.metrics:
                raise RuntimeError(result.error or result.info.get("errors", {}).get(self.proxy, "failed"))
            seconds = result.info["seconds"][self.proxy] + result.info["build_seconds"]
            _CACHE[key] = (float(result.metrics[self.proxy]), float(seconds))
        return _CACHE[key][0]

    def seconds(self, arch: Arch) -> float:
        """Compute time of ``arch``'s value (0 if it was never computed)."""
        return _CACHE.get(self._key(arch), (0.0, 0.0))[1]


class TableScorer:
    """Values of ``column`` from a ``proxies.csv`` (and their cost from ``timings.csv`` beside it).

    Archs missing from the table raise ``KeyError`` (they rank last) unless ``compute_missing``
    is set, in which case that proxy is computed on demand.
    """

    def __init__(self, space: Space, path: str, column: str = "synflow",
                 compute_missing: bool = False, **settings: Any) -> None:
        folder = Path(path)
        values_path = folder / "proxies.csv" if folder.is_dir() else folder
        self.values = _read_column(values_path, column)
        self.costs = _read_column(values_path.with_name("timings.csv"), column, missing_ok=True)
        self.fallback = ProxyScorer(space, column, **settings) if compute_missing else None

    def __call__(self, arch: Arch) -> float:
        if arch.key in self.values:
            return self.values[arch.key]
        if self.fallback is None:
            raise KeyError(f"{arch.key} is not in the proxy table")
        return self.fallback(arch)

    def seconds(self, arch: Arch) -> float:
        if arch.key in self.values:
            return self.costs.get(arch.key, 0.0)
        return self.fallback.seconds(arch) if self.fallback is not None else 0.0


def _read_column(path: Path, column: str, missing_ok: bool = False) -> dict[str, float]:
    if not path.is_file():
        if missing_ok:
            return {}
        raise FileNotFoundError(f"proxy table {path} does not exist (write it with `nasforge proxies`)")
    with open(path, newline="") as f:
        reader = csv.DictReader(f)
        if column not in (reader.fieldnames or ()):
            raise ValueError(f"{path} has no column {column!r}; columns: {reader.fieldnames}")
        return {row["arch"]: float(row[column]) for row in reader if row.get(column)}


for _name in DEFAULT_PROXIES:
    register_scorer(_name)(partial(ProxyScorer, proxy=_name))
register_scorer("table")(TableScorer)
