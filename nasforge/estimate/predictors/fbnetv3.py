"""FBNetV3's joint architecture-recipe search (Dai et al. 2021, "FBNetV3: Joint Architecture-Recipe
Search using Predictor Pretraining"), on any space, typically a
:class:`~nasforge.space.joint.JointSpace`.

1. Draw a pool of candidates under the resource constraint with a scrambled Sobol sequence
   (quasi-random: the decisions' combinations are covered evenly), and pretrain the predictor on
   their free statistics (params, FLOPs) — no training needed.
2. Train a first Sobol batch, fit the predictor on the measured accuracies (fine-tuning it),
   pick the next batch as the top predicted candidates among the pool and the neighbourhood of
   the best trials (one-edit neighbours and, on a joint space, recipe swaps between the best
   architectures: a fixed pool rarely holds a good architecture with a good recipe), train
   them, refit; repeat for ``rounds`` batches, or until the trials' evaluation seconds reach
   ``train_seconds`` (an equal-compute budget: candidates whose recipe trains longer leave room
   for fewer trials). ``clock="cpu"`` counts the process's CPU seconds instead of wall-clock
   (the evaluator's ``cost_seconds``), so a loaded machine does not shrink the budget.
3. With the final predictor, run a predictor-scored evolutionary search for each resource budget
   (e.g. params <= 2k, 5k, 20k): the *constraint family*, one (architecture, recipe) per budget,
   produced in seconds because nothing is trained; then each member is trained and checked.

``FBNetV3Search(...).run(budgets)`` returns every measurement and the family. The measured
trials are kept in memory (this loop does not use the Experiment's storage, so it cannot be
resumed after a crash).
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from nasforge.estimate.base import Evaluator
from nasforge.estimate.predictors.base import Predictor, get_predictor
from nasforge.estimate.predictors.features import Featurizer
from nasforge.estimate.predictors.stats import FreeStats
from nasforge.space.arch import Arch
from nasforge.space.space import Space


@dataclass(frozen=True)
class Measured:
    """One trained candidate: its metrics (``None`` if it failed) and its resource cost."""

    arch: Arch
    metrics: dict[str, float] | None
    cost: float
    seconds: float


@dataclass(frozen=True)
class FamilyMember:
    """The (architecture, recipe) chosen for one resource budget, with its predicted score."""

    budget: float
    arch: Arch
    predicted: float
    cost: float


@dataclass
class FBNetV3Result:
    measured: list[Measured]
    family: list[FamilyMember]
    family_seconds: float
    search_seconds: float
    predictor: Predictor | None = field(repr=False, default=None)


def sobol_archs(space: Space, n: int, seed: int, accept: Callable[[Arch], bool] = lambda a: True,
                max_draws: int = 1 << 16) -> list[Arch]:
    """``n`` distinct archs from a scrambled Sobol sequence over the decisions' option indices,
    keeping those ``accept`` allows (e.g. a resource constraint)."""
    from scipy.stats import qmc

    sampler = qmc.Sobol(d=len(space.choices), scramble=True, seed=seed)
    sizes = np.array([len(c) for c in space.choices])
    out: dict[str, Arch] = {}
    drawn = 0
    while len(out) < n and drawn < max_draws:
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
            if arch.key not in out and accept(arch):
                out[arch.key] = arch
                if len(out) == n:
                    break
    if len(out) < n:
        raise ValueError(f"only {len(out)} of {n} Sobol candidates meet the constraint after {drawn} draws")
    return list(out.values())


class FBNetV3Search:
    """See the module docstring. ``stats`` gives (params, flops); ``resource`` names which one the
    budgets bound; ``metric`` is maximised. ``cost_model`` (any ``arch -> float``, e.g. a fitted
    latency predictor's ``predict``) bounds another resource instead, named by ``resource``
    (e.g. ``"latency_ms"``); its values are cached per architecture."""

    def __init__(self, space: Space, evaluator: Evaluator, stats: FreeStats, max_cost: float,
                 resource: str = "params", metric: str = "val_accuracy", initial: int = 16, batch: int = 8,
                 rounds: int | None = 2, pool_size: int = 1000, predictor: str = "mlp", pretrained: bool = True,
                 population: int = 32, generations: int = 10, seed: int = 0,
                 on_trial: Callable[[Measured], None] | None = None, train_seconds: float | None = None,
                 parents: int = 4, neighbours: int = 24, clock: str = "wall",
                 cost_model: Callable[[Arch], float] | None = None) -> None:
        if cost_model is None and resource not in ("params", "flops"):
            raise ValueError(f"resource must be 'params' or 'flops' (or give a cost_model for {resource!r})")
        if train_seconds is not None and not train_seconds > 0:
            raise ValueError(f"train_seconds must be > 0 (or None for no time budget), got {train_seconds}")
        if clock not in ("wall", "cpu"):
            raise ValueError(f"clock must be 'wall' or 'cpu', got {clock!r}")
        if parents < 1 or neighbours < 0:
            raise ValueError(f"need parents >= 1 and neighbours >= 0, got {parents} and {neighbours}")
        if rounds is None and train_seconds is None:
            raise ValueError("give rounds, train_seconds or both: with neither the search would not stop")
        self.space, self.evaluator, self.stats = space, evaluator, stats
        self.max_cost, self.resource, self.metric = max_cost, resource, metric
        self.initial, self.batch, self.rounds, self.pool_size = initial, batch, rounds, pool_size
        self.predictor_name, self.pretrained = predictor, pretrained
        self.population, self.generations, self.seed = population, generations, seed
        self.on_trial, self.train_seconds = on_trial, train_seconds
        self.parents, self.neighbours, self.clock = parents, neighbours, clock
        self.featurizer = Featurizer(space, stats)
        self.measured: list[Measured] = []
        self.cost_model = cost_model
        self._costs: dict[str, float] = {}

    def cost(self, arch: Arch) -> float:
        """``arch``'s resource: params or FLOPs from the free statistics, else the cost model's."""
        if self.cost_model is None:
            return float(self.stats.one(arch)[0 if self.resource == "params" else 1])
        if arch.key not in self._costs:
            self._costs[arch.key] = float(self.cost_model(arch))
        return self._costs[arch.key]

    # -------------------------------------------------------------------- search
    def run(self, budgets: Sequence[float] = ()) -> FBNetV3Result:
        """The whole search; ``budgets`` (default: ``max_cost``) give the constraint family."""
        start = time.perf_counter()
        pool = sobol_archs(self.space, self.pool_size + self.initial, self.seed,
                           lambda a: self.cost(a) <= self.max_cost)
        first, pool = pool[:self.initial], pool[self.initial:]
        self.featurizer.fit(pool)
        x_pool = self.featurizer.transform(pool)
        template = get_predictor(self.predictor_name, seed=self.seed, pretrained=self.pretrained)
        template.pretrain(x_pool, self.featurizer.free_stats(pool))
        self._train(first)
        done_rounds = 0
        while (self.rounds is None or done_rounds < self.rounds) and not self.spent():
            predictor = self._fit(template)
            seen = {m.arch.key for m in self.measured}
            local = self._neighbourhood(np.random.default_rng([self.seed, done_rounds]), seen)
            candidates = pool + local
            scores = predictor.predict(np.concatenate([x_pool, self.featurizer.transform(local)]) if local else x_pool)
            order = np.argsort(-scores, kind="stable")
            picks = [candidates[i] for i in order if candidates[i].key not in seen][:self.batch]
            if not picks:
                break  # no untrained candidate is left
            self._train(picks)
            done_rounds += 1
        predictor = self._fit(template)
        search_seconds = time.perf_counter() - start
        start = time.perf_counter()
        family = self.constraint_family(predictor, budgets or [self.max_cost], pool)
        return FBNetV3Result(self.measured, family, time.perf_counter() - start, search_seconds, predictor)

    def _neighbourhood(self, rng: np.random.Generator, seen: set[str]) -> list[Arch]:
        """Candidates near the best trials, for the predictor to rank with the pool.

        A pool of fixed (architecture, recipe) pairs cannot pair a good architecture with a
        better recipe; these can. The parents are the ``parents`` best measured trials with
        distinct architectures (on a :class:`~nasforge.space.joint.JointSpace`, distinct
        architecture parts, so the neighbourhood does not collapse onto recipe tweaks of one
        network). Candidates: up to ``neighbours`` random one-edit neighbours of each parent and,
        on a JointSpace, each parent's architecture with every other parent's recipe.
        """
        if self.neighbours <= 0:
            return []
        base_arch = getattr(self.space, "base_arch", None)
        done = sorted((m for m in self.measured if m.metrics is not None),
                      key=lambda m: (-m.metrics[self.metric], m.arch.key))  # type: ignore[index]
        parents: dict[str, Arch] = {}
        for m in done:
            parents.setdefault(base_arch(m.arch).key if base_arch else m.arch.key, m.arch)
            if len(parents) == self.parents:
                break
        candidates: list[Arch] = []
        for arch in parents.values():
            options = self.space.neighbours(arch)
            candidates += [options[i] for i in rng.permutation(len(options))[:self.neighbours]]
            if base_arch is not None:
                candidates += [self.space.join(base_arch(arch), **self.space.recipe_overrides(other))  # type: ignore[attr-defined]
                               for other in parents.values() if other is not arch]
        out: dict[str, Arch] = {}
        for arch in candidates:
            if arch.key not in seen and arch.key not in out and self.cost(arch) <= self.max_cost:
                out[arch.key] = arch
        return list(out.values())

    def spent(self) -> bool:
        """Whether the trials so far have used the ``train_seconds`` budget (never without one)."""
        return self.train_seconds is not None and sum(m.seconds for m in self.measured) >= self.train_seconds

    def _train(self, archs: Sequence[Arch]) -> None:
        for arch in archs:
            if self.spent():
                return
            cpu = time.process_time()
            result = self.evaluator.evaluate(arch)
            seconds = time.process_time() - cpu if self.clock == "cpu" else result.cost_seconds
            ok = result.ok and self.metric in result.metrics
            m = Measured(arch, dict(result.metrics) if ok else None, self.cost(arch), seconds)
            self.measured.append(m)
            if self.on_trial is not None:
                self.on_trial(m)

    def _fit(self, template: Predictor) -> Predictor:
        import copy

        done = [m for m in self.measured if m.metrics is not None]
        if len(done) < 2:
            raise RuntimeError("FBNetV3: fewer than two candidates trained successfully; nothing to fit")
        predictor = copy.deepcopy(template)
        return predictor.fit(self.featurizer.transform([m.arch for m in done]),
                             np.array([m.metrics[self.metric] for m in done]))  # type: ignore[index]

    # ---------------------------------------------------------- constraint family
    def constraint_family(self, predictor: Predictor, budgets: Sequence[float],
                          pool: Sequence[Arch] = ()) -> list[FamilyMember]:
        """One predictor-scored evolutionary search per budget (nothing is trained)."""
        rng = np.random.default_rng(self.seed)
        known = {m.arch.key: m.arch for m in self.measured} | {a.key: a for a in pool}
        family = []
        for budget in sorted(budgets):
            start = [a for a in known.values() if self.cost(a) <= budget]
            if not start:
                start = sobol_archs(self.space, self.population, self.seed + 1, lambda a, b=budget: self.cost(a) <= b)
            scored = self._score(predictor, start)[:self.population]
            for _ in range(self.generations):
                children = []
                for _ in range(self.population):
                    parent = scored[int(rng.integers(max(1, len(scored) // 2)))][1]
                    child = self.space.mutate(parent, rng)
                    if self.cost(child) <= budget:
                        children.append(child)
                merged = {a.key: (s, a) for s, a in scored}
                merged |= {a.key: (s, a) for s, a in self._score(predictor, children)}
                scored = sorted(merged.values(), key=lambda sa: (-sa[0], sa[1].key))[:self.population]
            best_score, best = scored[0]
            family.append(FamilyMember(budget, best, best_score, self.cost(best)))
        return family

    def _score(self, predictor: Predictor, archs: Sequence[Arch]) -> list[tuple[float, Arch]]:
        if not archs:
            return []
        preds = predictor.predict(self.featurizer.transform(archs))
        return sorted(zip(preds.tolist(), archs, strict=True), key=lambda sa: (-sa[0], sa[1].key))


def holdout_accuracy(evaluator: Any, arch: Arch, epochs: int | None = None, seed: int | None = None) -> dict[str, float]:
    """Retrain ``arch`` (with its own recipe) on train+val and score it on the test split
    (``seed``: the retraining's seed, default the evaluator recipe's)."""

    import torch

    from nasforge.estimate.trainer import accuracy, as_tensors, fit

    task = evaluator.loaded_task()
    if evaluator.threads:
        torch.set_num_threads(evaluator.threads)
    recipe = evaluator.effective_recipe(task, epochs=epochs, arch=arch)
    recipe = recipe if seed is None else recipe.replace(seed=seed)
    torch.manual_seed(recipe.seed)
    model = evaluator.space.build(arch, task)
    x = np.concatenate([task.x_train, task.x_val])
    y = np.concatenate([task.y_train, task.y_val])
    start = time.perf_counter()
    fit(model, *as_tensors(x, y), recipe)
    acc, loss = accuracy(model, *as_tensors(task.x_test, task.y_test))
    return {"test_accuracy": acc, "test_loss": loss, "params": float(sum(p.numel() for p in model.parameters())),
            "retrain_seconds": time.perf_counter() - start}
