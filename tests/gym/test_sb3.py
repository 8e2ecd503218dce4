"""A Stable-Baselines3 agent (PPO) learns on a tabular environment: after a few hundred queries
it proposes clearly better architectures than it did at first and than the table's average."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest

import nasforge.gym  # noqa: F401 - registers the environments
from nasforge.estimate.benchmarks import get_benchmark

pytest.importorskip("stable_baselines3", reason="the optional extra nasforge[gym]")


def test_ppo_learns_on_nb201():
    from nasforge.gym.sb3 import train_ppo

    env = gym.make("nasforge/NB201-CIFAR10-v0", budget=300)
    train_ppo(env, queries=300, seed=0)
    rewards = np.array([q.reward for q in env.unwrapped.queries])
    assert len(rewards) == 300
    table_mean = np.mean([m["accuracy"] for m in get_benchmark("nb201-cifar10").table().values()])
    first, last = rewards[:50].mean(), rewards[-50:].mean()
    assert last > first + 1.0, (first, last)
    assert last > table_mean + 3.0, (table_mean, last)
