"""Rewards of a NAS environment: the user's objective, or an ArchGym-style target specification.

- :class:`ObjectiveReward` (``objective="accuracy:max"``): the metric's value, negated for a
  ``min`` objective, so a larger reward is always better. An evaluation that failed, was
  infeasible or lacks the metric earns ``fail_reward`` (default 0.0, which suits accuracy-like
  objectives; set it below any reachable reward for others).
- :class:`TargetReward` (``target="accuracy>=90, latency_ms<=5"``): minus the mean, over the
  targets, of how far each is missed relative to its bound (``Constraint.violation``), each
  capped at 1. Meeting every target gives 0, the largest reward; a failed evaluation gives -1.
  This is the distance-to-specification reward of ArchGym (Krishnan et al. 2023, "ArchGym: An
  Open-Source Gymnasium for Machine Learning Assisted Architecture Design"), made scale-free so
  that targets on metrics of different units weigh the same.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from nasforge.core.objectives import Constraint, Objective


@dataclass(frozen=True)
class ObjectiveReward:
    """The value of one objective (larger is better); ``fail_reward`` when it is missing."""

    objective: Objective
    fail_reward: float = 0.0

    def __call__(self, metrics: Mapping[str, float] | None) -> float:
        value = None if metrics is None else metrics.get(self.objective.metric)
        if value is None or not math.isfinite(float(value)):
            return float(self.fail_reward)
        return float(value) if self.objective.direction == "max" else -float(value)

    def objectives(self) -> list[str]:
        """What a run records as its objectives (the run directory's ``config.yaml``)."""
        return [str(self.objective)]

    def describe(self) -> str:
        return f"objective {self.objective}"


@dataclass(frozen=True)
class TargetReward:
    """Minus the mean relative distance to a set of targets (0 when all are met, -1 at worst)."""

    targets: tuple[Constraint, ...]

    def __call__(self, metrics: Mapping[str, float] | None) -> float:
        if metrics is None:
            return -1.0
        return -sum(min(1.0, c.violation(metrics)) for c in self.targets) / len(self.targets)

    def met(self, metrics: Mapping[str, float] | None) -> bool:
        """Whether ``metrics`` meet every target."""
        return metrics is not None and all(c.satisfied(metrics) for c in self.targets)

    def objectives(self) -> list[str]:
        """One objective per targeted metric, in the direction its bound points (recorded in the
        run's ``config.yaml``, so the run's cost sources compute every targeted metric)."""
        seen: dict[str, str] = {}
        for c in self.targets:
            seen.setdefault(c.metric, "max" if c.op in (">=", ">") else "min")
        return [f"{metric}:{direction}" for metric, direction in seen.items()]

    def describe(self) -> str:
        return "target " + ", ".join(str(c) for c in self.targets)


def parse_target(target: str | Sequence[str]) -> tuple[Constraint, ...]:
    """``"accuracy>=90, latency_ms<=5"`` (or a list of such texts) as constraints; a clear error
    naming the bad part otherwise."""
    parts = [p.strip() for p in target.split(",")] if isinstance(target, str) else [str(p).strip() for p in target]
    parts = [p for p in parts if p]
    if not parts:
        raise ValueError("target: give at least one bound, e.g. 'accuracy>=90, latency_ms<=5'")
    out = []
    for text in parts:
        try:
            out.append(Constraint.parse(text))
        except ValueError as exc:
            raise ValueError(f"target: {exc}") from None
    return tuple(out)


def make_reward(objective: str | None, target: str | Sequence[str] | None,
                fail_reward: float | None) -> ObjectiveReward | TargetReward | None:
    """The reward named by the environment's arguments (``None``: the evaluator's first default
    objective, resolved by the caller). ``objective`` and ``target`` exclude each other."""
    if objective is not None and target is not None:
        raise ValueError("give either objective= or target=, not both (a target already names its metrics; "
                         "on an environment registered with a target, pass target=None with an objective)")
    if target is not None:
        if fail_reward is not None:
            raise ValueError("fail_reward applies to objective= rewards; a target's failed evaluation earns -1")
        return TargetReward(parse_target(target))
    if fail_reward is not None and not math.isfinite(float(fail_reward)):
        raise ValueError(f"fail_reward must be a finite number, got {fail_reward!r}")
    if objective is None:
        return None
    return ObjectiveReward(Objective.parse(objective), 0.0 if fail_reward is None else float(fail_reward))
