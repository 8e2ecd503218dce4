"""``tpe``: Optuna's TPE sampler (Bergstra et al. 2011, "Algorithms for Hyper-Parameter
Optimization") through the one Optuna adapter; the same strategy as ``optuna:TPESampler``, under
its short name and with its settings as the strategy's own. Settings left at ``None`` keep
Optuna's own defaults (in Optuna 5, ``multivariate=None`` means the multivariate TPE of Falkner
et al. 2018). Each decision is one Optuna categorical; after ``max_repeats`` (100) repeated
proposals in a row, a uniformly random unseen architecture.
"""

from __future__ import annotations

from typing import Any

from nasforge.strategy.base import register_strategy
from nasforge.strategy.optuna_sampler import OptunaSampler


@register_strategy("tpe")
class TPE(OptunaSampler):
    """Optuna's ``TPESampler`` (see :mod:`nasforge.strategy.optuna_sampler` for the adapter)."""

    ordered = False  # one categorical per decision, as this strategy always had
    neighbour_fallback = False  # after max_repeats repeats, a uniformly random unseen arch

    def __init__(self, n_startup_trials: int = 10, n_ei_candidates: int = 24, multivariate: bool | None = None,
                 max_repeats: int = 100) -> None:
        self.n_startup_trials = n_startup_trials
        self.n_ei_candidates = n_ei_candidates
        self.multivariate = multivariate
        self.max_repeats = max_repeats

    def _sampler_spec(self) -> tuple[str, dict[str, Any]]:
        return "TPESampler", {"n_startup_trials": self.n_startup_trials, "n_ei_candidates": self.n_ei_candidates,
                              "multivariate": self.multivariate}
