"""NasEnv: Gymnasium's own checker over every registered environment, reproducibility, rewards,
storage (a run directory that ``nasforge show`` and ``report`` read) and bad input."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env
from typer.testing import CliRunner

import nasforge.gym
from nasforge.core.records import CACHED, COMPLETE
from nasforge.estimate.benchmarks import get_benchmark
from nasforge.experiment.run_dir import RunDirError
from nasforge.gym.registration import ENVIRONMENTS
from nasforge.run.config import ConfigError

TABULAR = [i for i in nasforge.gym.env_ids() if ENVIRONMENTS[i.split("/")[1]]["evaluator"] == "tabular"]
#: a training environment's check runs with the cheapest recipe (one epoch on 5 % of the data)
TINY = {"budget": 2, "evaluator_settings": {"epochs": 1, "data_fraction": 0.05}}


def test_every_environment_is_covered():
    trained = [i for i in nasforge.gym.env_ids() if i not in TABULAR]
    assert set(TABULAR) >= {"nasforge/NB201-CIFAR10-v0", "nasforge/NB201-CIFAR100-v0", "nasforge/NB201-ImageNet16-v0",
                            "nasforge/Macro-v0"}
    assert trained == ["nasforge/Conv1d-MNIST1D-v0"]


@pytest.mark.filterwarnings("error")  # the checker's warnings count as failures
@pytest.mark.parametrize("env_id", TABULAR)
@pytest.mark.parametrize("mode", ["full", "per_decision"])
def test_check_env_tabular(env_id, mode):
    env = gym.make(env_id, budget=5, mode=mode)
    check_env(env.unwrapped)
    env.close()


@pytest.mark.filterwarnings("error")
@pytest.mark.parametrize("env_id", [i for i in nasforge.gym.env_ids() if i not in TABULAR])
def test_check_env_training(env_id):
    env = gym.make(env_id, **TINY)
    check_env(env.unwrapped)
    base = env.unwrapped
    assert base.queries and all(q.status == COMPLETE for q in base.queries)
    assert all(0.0 < q.reward <= 1.0 for q in base.queries)  # val_accuracy of a trained network
    assert not all(q.cached for q in base.queries)
    env.close()


def _rollout(env, actions, seed):
    obs, _ = env.reset(seed=seed)
    out = [obs]
    rewards = []
    for a in actions:
        obs, reward, terminated, _, _ = env.step(a)
        out.append(obs)
        rewards.append(reward)
        if terminated:
            break
    return np.stack(out), rewards


@pytest.mark.parametrize("mode", ["full", "per_decision"])
def test_same_seed_same_actions_same_episode_in_a_fresh_env(mode):
    a = gym.make("nasforge/Macro-v0", budget=6, mode=mode)
    actions = [a.action_space.sample() for _ in range(48)]
    first = _rollout(a, actions, seed=3)
    again = _rollout(a, actions, seed=3)  # after a reset (repeats now come from the cache)
    fresh = _rollout(gym.make("nasforge/Macro-v0", budget=6, mode=mode), actions, seed=3)
    for other in (again, fresh):
        np.testing.assert_array_equal(first[0], other[0])
        assert first[1] == other[1]
    assert sum(r != 0.0 for r in first[1]) == 6  # one reward per evaluated architecture


def test_full_mode_reward_is_the_table_and_the_episode_ends_at_the_budget():
    env = gym.make("nasforge/NB201-CIFAR10-v0", budget=3)
    table = get_benchmark("nb201-cifar10").table()
    env.reset(seed=0)
    ends = []
    for indices in ([3, 3, 3, 3, 3, 3], [0, 1, 2, 3, 4, 0], [3, 3, 3, 3, 3, 3]):
        obs, reward, terminated, truncated, info = env.step(np.array(indices))
        assert reward == pytest.approx(table[info["arch"].split(":", 1)[1]]["accuracy"])
        assert env.observation_space.contains(obs)
        ends.append(terminated)
        assert not truncated
    assert ends == [False, False, True]
    base = env.unwrapped
    assert [q.cached for q in base.queries] == [False, False, True]  # a repeat is looked up, and still a query
    with pytest.raises(RuntimeError, match="reset"):
        env.step(np.zeros(6, dtype=int))


def test_target_reward_is_zero_when_met_and_scales_with_distance():
    env = gym.make("nasforge/Macro-v0", target="accuracy>=92, params<=1e9", budget=10)
    env.reset(seed=0)
    best = [int(c) for c in "22212220"]  # the table's most accurate architecture
    _, reward, *_ = env.step(np.array(best))
    assert reward == 0.0
    _, worse, *_, info = env.step(np.zeros(8, dtype=int))  # all identity: low accuracy
    accuracy = info["metrics"]["accuracy"]
    assert worse == pytest.approx(-(92 - accuracy) / 92 / 2)  # mean over the two targets
    assert env.unwrapped.config.objectives == ["accuracy:max", "params:min"]


def test_every_query_is_stored_and_show_and_report_read_the_run(tmp_path):
    from nasforge.cli import app
    from nasforge.report.data import read_run
    from nasforge.report.html import write_report

    run = tmp_path / "env-run"
    env = gym.make("nasforge/NB201-CIFAR10-v0", budget=4, run_dir=run)
    env.reset(seed=0)
    for indices in ([3] * 6, [1] * 6, [3] * 6, [2] * 6):
        env.step(np.array(indices))
    with pytest.raises(RunDirError, match="in use"):  # locked while the environment is open
        gym.make("nasforge/NB201-CIFAR10-v0", run_dir=run)
    env.close()
    records = read_run(run)
    assert [t.status for t in records.trials] == [COMPLETE, COMPLETE, CACHED, COMPLETE]
    assert [t.metrics["accuracy"] for t in records.trials] == [q.metrics["accuracy"] for q in env.unwrapped.queries]
    assert [str(o) for o in records.objectives] == ["accuracy:max"]
    shown = CliRunner().invoke(app, ["show", str(run), "--csv"])
    assert shown.exit_code == 0, shown.output
    assert shown.output.count("nb201:") == 4
    assert write_report(run).is_file()
    with pytest.raises(RunDirError, match="already holds a run"):
        gym.make("nasforge/NB201-CIFAR10-v0", run_dir=run)


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"objective": "latency:min"}, "unknown metric 'latency'"),
    ({"evaluator_settings": {"benchmark": "nope"}}, "nope"),
    ({"mode": "sideways"}, "mode must be one of"),
    ({"budget": 0}, "budget"),
    ({"objective": "accuracy:max", "target": "accuracy>=90"}, "not both"),
    ({"target": "accuracy=>90"}, "target: constraint"),
    ({"fail_reward": float("nan")}, "finite"),
])
def test_bad_arguments_are_named_before_anything_runs(kwargs, message):
    with pytest.raises((ValueError, ConfigError), match=message):
        gym.make("nasforge/NB201-CIFAR10-v0", **kwargs)


def test_bad_actions_are_named():
    env = gym.make("nasforge/NB201-CIFAR10-v0", budget=3)
    env.reset(seed=0)
    with pytest.raises(ValueError, match="expected 6 option indices"):
        env.step(np.zeros(5, dtype=int))
    with pytest.raises(ValueError, match="options 0..4"):
        env.step(np.array([0, 0, 0, 0, 0, 7]))
    per = gym.make("nasforge/NB201-CIFAR10-v0", budget=3, mode="per_decision")
    per.reset(seed=0)
    with pytest.raises(ValueError, match="one integer in 0..4"):
        per.step(9)


def test_a_proposal_the_space_refuses_earns_the_fail_reward_and_is_not_stored():
    from nasforge.gym import NasEnv
    from nasforge.space.macro import MacroSpace

    class NoIdentityStart(MacroSpace):  # a space object given from Python, with a rule among decisions
        def is_valid(self, values):
            return values["layer_0"] != 0

    env = NasEnv(NoIdentityStart(), "tabular", objective="accuracy:max", fail_reward=-5.0, budget=2)
    env.reset(seed=0)
    _, reward, terminated, _, info = env.step(np.zeros(8, dtype=int))
    assert (reward, terminated, info["status"], info["arch"]) == (-5.0, False, "invalid", None)
    assert "not a valid architecture" in info["error"]
    _, reward, terminated, _, info = env.step(np.ones(8, dtype=int))
    assert reward > 80 and terminated and info["status"] == COMPLETE
    assert env.storage.count() == 1
