""":class:`StrategyAgent`: any nasforge strategy acting as an agent on a :class:`NasEnv`.

The loop is the strategy's own protocol around the environment's steps:
``arch = strategy.ask()`` -> the step(s) that propose ``arch`` (one ``MultiDiscrete`` action, or
one action per decision) -> ``strategy.tell(arch, metrics)``. The strategy is set up once, with
the environment's space and constraints, the run's services (proxy scorers on the run's task,
the run's cost sources; :func:`nasforge.run.build.cost_service`) and one objective,
``reward:max``: it is told the evaluation's metrics plus ``reward``, the environment's reward, so
it maximises what any other agent on the environment maximises (the objective's value, or the
distance to a target). A failed evaluation is told as ``None``, as in a search.

The strategy keeps its state across episodes (it never proposes an architecture twice), as an
agent that learns over episodes would.
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym

from nasforge.core.objectives import Objective
from nasforge.core.records import FAILED
from nasforge.experiment.services import run_services
from nasforge.gym.env import INVALID, NasEnv, Query
from nasforge.run.build import cost_service, task_shape
from nasforge.strategy.base import Strategy, get_strategy

#: the single objective a strategy is given on an environment: its reward
REWARD = Objective("reward", "max")


class StrategyAgent:
    """Drive ``env`` (a :class:`NasEnv`, possibly wrapped) with ``strategy`` (a registered name
    with ``settings``, or a :class:`Strategy`), seeded with ``seed``."""

    def __init__(self, strategy: str | Strategy, env: gym.Env, seed: int = 0, **settings: Any) -> None:
        base = env.unwrapped
        if not isinstance(base, NasEnv):
            raise TypeError(f"StrategyAgent drives a nasforge NasEnv, not {type(base).__name__}")
        if isinstance(strategy, Strategy):
            if settings:
                raise ValueError("settings go with a strategy's name; this strategy is already built")
            self.strategy = strategy
        else:
            self.strategy = get_strategy(strategy, **settings)
        self.env, self.base, self.seed = env, base, seed
        shape = task_shape(base.config, base.space, None)
        services = run_services(base.space, base.config.task, seed,
                                cost=cost_service(base.evaluator, base.space, shape), shape=shape)
        self.strategy.setup(base.space, [REWARD], base.config.parsed_constraints(), seed, services)

    def run_episode(self, seed: int | None = None) -> list[Query]:
        """One episode to the environment's budget (or until the strategy has nothing new to
        propose); returns its queries."""
        self.env.reset(seed=seed)
        start = len(self.base.queries)
        done = False
        while not done:
            arch = self.strategy.ask()
            if arch is None:
                break
            for action in self.base.actions_for(arch):
                _, reward, terminated, truncated, info = self.env.step(action)
                done = terminated or truncated
            status = info["status"]
            told = None if status in (FAILED, INVALID) else {**info["metrics"], REWARD.metric: float(reward)}
            self.strategy.tell(arch, told)
        return self.base.queries[start:]

    def run(self, episodes: int = 1, seed: int | None = None) -> list[list[Query]]:
        """``episodes`` episodes (the first reset with ``seed``); each one's queries."""
        return [self.run_episode(seed if i == 0 else None) for i in range(episodes)]
