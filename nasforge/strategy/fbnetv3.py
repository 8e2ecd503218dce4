"""FBNetV3's predictor-based joint architecture-recipe search as an ask/tell strategy (Dai et al.
2021, "FBNetV3: Joint Architecture-Recipe Search using Predictor Pretraining"), on any space,
typically a :class:`~nasforge.space.joint.JointSpace` (architecture + training recipe).

1. At ``setup``: a pool of ``pool_size`` candidates within the resource bound, drawn with a
   scrambled Sobol sequence over the decisions' options (quasi-random: combinations are covered
   evenly); the predictor is *pretrained* on the pool's free statistics (log params, log FLOPs),
   which need no training. The default predictor, ``resid_gp``, also carries the statistics as
   its prior mean (:mod:`nasforge.estimate.predictors.residual`; issue 22: lower regret than the
   pretrained ``mlp`` on the tabular benchmarks, see docs/benchmarks.md).
2. The first ``initial`` asks are ``initial`` further Sobol candidates. Then, whenever its queue
   is empty, the strategy fits the (pretrained) predictor on every result told so far and queues
   the ``batch`` best-predicted candidates not yet asked, among the pool and the neighbourhood
   of the best results: one-edit neighbours of the ``parents`` best distinct architectures and,
   on a space with extra decisions (joint: the recipe; quant: the quantization policy), each
   parent's architecture with every other parent's extra decisions (a fixed pool
   rarely pairs a good architecture with a good recipe).
3. The run's budget (trials, or minutes on the run's clock: ``--clock cpu`` gives every arm the
   same compute) ends the search. :meth:`FBNetV3.family` then gives the *constraint family*:
   for each resource budget, a predictor-scored evolutionary search (nothing trained) picks one
   architecture-recipe pair; the run's finalisation retrains each.

The resource is ``resource`` (a cost metric: ``params``, ``flops``, ``latency_ms``...), bounded
by ``max_cost`` or, when that is not set, by the run's ``resource<=N`` constraint. Everything
that needs torch or data reaches the strategy through the run's services (``featurizer``,
``predictor``, ``cost``). Its state is a function of the seed and the told results, so a
resumed run replays it exactly.
"""

from __future__ import annotations

import copy
import warnings
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from nasforge.space.arch import Arch
from nasforge.strategy.base import Metrics, Strategy, register_strategy

_MAX_SOBOL_DRAWS = 1 << 16


def sobol_archs(space: Any, n: int, seed: int, accept: Callable[[Arch], bool] = lambda a: True,
                exclude: set[str] = frozenset()) -> list[Arch]:
    """Up to ``n`` distinct archs from a scrambled Sobol sequence over the decisions' option
    indices, keeping those ``accept`` allows and ``exclude`` does not name."""
    from scipy.stats import qmc

    sampler = qmc.Sobol(d=len(space.choices), scramble=True, seed=seed)
    sizes = np.array([len(c) for c in space.choices])
    out: dict[str, Arch] = {}
    drawn = 0
    while len(out) < n and drawn < _MAX_SOBOL_DRAWS:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # balance warnings for draws that are not powers of two
            points = sampler.random(64)
        drawn += 64
        for point in points:
            index = np.minimum((point * sizes).astype(int), sizes - 1)
            try:
                arch = space.arch({c.name: c.options[i] for c, i in zip(space.choices, index, strict=True)})
            except ValueError:
                continue
            if arch.key not in out and arch.key not in exclude and accept(arch):
                out[arch.key] = arch
                if len(out) == n:
                    break
        if space.size <= drawn and len(out) < n:
            break  # a small space: every combination has been drawn
    return list(out.values())


