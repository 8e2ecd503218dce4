"""Predictor-guided search in the style of BANANAS (White et al. 2021, "BANANAS: Bayesian
Optimization with Neural Architectures for Neural Architecture Search").

After ``n_init`` random architectures, every ask:

1. refits its surrogate on the told architectures, encoded by
   :func:`~nasforge.space.encodings.encoder_for` (path + one-hot on ``nb201``, one-hot
   elsewhere); targets are the first objective's scores (:mod:`nasforge.strategy.scoring`),
   rank-transformed to normal quantiles so the fit spends its capacity on the order of the
   good architectures rather than on the tail of broken ones. ``surrogate="mlp_ensemble"`` is an
   ensemble of small NumPy MLPs (:class:`~nasforge.strategy.surrogates.MLPEnsemble`); any other
   value names a registered performance predictor that gives an uncertainty (``resid_gp``,
   ``gp``, ``rf``, ``mlp``, ...), lent by the run's ``predictor`` service and fed the
   ``featurizer`` service's rows (the encoding plus free statistics), e.g. ``resid_gp``: a GP
   whose mean function is a free-statistic prior (:mod:`nasforge.estimate.predictors.residual`).
   ``auto`` (the default) is ``resid_gp`` where the run lends predictors and features with free
   statistics, else ``mlp_ensemble`` (issue 22: on the four tabular benchmarks ``resid_gp`` with
   ``ucb`` has the lower regret at 25 and 50 queries; see docs/benchmarks.md). The
   refit happens once the
   number of results has grown by ``refit_every`` and by ``refit_fraction`` of the last fit's
   count (every result early on, every ~5% later: the cost stays small over long runs);
2. builds candidates by mutation of the ``top_k`` best architectures so far: all their one-edit
   neighbours plus ``n_mutations`` random two-edit mutants each, and ``n_random`` uniform
   samples; never anything already asked;
3. picks the candidate with the best acquisition: independent Thompson sampling (``its``: one
   draw per candidate from a normal with the surrogate's mean and spread) or ``ucb``
   (mean + ``kappa`` x spread, the default; before issue 22 the default was ``its``).

With several objectives whose others are free costs (``params``, ``flops``, a latency table...:
whatever the run's ``cost`` service prices without training), the search is multi-objective
(``multi_objective="auto"``, issue 21): the surrogate still models the first objective, the
costs are exact, the parents of step 2 are the members of the Pareto front so far (up to
``top_k``, spread evenly along it), and step 3 picks the candidate whose optimistic value
(the acquisition's draw or bound) with its exact costs adds the most hypervolume to the front
(costs spanning more than a decade on a log scale; every axis scaled to the results so far); a
candidate the front dominates ranks by how far it is from escaping (additive epsilon). This is
the hypervolume-improvement acquisition of multi-objective Bayesian optimisation (Emmerich et
al. 2006, "Single- and Multiobjective Evolutionary Optimization Assisted by Gaussian Random
Field Metamodels") over BANANAS's mutation pool. ``multi_objective=False`` climbs the first
objective alone, as with one objective or with a second objective that only training measures.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from nasforge.space.arch import Arch
from nasforge.space.encodings import encoder_for
from nasforge.strategy.base import Metrics, Strategy, register_strategy
from nasforge.strategy.multi_objective import MultiObjective
from nasforge.strategy.scoring import score
from nasforge.strategy.surrogates import MLPEnsemble

AUTO = "auto"
_ACQUISITIONS = ("its", "ucb")
MLP_ENSEMBLE = "mlp_ensemble"
AUTO_SURROGATE = "resid_gp"  # what surrogate=auto uses where the run lends free statistics
_FEATURE_POOL = 256  # random archs that fix the standardisation of a predictor's free statistics


@register_strategy("bananas")
class Bananas(Strategy):
    """Ensemble-surrogate Bayesian optimisation over mutations of the best architectures."""

    def __init__(self, n_init: int = 10, encoding: str = "auto", acquisition: str = "ucb", kappa: float = 1.0,
                 members: int = 5, hidden: tuple[int, ...] = (32, 32), epochs: int = 100,
                 refit_every: int = 1, refit_fraction: float = 0.05, top_k: int = 10, n_mutations: int = 20,
                 n_random: int = 100, bootstrap: bool = False, surrogate: str = AUTO,
                 multi_objective: bool | str = AUTO) -> None:
        self.surrogate = surrogate
        self.multi_objective = multi_objective
        self.bootstrap = bootstrap
        self.n_init = n_init
        self.encoding = encoding
        self.acquisition = acquisition
        self.kappa = kappa
        self.members = members
        self.hidden = hidden
        self.epochs = epochs
        self.refit_every = refit_every
        self.refit_fraction = refit_fraction
        self.top_k = top_k
        self.n_mutations = n_mutations
        self.n_random = n_random

    def setup(self, *args: Any, **kwargs: Any) -> None:
        if self.acquisition not in _ACQUISITIONS:
            raise ValueError(f"bananas: acquisition must be one of {_ACQUISITIONS}, got {self.acquisition!r}")
        if self.n_init < 2 or self.refit_every < 1 or self.top_k < 1:
            raise ValueError("bananas: need n_init >= 2, refit_every >= 1 and top_k >= 1")
        if self.multi_objective not in (AUTO, True, False):
            raise ValueError(f"bananas: multi_objective must be auto, true or false, got {self.multi_objective!r}")
        super().setup(*args, **kwargs)
        self._pricing = MultiObjective.for_strategy(self) if self.multi_objective is not False else None
        self._data: list[tuple[Arch, float]] = []
        self._model: Any = None
        featurizer = self._featurizer()
        self._surrogate = self.surrogate
        if self.surrogate == AUTO:
            self._surrogate = AUTO_SURROGATE if featurizer is not None and featurizer.stats is not None else MLP_ENSEMBLE
        if self._surrogate == MLP_ENSEMBLE:
            self._encode = encoder_for(self.space, self.encoding)
        else:
            self._encode = self._predictor_features(featurizer)
        self._fitted_on = 0
        self._neighbours: dict[str, list[Arch]] = {}
        self._codes: dict[str, np.ndarray] = {}

    def _observe(self, arch: Arch, metrics: Metrics) -> None:
        value = score(metrics, self.objectives, self.constraints)
        if value is not None:
            self._data.append((arch, value))
            if self._pricing is not None:
                self._pricing.observe(arch, metrics)

    def ask(self) -> Arch | None:
        arch = None
        if len(self._data) >= self.n_init and len(self.asked) >= self.n_init:
            arch = self._acquire()
        if arch is None:
            arch = self._unique(lambda: self.space.sample(self.rng))
        if arch is not None:
            self.asked.add(arch.key)
        return arch

    # ---------------------------------------------------------------- internals
    def _featurizer(self) -> Any:
        """The run's featurizer for this space, or None where the run lends no predictors."""
        if self.surrogate == MLP_ENSEMBLE or self.services.predictor is None or self.services.featurizer is None:
            return None
        return self.services.featurizer(self.space)

    def _predictor_features(self, featurizer: Any) -> Any:
        """Feature rows from the run's featurizer (encoding ``self.encoding`` plus free statistics,
        standardised on random archs), after checking the surrogate predictor exists and gives an
        uncertainty."""
        who = f"strategy bananas (surrogate={self._surrogate!r})"
        make = self.services.need("predictor", who)
        probe = make(self._surrogate)
        if not getattr(probe, "gives_uncertainty", False):
            raise ValueError(f"{who}: the predictor gives no uncertainty for the acquisition; use "
                             f"{MLP_ENSEMBLE!r} or a predictor such as resid_gp, gp, rf or mlp")
        featurizer = featurizer if featurizer is not None else self.services.need("featurizer", who)(self.space)
        if getattr(probe, "needs_stats", False) and featurizer.stats is None:
            raise ValueError(f"{who}: this predictor ranks by free statistics (params, FLOPs), which space "
                             f"{self.space.name!r} has none of for this run; use {MLP_ENSEMBLE!r} or gp")
        featurizer.encoding = self.encoding
        fitted = False

        def transform(archs: list[Arch]) -> np.ndarray:
            # standardised on first use: a run that never leaves its random start builds nothing
            nonlocal fitted
            if not fitted:
                featurizer.fit(self.space.sample_distinct(_FEATURE_POOL, np.random.default_rng([self.seed, 22])))
                fitted = True
            return featurizer.transform(archs)

        return transform

    def _fit(self) -> Any:
        grown = len(self._data) - self._fitted_on
        if self._model is None or grown >= max(self.refit_every, self.refit_fraction * self._fitted_on):
            archs = [a for a, _ in self._data]
            target = self._fit_targets()
            if self._surrogate == MLP_ENSEMBLE:
                self._model = MLPEnsemble(self.members, self.hidden, self.epochs, bootstrap=self.bootstrap).fit(
                    self._encoded(archs), target, self.rng)
            else:
                seed = int(self.rng.integers(2**31))
                self._model = self.services.predictor(self._surrogate, seed=seed).fit(self._encoded(archs), target)
            self._fitted_on = len(self._data)
        return self._model

    def _fit_targets(self) -> np.ndarray:
        """The surrogate's targets: the told scores' ranks as normal quantiles."""
        values = np.array([v for _, v in self._data])
        ranks = np.argsort(np.argsort(values, kind="stable"), kind="stable")
        from scipy.stats import norm  # imported on first use: listing strategies stays instant

        return norm.ppf((ranks + 0.5) / len(values))

    def _candidates(self) -> list[Arch]:
        if self._pricing is not None:
            best = [(arch, 0.0) for arch in self._pricing.parents(self._data, self.top_k)]
        else:
            best = sorted(self._data, key=lambda item: -item[1])[: self.top_k]
        pool: dict[str, Arch] = {}
        for arch, _ in best:
            if arch.key not in self._neighbours:
                self._neighbours[arch.key] = self.space.neighbours(arch)
            for other in self._neighbours[arch.key]:
                pool.setdefault(other.key, other)
            for _ in range(self.n_mutations):
                other = self._mutant(arch, 2)
                if other is not None:
                    pool.setdefault(other.key, other)
        for _ in range(self.n_random):
            other = self.space.sample(self.rng)
            pool.setdefault(other.key, other)
        return [a for key, a in pool.items() if key not in self.asked]

    def _encoded(self, archs: list[Arch]) -> np.ndarray:
        new = [a for a in dict.fromkeys(archs) if a.key not in self._codes]
        for arch, code in zip(new, self._encode(new), strict=True):
            self._codes[arch.key] = code
        return np.stack([self._codes[a.key] for a in archs])

    def _mutant(self, arch: Arch, edits: int) -> Arch | None:
        """``arch`` with ``edits`` random decisions set to other options (None if illegal)."""
        choices = self.space.choices
        values = arch.to_dict()
        for i in self.rng.choice(len(choices), size=min(edits, len(choices)), replace=False):
            c = choices[int(i)]
            if len(c) > 1:
                j = int(self.rng.integers(len(c) - 1))
                values[c.name] = c.options[j + (j >= c.index(values[c.name]))]
        try:
            return self.space.arch(values)
        except ValueError:
            return None

    def _acquire(self) -> Arch | None:
        candidates = self._candidates()
        if not candidates:
            return None
        model = self._fit()
        if self._surrogate == MLP_ENSEMBLE:
            preds = model.predict(self._encoded(candidates))
            mean, spread = preds.mean(axis=0), preds.std(axis=0)
        else:
            mean, spread = model.predict_dist(self._encoded(candidates))
        if self.acquisition == "its":
            value = mean + spread * self.rng.standard_normal(len(candidates))
        else:
            value = mean + self.kappa * spread
        if self._pricing is not None:
            value = self._pricing.acquisition(self._data, self._fit_targets(), candidates, value)
        return candidates[int(np.argmax(value))]
