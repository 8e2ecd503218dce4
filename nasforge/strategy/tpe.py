"""``tpe``: an adapter over Optuna's TPE sampler (Bergstra et al. 2011, "Algorithms for
Hyper-Parameter Optimization"), so the most common alternative runs in the same harness.
Settings left at ``None`` keep Optuna's own defaults (in Optuna 5, ``multivariate=None`` means
the multivariate TPE of Falkner et al. 2018).

Each decision is one Optuna categorical; results go back through ``study.tell`` (a failed or
incomplete result as ``TrialState.FAIL``; constraint violations through TPE's
``constraints_func``). The study lives in Optuna's in-memory storage and the sampler is seeded
with the run's seed, so the adapter is as replayable as any other strategy.

TPE often proposes an architecture it has already seen. Such a repeat is answered at once with
the known result and not returned by :meth:`ask` (a repeat is free and not a query); after
``max_repeats`` repeats in a row the adapter proposes a uniformly random unseen architecture.
"""

from __future__ import annotations

import math
import warnings
from typing import Any

from nasforge.space.arch import Arch
from nasforge.strategy.base import Metrics, Strategy, register_strategy

_VIOLATIONS = "nasforge_violations"


def _violations(trial: Any) -> list[float]:
    return list(trial.user_attrs.get(_VIOLATIONS, [0.0]))


@register_strategy("tpe")
class TPE(Strategy):
    """Optuna's ``TPESampler`` through ``study.ask()`` / ``study.tell()``."""

    def __init__(self, n_startup_trials: int = 10, n_ei_candidates: int = 24, multivariate: bool | None = None,
                 max_repeats: int = 100) -> None:
        self.n_startup_trials = n_startup_trials
        self.n_ei_candidates = n_ei_candidates
        self.multivariate = multivariate
        self.max_repeats = max_repeats

    def setup(self, *args: Any, **kwargs: Any) -> None:
        super().setup(*args, **kwargs)
        import optuna
        from optuna.distributions import CategoricalDistribution

        optuna.logging.set_verbosity(optuna.logging.WARNING)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # some TPE options are flagged "experimental"
            sampler = optuna.samplers.TPESampler(
                n_startup_trials=self.n_startup_trials, n_ei_candidates=self.n_ei_candidates,
                multivariate=self.multivariate, seed=self.seed,
                constraints_func=_violations if self.constraints else None)
        directions = ["maximize" if o.direction == "max" else "minimize" for o in self.objectives]
        self._study = optuna.create_study(directions=directions, sampler=sampler)
        self._dists = {c.name: CategoricalDistribution(list(c.options)) for c in self.space.choices}
        self._pending: dict[str, list[Any]] = {}  # arch key -> Optuna trials awaiting its result
        self._known: dict[str, Metrics] = {}

    def ask(self) -> Arch | None:
        for _ in range(self.max_repeats):
            trial = self._study.ask(self._dists)
            try:
                arch = self.space.arch(trial.params)
            except ValueError:  # a combination the space does not allow
                self._finish(trial, None)
                continue
            if arch.key in self._known:
                self._finish(trial, self._known[arch.key])
            elif arch.key in self.asked:  # outstanding: answer it when the result comes
                self._pending[arch.key].append(trial)
            else:
                self._pending[arch.key] = [trial]
                self.asked.add(arch.key)
                return arch
        arch = self._unique(lambda: self.space.sample(self.rng))
        if arch is not None:
            self.asked.add(arch.key)
            self._pending.setdefault(arch.key, [])
        return arch

    def _observe(self, arch: Arch, metrics: Metrics) -> None:
        self._known[arch.key] = metrics
        trials = self._pending.pop(arch.key, [])
        if not trials:  # proposed outside Optuna (fallback, or a replayed foreign trial)
            self._add(arch, metrics)
        for trial in trials:
            self._finish(trial, metrics)

    # ------------------------------------------------------------------ helpers
    def _values(self, metrics: Metrics) -> list[float] | None:
        if metrics is None:
            return None
        values = [metrics.get(o.metric) for o in self.objectives]
        if any(v is None or not math.isfinite(float(v)) for v in values):
            return None
        return [float(v) for v in values]  # type: ignore[arg-type]

    def _violation_list(self, metrics: Metrics) -> list[float]:
        return [min(c.violation(metrics or {}), 1e12) for c in self.constraints] or [0.0]

    def _finish(self, trial: Any, metrics: Metrics) -> None:
        from optuna.trial import TrialState

        values = self._values(metrics)
        if values is None:
            self._study.tell(trial, state=TrialState.FAIL)
            return
        if self.constraints:
            trial.set_user_attr(_VIOLATIONS, self._violation_list(metrics))
        self._study.tell(trial, values)

    def _add(self, arch: Arch, metrics: Metrics) -> None:
        from optuna.trial import TrialState, create_trial

        values = self._values(metrics)
        params = {c.name: arch[c.name] for c in self.space.choices}
        if values is None:
            trial = create_trial(state=TrialState.FAIL, params=params, distributions=self._dists)
        else:
            trial = create_trial(values=values, params=params, distributions=self._dists,
                                 user_attrs={_VIOLATIONS: self._violation_list(metrics)})
        self._study.add_trial(trial)