@register_strategy("fbnetv3")
class FBNetV3(Strategy):
    """See the module docstring."""

    def __init__(self, resource: str = "params", max_cost: float | None = None, initial: int = 16,
                 batch: int = 8, pool_size: int = 1000, predictor: str = "resid_gp", pretrained: bool = True,
                 parents: int = 4, neighbours: int = 24, budgets: Sequence[float] = (),
                 population: int = 32, generations: int = 10) -> None:
        self.resource = resource
        self.max_cost = max_cost
        self.initial = initial
        self.batch = batch
        self.pool_size = pool_size
        self.predictor = predictor
        self.pretrained = pretrained
        self.parents = parents
        self.neighbours = neighbours
        self.budgets = budgets
        self.population = population
        self.generations = generations

    # ------------------------------------------------------------------ set-up
    def setup(self, space: Any, objectives: Any, constraints: Any = (), seed: int = 0,
              services: Any = None) -> None:
        for name in ("initial", "batch", "pool_size", "parents", "population"):
            if getattr(self, name) < 1:
                raise ValueError(f"fbnetv3: {name} must be >= 1, got {getattr(self, name)}")
        if self.neighbours < 0 or self.generations < 0:
            raise ValueError("fbnetv3: neighbours and generations must be >= 0")
        super().setup(space, objectives, constraints, seed, services)
        self.metric = self.objectives[0]
        self.bound = self._bound()
        self._cost_fn: Callable[[Arch], float] | None = None
        self._costs: dict[str, float] = {}
        self.featurizer = self.services.need("featurizer", "strategy fbnetv3")(space)
        make = self.services.need("predictor", "strategy fbnetv3")
        if self.pretrained and self.featurizer.stats is None:
            raise ValueError("strategy fbnetv3: pretraining needs the free statistics (params, FLOPs) of a space "
                             "that builds networks for a task; set pretrained=false for this space")
        pool = sobol_archs(space, self.pool_size + self.initial, seed, self.within())
        if not pool:
            raise ValueError(f"strategy fbnetv3: no architecture of space {space.name!r} meets "
                             f"{self.resource}<={self.bound:g}")
        self._queue: list[Arch] = pool[:self.initial]
        self.pool = pool[self.initial:]
        unlabeled = self.pool or pool  # a space smaller than the initial batch: pretrain on that
        self.featurizer.fit(unlabeled)
        self.template = make(self.predictor, seed=seed, pretrained=self.pretrained)
        if getattr(self.template, "needs_stats", False) and self.featurizer.stats is None:
            raise ValueError(f"strategy fbnetv3: predictor {self.predictor!r} ranks by free statistics (params, "
                             f"FLOPs), which space {space.name!r} has none of for this run; choose another predictor")
        if self.pretrained:
            self.template.pretrain(self.featurizer.transform(unlabeled), self.featurizer.free_stats(unlabeled))
        self.results: dict[str, tuple[Arch, float]] = {}
        self.rounds = 0

    def _bound(self) -> float:
        if self.max_cost is not None:
            return float(self.max_cost)
        bounds = [c.bound for c in self.constraints if c.metric == self.resource and c.op in ("<=", "<")]
        return min(bounds) if bounds else float("inf")

    def cost(self, arch: Arch) -> float:
        """``arch``'s resource (cached): free statistics for params/FLOPs, else the run's cost service."""
        if arch.key not in self._costs:
            if self.resource in ("params", "flops") and self.featurizer.stats is not None:
                self._costs[arch.key] = float(self.featurizer.stats.one(arch)[0 if self.resource == "params" else 1])
            else:
                if self._cost_fn is None:
                    self._cost_fn = self.services.need("cost", "strategy fbnetv3")(self.resource)
                self._costs[arch.key] = float(self._cost_fn(arch))
        return self._costs[arch.key]

    def within(self, bound: float | None = None) -> Callable[[Arch], bool]:
        """Whether an arch's resource is within ``bound`` (default: the search's bound)."""
        limit = self.bound if bound is None else bound
        return (lambda arch: True) if limit == float("inf") else (lambda arch: self.cost(arch) <= limit)

    # ---------------------------------------------------------------- ask/tell
    def ask(self) -> Arch | None:
        while not self._queue:
            picks = self._next_batch()
            if not picks:
                return super().ask()  # pool and neighbourhood exhausted: fall back to sampling
            self._queue = picks
        arch = self._queue.pop(0)
        self.asked.add(arch.key)
        return arch

    def _observe(self, arch: Arch, metrics: Metrics) -> None:
        if metrics is not None and self.metric.metric in metrics:
            self.results[arch.key] = (arch, self.metric.loss(float(metrics[self.metric.metric])))

    def _next_batch(self) -> list[Arch]:
        """The ``batch`` best-predicted candidates not yet asked (see the module docstring)."""
        predictor = self.fitted()
        if predictor is None:  # nothing to learn from yet: more Sobol candidates
            return sobol_archs(self.space, self.batch, self.seed + 1 + self.rounds, self.within(), set(self.asked))
        local = self._neighbourhood(np.random.default_rng([self.seed, self.rounds]))
        self.rounds += 1
        candidates = list({a.key: a for a in [*(a for a in self.pool if a.key not in self.asked), *local]}.values())
        if not candidates:
            return []
        scores = predictor.predict(self.featurizer.transform(candidates))
        order = np.argsort(-scores, kind="stable")
        return [candidates[i] for i in order[:self.batch]]

    def fitted(self) -> Any:
        """The pretrained predictor fitted on every result so far (``None`` under two results);
        it predicts the first objective as a score, higher = better."""
        if len(self.results) < 2:
            return None
        archs = [a for a, _ in self.results.values()]
        scores = np.array([-loss for _, loss in self.results.values()])
        return copy.deepcopy(self.template).fit(self.featurizer.transform(archs), scores)

    def _neighbourhood(self, rng: np.random.Generator) -> list[Arch]:
        if self.neighbours <= 0 or not self.results:
            return []
        base_arch = getattr(self.space, "base_arch", None)
        best = sorted(self.results.values(), key=lambda r: (r[1], r[0].key))
        parents: dict[str, Arch] = {}
        for arch, _ in best:
            parents.setdefault(base_arch(arch).key if base_arch else arch.key, arch)
            if len(parents) == self.parents:
                break
        candidates: list[Arch] = []
        for arch in parents.values():
            options = self.space.neighbours(arch)
            candidates += [options[i] for i in rng.permutation(len(options))[:self.neighbours]]
            if base_arch is not None:
                extras = self.space.extra_names  # a joint space's recipe, a quant space's policy
                candidates += [self.space.join(base_arch(arch), **{n: other[n] for n in extras})
                               for other in parents.values() if other is not arch]
        within = self.within()
        out: dict[str, Arch] = {}
        for arch in candidates:
            if arch.key not in self.asked and arch.key not in out and within(arch):
                out[arch.key] = arch
        return list(out.values())

    # -------------------------------------------------------- constraint family
    def family(self, budgets: Sequence[float] | None = None) -> list[dict[str, Any]]:
        """One (architecture, recipe) per resource budget, by a predictor-scored evolutionary
        search per budget (nothing is trained): ``[{"budget", "arch", "predicted", "cost"}]``,
        ``predicted`` in the first objective's units. Budgets: ``budgets``, else the strategy's,
        else the search's bound."""
        predictor = self.fitted()
        if predictor is None:
            raise ValueError("fbnetv3: fewer than two results; no predictor to pick a family with")
        chosen = sorted(budgets or self.budgets or ([self.bound] if self.bound != float("inf") else []))
        if not chosen:
            raise ValueError("fbnetv3: no budget: give budgets, max_cost or a constraint on the resource")
        rng = np.random.default_rng(self.seed)
        known = {a.key: a for a, _ in self.results.values()} | {a.key: a for a in self.pool}
        out = []
        for budget in chosen:
            within = self.within(budget)
            start = [a for a in known.values() if within(a)] or sobol_archs(
                self.space, self.population, self.seed + 1, within)
            if not start:
                raise ValueError(f"fbnetv3: no architecture found with {self.resource}<={budget:g}")
            scored = self._score(predictor, start)[:self.population]
            for _ in range(self.generations):
                children = []
                for _ in range(self.population):
                    parent = scored[int(rng.integers(max(1, len(scored) // 2)))][1]
                    child = self.space.mutate(parent, rng)
                    if within(child):
                        children.append(child)
                merged = {a.key: (s, a) for s, a in scored} | {a.key: (s, a) for s, a in self._score(predictor, children)}
                scored = sorted(merged.values(), key=lambda sa: (-sa[0], sa[1].key))[:self.population]
            score, arch = scored[0]
            predicted = -score if self.metric.direction == "min" else score
            out.append({"budget": float(budget), "arch": arch.key, "predicted": float(predicted),
                        self.resource: self.cost(arch)})
        return out

    def _score(self, predictor: Any, archs: Sequence[Arch]) -> list[tuple[float, Arch]]:
        if not archs:
            return []
        preds = predictor.predict(self.featurizer.transform(archs))
        return sorted(zip(preds.tolist(), archs, strict=True), key=lambda sa: (-sa[0], sa[1].key))
