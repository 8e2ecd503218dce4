"""Objectives (metric, direction) and constraints (bounds on metrics), parsed from text.

``Objective.parse("val_accuracy:max")``, ``Constraint.parse("params<=20000")``. Both are plain
values, picklable and free of torch, so strategies and evaluators can use them.
"""

from __future__ import annotations

import math
import operator
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

_DIRECTIONS = ("max", "min")
_OPS = {"<=": operator.le, ">=": operator.ge, "<": operator.lt, ">": operator.gt}
_CONSTRAINT_RE = re.compile(r"^\s*([A-Za-z_][\w.]*)\s*(<=|>=|<|>)\s*([-+0-9.eE_]+)\s*$")


@dataclass(frozen=True)
class Objective:
    """A metric to maximise or minimise."""

    metric: str
    direction: str = "max"

    def __post_init__(self) -> None:
        if self.direction not in _DIRECTIONS:
            raise ValueError(f"objective {self.metric!r}: direction must be 'max' or 'min', got {self.direction!r}")

    @classmethod
    def parse(cls, text: str) -> Objective:
        """``"metric:max"`` or ``"metric:min"`` (``"metric"`` alone means max)."""
        metric, _, direction = text.strip().partition(":")
        if not metric:
            raise ValueError(f"objective {text!r}: expected 'metric:max' or 'metric:min'")
        return cls(metric, direction or "max")

    def loss(self, value: float) -> float:
        """The value as something to minimise."""
        return -value if self.direction == "max" else value

    def better(self, a: float, b: float) -> bool:
        """Whether ``a`` is strictly better than ``b``."""
        return self.loss(a) < self.loss(b)

    def __str__(self) -> str:
        return f"{self.metric}:{self.direction}"


@dataclass(frozen=True)
class Constraint:
    """A bound on a metric, e.g. ``params <= 20000``."""

    metric: str
    op: str
    bound: float

    def __post_init__(self) -> None:
        if self.op not in _OPS:
            raise ValueError(f"constraint on {self.metric!r}: operator must be one of {list(_OPS)}, got {self.op!r}")

    @classmethod
    def parse(cls, text: str) -> Constraint:
        """``"metric<=bound"`` (also ``>=``, ``<``, ``>``)."""
        match = _CONSTRAINT_RE.match(text)
        if not match:
            raise ValueError(f"constraint {text!r}: expected 'metric<=number' (or >=, <, >), e.g. 'params<=20000'")
        metric, op, bound = match.groups()
        try:
            value = float(bound.replace("_", ""))
        except ValueError:
            raise ValueError(f"constraint {text!r}: {bound!r} is not a number") from None
        return cls(metric, op, value)

    def satisfied(self, metrics: Mapping[str, float]) -> bool:
        """Whether ``metrics`` meet the bound (a missing metric does not)."""
        return self.violation(metrics) == 0.0

    def violation(self, metrics: Mapping[str, float]) -> float:
        """How far the bound is missed, relative to its size (0 when met, inf when missing)."""
        value = metrics.get(self.metric)
        if value is None or not math.isfinite(value):
            return math.inf
        if _OPS[self.op](value, self.bound):
            return 0.0
        return abs(value - self.bound) / max(abs(self.bound), 1e-12) + 1e-12

    def __str__(self) -> str:
        return f"{self.metric}{self.op}{self.bound:g}"


def total_violation(constraints: Sequence[Constraint], metrics: Mapping[str, float]) -> float:
    """Sum of the constraints' violations (0 when all are met)."""
    return sum(c.violation(metrics) for c in constraints)


def check_objectives(objectives: Sequence[Objective]) -> None:
    """Refuse an empty or contradictory objective list (the same metric twice)."""
    if not objectives:
        raise ValueError("objectives: at least one objective is needed, e.g. 'val_accuracy:max'")
    seen: dict[str, str] = {}
    for obj in objectives:
        if obj.metric in seen:
            what = "contradictory" if seen[obj.metric] != obj.direction else "repeated"
            raise ValueError(f"objectives: {what} objectives on {obj.metric!r} ({seen[obj.metric]} and {obj.direction})")
        seen[obj.metric] = obj.direction
