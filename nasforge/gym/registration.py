"""The registered environments: ``gymnasium.make("nasforge/NB201-CIFAR10-v0", **kwargs)`` after
``import nasforge.gym``. Keyword arguments override the defaults below (any :class:`NasEnv`
argument: ``objective``, ``target``, ``budget``, ``mode``, ``evaluator_settings``, ``run_dir``...).
No default names an objective: without ``objective=`` or ``target=`` the reward is the
first of the evaluator's default objectives (``accuracy:max`` for the tables, ``val_accuracy:max`` for training),
so either may be given (``Macro-Target-v0`` names a target: pass ``target=None`` with an objective).

:data:`ENVIRONMENTS` maps each id to its defaults; the test suite runs Gymnasium's
``check_env`` over all of them.
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym

ENTRY_POINT = "nasforge.gym.env:NasEnv"
NAMESPACE = "nasforge"

#: id -> default keyword arguments of :class:`~nasforge.gym.env.NasEnv`
ENVIRONMENTS: dict[str, dict[str, Any]] = {
    "NB201-CIFAR10-v0": {"space": "nb201", "evaluator": "tabular",
                         "evaluator_settings": {"benchmark": "nb201-cifar10"}},
    "NB201-CIFAR100-v0": {"space": "nb201", "evaluator": "tabular",
                          "evaluator_settings": {"benchmark": "nb201-cifar100"}},
    "NB201-ImageNet16-v0": {"space": "nb201", "evaluator": "tabular",
                            "evaluator_settings": {"benchmark": "nb201-imagenet16"}},
    "Macro-v0": {"space": "macro", "evaluator": "tabular", "evaluator_settings": {"benchmark": "macro"}},
    # an ArchGym-style specification on the table's own metrics: accurate and small
    "Macro-Target-v0": {"space": "macro", "evaluator": "tabular", "evaluator_settings": {"benchmark": "macro"},
                        "target": "accuracy>=92.5, params<=1500000"},
    # real training: 1-D CNNs on MNIST-1D, a short recipe per query
    "Conv1d-MNIST1D-v0": {"space": "conv1d", "evaluator": "train", "task": "mnist1d",
                          "evaluator_settings": {"epochs": 3}, "budget": 20},
}


def env_ids() -> list[str]:
    """The full ids (``nasforge/NB201-CIFAR10-v0``...)."""
    return [f"{NAMESPACE}/{name}" for name in ENVIRONMENTS]


def register_all() -> None:
    """Register every environment with Gymnasium (once per process)."""
    for name, kwargs in ENVIRONMENTS.items():
        full = f"{NAMESPACE}/{name}"
        if full not in gym.registry:
            gym.register(full, entry_point=ENTRY_POINT, kwargs=dict(kwargs))
