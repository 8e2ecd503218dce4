"""A Stable-Baselines3 agent on a NAS environment (the optional extra ``nasforge[gym]``).

:func:`train_ppo` runs PPO (Schulman et al. 2017) on an environment for a number of queries and
returns the model; the environment's :attr:`~nasforge.gym.env.NasEnv.queries` hold what it
evaluated, in order, which is its search. The settings suit a query budget of a few hundred:
``gamma=0`` (each query's reward depends on that architecture alone, so the episode is a
bandit and bootstrapping only adds noise), a policy update every ``n_steps`` queries, and the
reward divided by ``reward_scale`` (accuracies in percent would otherwise swamp the value loss).
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym


def train_ppo(env: gym.Env, queries: int, seed: int = 0, reward_scale: float = 100.0, n_steps: int = 20,
              learning_rate: float = 3e-3, **ppo: Any) -> Any:
    """PPO (``MlpPolicy``) trained on ``env`` for ``queries`` steps of ``mode="full"`` (one
    architecture each); further keyword arguments go to ``stable_baselines3.PPO``."""
    try:
        from stable_baselines3 import PPO
    except ImportError:  # pragma: no cover - the optional extra
        raise ImportError("train_ppo needs Stable-Baselines3: pip install 'nasforge[gym]'") from None
    from gymnasium.wrappers import TransformReward

    if queries < 1 or reward_scale <= 0:
        raise ValueError(f"queries must be >= 1 and reward_scale > 0, got {queries}, {reward_scale}")
    scaled = TransformReward(env, lambda r: r / reward_scale)
    settings = {"n_steps": n_steps, "batch_size": n_steps, "n_epochs": 10, "learning_rate": learning_rate,
                "gamma": 0.0, "gae_lambda": 0.0, "ent_coef": 0.0, **ppo}
    model = PPO("MlpPolicy", scaled, seed=seed, device="cpu", **settings)
    model.learn(total_timesteps=queries)
    return model
