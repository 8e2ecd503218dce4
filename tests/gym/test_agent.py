"""StrategyAgent: every registered strategy acts as an agent on a tabular environment."""

from __future__ import annotations

import gymnasium as gym
import pytest

import nasforge.gym  # noqa: F401 - registers the environments
from nasforge.estimate.benchmarks import get_benchmark
from nasforge.gym import StrategyAgent
from nasforge.strategy.base import STRATEGIES

BUDGET = 8
GIVEN = ["|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_3x3~2|",
         "|avg_pool_3x3~0|+|nor_conv_1x1~0|skip_connect~1|+|nor_conv_1x1~0|skip_connect~1|skip_connect~2|"]
#: small settings so that every strategy's few queries stay cheap (proxy pools, FBNetV3's search)
CHEAP = {"proxy-evolution": {"pool_size": 8, "warm_start": 2}, "proxy-local": {"pool_size": 8},
         "proxy-warmstart": {"pool_size": 8, "warm_start": 2},
         "fbnetv3": {"initial": 4, "batch": 2, "pool_size": 40, "generations": 2, "population": 8, "pretrained": False},
         "bananas": {"n_init": 4, "epochs": 20, "members": 2}, "given": {"archs": GIVEN}}


@pytest.mark.parametrize("name", STRATEGIES.list())
def test_every_strategy_drives_a_tabular_environment(name):
    env = gym.make("nasforge/NB201-CIFAR10-v0", budget=BUDGET)
    agent = StrategyAgent(name, env, seed=1, **CHEAP.get(name, {}))
    queries = agent.run_episode(seed=0)
    expected = len(GIVEN) if name == "given" else BUDGET  # a fixed list ends when it is spent
    assert len(queries) == expected
    keys = [q.arch.key for q in queries]
    assert len(set(keys)) == len(keys), "a strategy never proposes an architecture twice"
    table = get_benchmark("nb201-cifar10").table()
    assert [q.reward for q in queries] == [table[q.arch.body]["accuracy"] for q in queries]
    told = agent.strategy.history
    assert [a.key for a, _ in told] == keys
    assert all(m["reward"] == q.reward for (_, m), q in zip(told, queries, strict=True))


def test_an_agent_learns_over_episodes_and_drives_per_decision_mode():
    env = gym.make("nasforge/Macro-Target-v0", budget=10, mode="per_decision")
    agent = StrategyAgent("local", env, seed=0)
    first, second = agent.run(episodes=2, seed=0)
    assert len(first) == len(second) == 10
    assert not {q.arch.key for q in first} & {q.arch.key for q in second}  # the strategy remembers
    assert max(q.reward for q in second) >= max(q.reward for q in first[:3])


def test_agent_refuses_other_environments_and_settings_with_a_built_strategy():
    from nasforge.strategy.base import get_strategy

    with pytest.raises(TypeError, match="NasEnv"):
        StrategyAgent("random", gym.make("CartPole-v1"))
    env = gym.make("nasforge/Macro-v0", budget=2)
    with pytest.raises(ValueError, match="already built"):
        StrategyAgent(get_strategy("evolution"), env, population_size=4)
    with pytest.raises(ValueError, match="population_siz"):
        StrategyAgent("evolution", env, population_siz=4)
