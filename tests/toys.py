"""Small deterministic spaces and evaluators shared by the contract tests."""

from __future__ import annotations

from nasforge.core.services import Services
from nasforge.estimate.base import Evaluator
from nasforge.space import Space


def toy_space(options: int = 4, decisions: int = 4) -> Space:
    """``decisions`` x ``options`` grid space named ``toy``."""
    return Space({f"x{i}": list(range(options)) for i in range(decisions)}, name="toy")


def toy_score(values) -> float:
    """A rugged but deterministic objective with a unique optimum at x_i = 3 - (i % 2)."""
    target = [3 - (i % 2) for i in range(len(values))]
    return float(sum(-abs(int(values[f"x{i}"]) - t) ** 1.5 for i, t in enumerate(target)))


class ToyEvaluator(Evaluator):
    """Tabular-like evaluator on :func:`toy_space`: ``score`` (max) and ``size`` (min)."""

    def __init__(self, fail_every: int = 0) -> None:
        self.fail_every = fail_every
        self.calls = 0

    def _evaluate(self, arch):
        self.calls += 1
        if self.fail_every and self.calls % self.fail_every == 0:
            raise RuntimeError("deliberate failure")
        return {"score": toy_score(arch), "size": float(sum(int(v) for v in arch.values()))}


def _toy_scorer(name, settings):
    """Every named scorer is the toy objective itself (a perfect proxy)."""
    return toy_score


def _toy_stats(archs):
    """Free statistics of toy archs: a "size" and its square, as (params, flops) stand-ins."""
    import numpy as np

    size = np.array([1.0 + sum(int(v) for v in a.values()) for a in archs])
    return np.stack([size, size**2], axis=1)


def _toy_featurizer(space):
    from nasforge.estimate.predictors.features import Featurizer

    return Featurizer(space, _toy_stats)


def _toy_predictor(name, **settings):
    from nasforge.estimate.predictors import get_predictor

    return get_predictor(name, **settings)


#: What a run lends its strategies, for the toy space: proxy scorers score with ``toy_score``;
#: predictors and features (free statistics) as a run builds them.
TOY_SERVICES = Services(scorer=_toy_scorer, predictor=_toy_predictor, featurizer=_toy_featurizer)
