"""A NAS gym: Gymnasium environments over any space x evaluator x cost source (issue 20).

``import nasforge.gym`` registers the environments of :data:`~nasforge.gym.registration.ENVIRONMENTS`
(``gymnasium.make("nasforge/NB201-CIFAR10-v0")``); :class:`NasEnv` builds one from any search
configuration; :class:`StrategyAgent` lets any nasforge strategy act on one; :mod:`nasforge.gym.logs`
turns stored trials into a dataset for a cost model. See ``docs/gym.md``.
"""

from __future__ import annotations

from nasforge.gym.agent import StrategyAgent
from nasforge.gym.env import NasEnv, Query
from nasforge.gym.registration import ENVIRONMENTS, env_ids, register_all

register_all()

__all__ = ["ENVIRONMENTS", "NasEnv", "Query", "StrategyAgent", "env_ids", "register_all"]
