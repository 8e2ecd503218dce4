"""Proxy-guided search: zero-cost proxies steer which architectures are worth evaluating.

A strategy never imports torch, so the proxy reaches it as a plain callable ``score(arch) ->
float`` (higher = predicted better), or by name: ``scorer="synflow"`` is resolved at ``setup``
by the run's :class:`~nasforge.core.services.Services` (``scorer(name, settings)``), which
computes the proxy on the run's own task and seed (registry:
:data:`nasforge.estimate.proxies.scorer.SCORERS`). Every strategy keeps a per-run :class:`ScoreCache`, so an architecture is
scored once per run, and its ``evaluations`` and ``seconds`` are the proxy compute that run
spent (reported beside the query count; on a tabular benchmark this is the real cost).

- :class:`ProxyWarmStart` (``proxy-warmstart``): score a random pool, hand the best
  ``warm_start`` to the search first, then run any inner strategy, which is told those results
  as if it had asked for them (Abdelfattah et al. 2021, "warmup").
- :class:`ProxyGuidedEvolution` (``proxy-evolution``): regularized evolution whose first
  population is the top of a proxy-scored pool and whose every mutation step generates
  ``candidates`` distinct mutants and evaluates only the one the proxy ranks best
  ("move proposal", Abdelfattah et al. 2021; pre-screening as in Mellor et al. 2021's AREA).

An architecture the scorer cannot score (an exception, a non-finite value) is "unscored": it
ranks after every scored one, its error is kept in ``score_errors``, and a warning names the
first one. On a space without a model builder every architecture is unscored and the strategy
behaves as its unguided version.
"""

from __future__ import annotations

import json
import math
import time
import warnings
from collections.abc import Mapping, Sequence
from typing import Any, Protocol

from nasforge.core.services import NO_SERVICES, Scorer, Services
from nasforge.space.arch import Arch
from nasforge.space.space import Space


class ScoreStore(Protocol):
    """Persistent proxy scores of one scorer: ``load()`` gives key -> (value, error, seconds)."""

    def load(self) -> dict[str, tuple[float | None, str | None, float]]: ...

    def save(self, key: str, value: float | None, error: str | None, seconds: float) -> None: ...


def scorer_name(scorer: str | Scorer, settings: Mapping[str, Any] | None) -> str:
    """A stable name for a scorer and its settings (a callable is named by its qualified name)."""
    base = scorer if isinstance(scorer, str) else getattr(scorer, "__qualname__", type(scorer).__qualname__)
    return f"{base}:{json.dumps(dict(settings or {}), sort_keys=True, default=str)}"


def resolve_scorer(scorer: str | Scorer, settings: Mapping[str, Any] | None, services: Services,
                   who: str = "a proxy-guided strategy") -> Scorer:
    """A callable itself, or a registered scorer's name resolved by the run's ``services``."""
    if callable(scorer):
        return scorer
    return services.need("scorer", who)(scorer, dict(settings or {}))


class ScoreCache:
    """Scores per architecture key for one run: each arch is scored once; cost is counted.

    ``seconds`` adds the scorer's own report of an arch's compute (``scorer.seconds(arch)``, e.g.
    the recorded time of a precomputed value) or else the measured time of the call.
    """

    def __init__(self, scorer: Scorer, name: str = "") -> None:
        self.scorer = scorer
        self.name = name  # what the scores are (scorer and settings): the key of a persistent store
        self.values: dict[str, float | None] = {}
        self.errors: dict[str, str] = {}
        self.seconds = 0.0
        self._store: ScoreStore | None = None
        self._stored: dict[str, tuple[float | None, str | None, float]] = {}

    def attach(self, store: ScoreStore) -> None:
        """Back the cache by ``store`` (e.g. the run's storage): a score found there is not
        recomputed (a resumed run replays its proxy decisions exactly and pays nothing twice,
        though its cost still counts: this run spent it); a new score is saved there."""
        self._store = store
        self._stored = store.load()

    @property
    def evaluations(self) -> int:
        return len(self.values)

    def __call__(self, arch: Arch) -> float | None:
        if arch.key in self.values:
            return self.values[arch.key]
        if arch.key in self._stored:
            value, error, seconds = self._stored[arch.key]
            if error is not None:
                self.errors[arch.key] = error
            self.seconds += seconds
            self.values[arch.key] = value
            return value
        start = time.perf_counter()
        value: float | None
        try:
            value = float(self.scorer(arch))
            if not math.isfinite(value):
                raise ValueError(f"non-finite score {value}")
        except Exception as exc:  # noqa: BLE001 - an unscorable arch is data, not a crash
            value = None
            self.errors[arch.key] = f"{type(exc).__name__}: {exc}"
            if len(self.errors) == 1:
                warnings.warn(f"scorer could not score {arch.key} ({self.errors[arch.key]}); "
                              "unscored architectures rank last", RuntimeWarning, stacklevel=3)
        report = getattr(self.scorer, "seconds", None)
        seconds = float(report(arch)) if callable(report) else time.perf_counter() - start
        self.seconds += seconds
        self.values[arch.key] = value
        if self._store is not None:
            self._store.save(arch.key, value, self.errors.get(arch.key), seconds)
        return value

    def best_first(self, archs: Sequence[Arch]) -> list[Arch]:
        """``archs`` by descending score; unscored last; ties keep their order."""
        scores = [self(a) for a in archs]
        order = sorted(range(len(archs)), key=lambda i: (scores[i] is None, -(scores[i] or 0.0), i))
        return [archs[i] for i in order]

    def stats(self) -> dict[str, float]:
        return {"proxy_evaluations": float(self.evaluations), "proxy_seconds": self.seconds,
                "proxy_failures": float(len(self.errors))}


def score_cache(scorer: str | Scorer, settings: Mapping[str, Any] | None, services: Services = NO_SERVICES,
                who: str = "a proxy-guided strategy") -> ScoreCache:
    """A fresh :class:`ScoreCache` of the resolved scorer, named by scorer and settings."""
    return ScoreCache(resolve_scorer(scorer, settings, services, who), scorer_name(scorer, settings))


def top_of_pool(space: Space, cache: ScoreCache, rng: Any, pool_size: int, top: int,
                exclude: set[str]) -> list[Arch]:
    """The ``top`` best-scored of ``pool_size`` distinct random archs not in ``exclude``."""
    pool: dict[str, Arch] = {}
    for _ in range(20 * pool_size):
        if len(pool) >= pool_size:
            break
        arch = space.sample(rng)
        if arch.key not in exclude:
            pool.setdefault(arch.key, arch)
    return cache.best_first(list(pool.values()))[:top]
