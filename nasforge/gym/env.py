""":class:`NasEnv`: a Gymnasium environment over any space x evaluator x cost source.

The run's wiring is a search's own: the arguments become a validated
:class:`~nasforge.run.config.SearchConfig` (so a bad name or setting fails with the search's
error, naming the field, before anything is loaded), and :mod:`nasforge.run.build` resolves the
space, the data, the evaluator chosen by name and the cost sources the reward needs.

- **Actions.** ``mode="full"``: ``MultiDiscrete`` with one entry per decision of the space (the
  option's index); one step proposes and evaluates a whole architecture. ``mode="per_decision"``:
  ``Discrete(k)`` with ``k`` the largest number of options; step ``i`` of an architecture sets
  decision ``i`` to option ``action % len(options)``, and the architecture is evaluated on the
  step that sets its last decision (earlier steps earn reward 0).
- **Observations.** A flat float32 ``Box`` (:mod:`nasforge.gym.observation`).
- **Reward.** :mod:`nasforge.gym.reward`: the objective's value, or the distance to a target.
- **Episodes.** ``budget`` queries (evaluated architectures) per episode; the step that spends
  the last one returns ``terminated=True``. A repeated architecture is answered from its first
  evaluation (not evaluated again; stored as a ``cached`` trial) and still spends a query.
  ``reset(seed=...)`` starts an episode; the environment draws nothing at random, so the same
  actions give the same observations and rewards after any reset.
- **Storage.** Every query is a trial of one :class:`~nasforge.experiment.storage.Storage`: in
  memory by default, or ``run_dir/trials.db`` beside the run's ``config.yaml`` (the directory is
  created, must be new, and is locked while the environment is open), so ``nasforge show`` and
  ``nasforge report`` read an environment's log like any search's.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from nasforge.core.objectives import Objective
from nasforge.core.records import CACHED, COMPLETE, FAILED
from nasforge.experiment import run_dir as rd
from nasforge.experiment.storage import Storage
from nasforge.gym.observation import ObservationLayout
from nasforge.gym.reward import ObjectiveReward, TargetReward, make_reward
from nasforge.run.build import build_evaluator, load_data, make_space
from nasforge.run.config import SearchConfig, validate_config
from nasforge.space.arch import Arch
from nasforge.space.space import Space

MODES = ("full", "per_decision")
#: a proposal the space refuses (``Space.is_valid``): not evaluated, not stored
INVALID = "invalid"


@dataclass(frozen=True)
class Query:
    """One query of an episode: the architecture (``None`` if the space refused it), its outcome
    and reward, and whether it was answered from an earlier evaluation."""

    episode: int
    arch: Arch | None
    status: str
    metrics: Mapping[str, float]
    reward: float
    cached: bool
    trial: int | None
    error: str | None = None


class NasEnv(gym.Env):
    """Search ``space`` with ``evaluator`` as a Gymnasium environment (see the module docstring).

    ``space``: a registered name (with ``space_settings``) or a :class:`Space`; ``evaluator`` and
    ``evaluator_settings``: as in a search (``tabular``, ``train``, ``proxy``...); ``task``: a task
    spec or Task (default: the evaluator's or the space's); ``objective`` (``"accuracy:max"``) or
    ``target`` (``"accuracy>=90, latency_ms<=5"``); ``constraints``: bounds that make an
    architecture infeasible (checked on its cost before it is evaluated); ``latency``: the latency
    source's settings (``{"source": "measured"}``...); ``seed``: the run's seed (training, proxies).
    """

    metadata: dict[str, Any] = {"render_modes": []}

    def __init__(self, space: str | Space = "nb201", evaluator: str = "tabular",
                 evaluator_settings: Mapping[str, Any] | None = None, *, task: Any = None,
                 objective: str | None = None, target: str | Sequence[str] | None = None,
                 constraints: Sequence[str] = (), budget: int = 100, mode: str = "full",
                 run_dir: str | Path | None = None, latency: Mapping[str, Any] | None = None, seed: int = 0,
                 fail_reward: float | None = None, space_settings: Mapping[str, Any] | None = None,
                 device: str = "cpu") -> None:
        if mode not in MODES:
            raise ValueError(f"mode must be one of {list(MODES)}, got {mode!r}")
        if not isinstance(budget, int | np.integer) or isinstance(budget, bool) or budget < 1:
            raise ValueError(f"budget (queries per episode) must be an integer >= 1, got {budget!r}")
        reward = make_reward(objective, target, fail_reward)
        self.config = _config(space, evaluator, evaluator_settings, task, reward, constraints, budget, latency,
                              seed, space_settings, device)
        if reward is None:  # the evaluator's default objective
            reward = ObjectiveReward(Objective.parse(self.config.objectives[0]), float(fail_reward or 0.0))
        self.reward_fn: ObjectiveReward | TargetReward = reward
        self.budget, self.mode = int(budget), mode
        self.run_dir = Path(run_dir) if run_dir is not None else None
        if self.run_dir is not None:
            rd.check_new(self.run_dir)
        self.space: Space = make_space(self.config, space if isinstance(space, Space) else None)
        data = load_data(self.config, task if task is not None and not isinstance(task, str) else None)
        self._lock: rd.RunLock | None = None
        self.storage = self._open_storage()
        try:
            self.evaluator = build_evaluator(self.config, self.space, data, self.run_dir)
        except BaseException:
            self.close()
            if self.run_dir is not None:  # leave no run directory without trials behind
                rd.remove_if_unused(self.run_dir)
            raise
        cls, settings = self.config.evaluator.cls(), self.config.evaluator.parsed()
        reported = cls.reports(settings, self.space)
        self.metric_names = tuple(dict.fromkeys([*reported, *self.config.metrics_used()]))
        self.layout = ObservationLayout(self.space, self.metric_names, mode == "per_decision")
        self.observation_space = self.layout.box()
        sizes = [len(c) for c in self.space.choices]
        self.action_space = (spaces.MultiDiscrete(sizes) if mode == "full" else spaces.Discrete(max(sizes)))
        self.queries: list[Query] = []
        self._results: dict[str, tuple[str, dict[str, float]]] = {}  # arch key -> first evaluation
        self._clock = 0.0
        self._episode = 0
        self._begin_episode()

    # ------------------------------------------------------------------ Gymnasium API
    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None
              ) -> tuple[np.ndarray, dict[str, Any]]:
        super().reset(seed=seed)
        self._episode += 1
        self._begin_episode()
        return self._observe({}, None, False, 0.0), {"episode": self._episode}

    def step(self, action: Any) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        if self.storage is None:
            raise RuntimeError("step on a closed NasEnv")
        if self._spent >= self.budget:
            raise RuntimeError("the episode has ended (its query budget is spent): call reset()")
        if self.mode == "per_decision":
            choice = self.space.choices[self._position]
            self._partial[choice.name] = choice.options[_discrete(action, self.action_space.n) % len(choice)]
            self._position += 1
            if self._position < len(self.space.choices):
                obs = self._observe(self._partial, None, self._last_ok, 0.0)
                return obs, 0.0, False, False, {"decision": choice.name}
            values, self._partial, self._position = self._partial, {}, 0
        else:
            values = self.values_of(action)
        query = self._query(values)
        self._spent += 1
        shown = {} if self.mode == "per_decision" else values
        self._last_ok = query.status == COMPLETE
        obs = self._observe(shown, query.metrics, self._last_ok, query.reward)
        # what an episode saw, the same after any reset (whether a result came from the cache is
        # in ``queries``, not here)
        info = {"arch": None if query.arch is None else query.arch.key, "status": query.status,
                "metrics": dict(query.metrics), "query": self._spent, "error": query.error}
        return obs, query.reward, self._spent >= self.budget, False, info

    def close(self) -> None:
        if getattr(self, "storage", None) is not None:
            self.storage.set_meta("elapsed_seconds", getattr(self, "_clock", 0.0))
            self.storage.close()
            self.storage = None
        if getattr(self, "_lock", None) is not None:
            self._lock.__exit__(None, None, None)
            self._lock = None
        super().close()

    # ------------------------------------------------------------------ for agents
    def values_of(self, action: Any) -> dict[str, Any]:
        """The decisions a ``mode="full"`` action names (one option index per decision)."""
        indices = np.asarray(action).reshape(-1)
        if indices.shape[0] != len(self.space.choices):
            raise ValueError(f"action: expected {len(self.space.choices)} option indices (one per decision of "
                             f"space {self.space.name!r}), got {indices.shape[0]}")
        out = {}
        for c, i in zip(self.space.choices, indices, strict=True):
            if not float(i).is_integer() or not 0 <= int(i) < len(c):
                raise ValueError(f"action: decision {c.name!r} has options 0..{len(c) - 1}, got {i!r}")
            out[c.name] = c.options[int(i)]
        return out

    def actions_for(self, arch: Arch) -> list[np.ndarray | int]:
        """The steps that propose ``arch``: one ``MultiDiscrete`` action (``full``), or one
        option index per decision (``per_decision``)."""
        indices = [c.index(arch[c.name]) for c in self.space.choices]
        return [np.asarray(indices, dtype=np.int64)] if self.mode == "full" else indices

    @property
    def objectives(self) -> list[Objective]:
        """The objectives the run records (``config.yaml``)."""
        return self.config.parsed_objectives()

    @property
    def episode(self) -> int:
        return self._episode

    # ------------------------------------------------------------------ internals
    def _begin_episode(self) -> None:
        self._spent, self._position, self._last_ok = 0, 0, False
        self._partial: dict[str, Any] = {}

    def _observe(self, decisions: Mapping[str, Any], metrics: Mapping[str, float] | None, ok: bool,
                 reward: float) -> np.ndarray:
        position = self._position if self.mode == "per_decision" else None
        return self.layout.vector(decisions, position, metrics, ok, reward, self._spent / self.budget)

    def _query(self, values: Mapping[str, Any]) -> Query:
        """Evaluate (or look up) the architecture of ``values``, store it, and score it."""
        assert self.storage is not None
        try:
            arch = self.space.arch(values)
        except ValueError as exc:
            query = Query(self._episode, None, INVALID, {}, self._reward(None), False, None, str(exc))
            self.queries.append(query)
            return query
        known = self._results.get(arch.key)
        if known is not None:
            status, metrics = known
            number = self.storage.add_trial(arch, status=CACHED, metrics=metrics)
            query = Query(self._episode, arch, status, metrics, self._reward(metrics if status != FAILED else None),
                          True, number)
        else:
            number = self.storage.add_trial(arch)
            result = self.evaluator.evaluate(arch)
            metrics = dict(result.metrics)
            reward = self._reward(metrics if result.status != FAILED else None)
            self._clock += result.cost_seconds
            counted = len(self._results) + 1
            self.storage.finish_trial(number, result.status, metrics, result.error, result.cost_seconds,
                                      {**dict(result.info), "episode": self._episode, "reward": reward},
                                      meta={"elapsed_seconds": self._clock, "counted": counted}, clock=self._clock)
            self._results[arch.key] = (result.status, metrics)
            query = Query(self._episode, arch, result.status, metrics, reward, False, number, result.error)
        self.queries.append(query)
        return query

    def _reward(self, metrics: Mapping[str, float] | None) -> float:
        return float(self.reward_fn(metrics))

    def _open_storage(self) -> Storage:
        if self.run_dir is None:
            return Storage(":memory:")
        path = self.run_dir
        path.mkdir(parents=True, exist_ok=True)
        lock = rd.RunLock(path)
        lock.__enter__()
        try:
            rd.check_new(path, locked=True)
            rd.write_text_atomic(path / rd.CONFIG, self.config.to_yaml())
            storage = Storage(path / rd.DB)
            storage.set_meta("config", self.config.model_dump(mode="json"))
            storage.set_meta("seed", self.config.seed)
            storage.set_meta("gym", {"mode": self.mode, "budget": self.budget, "reward": self.reward_fn.describe()})
        except BaseException:
            lock.__exit__(None, None, None)
            raise
        self._lock = lock
        return storage


def _discrete(action: Any, n: int) -> int:
    value = np.asarray(action).reshape(-1)
    if value.shape[0] != 1 or not float(value[0]).is_integer() or not 0 <= int(value[0]) < n:
        raise ValueError(f"action: expected one integer in 0..{n - 1} (mode 'per_decision'), got {action!r}")
    return int(value[0])


def _config(space: str | Space, evaluator: str, evaluator_settings: Mapping[str, Any] | None, task: Any,
            reward: ObjectiveReward | TargetReward | None, constraints: Sequence[str], budget: int,
            latency: Mapping[str, Any] | None, seed: int, space_settings: Mapping[str, Any] | None,
            device: str) -> SearchConfig:
    """The environment's arguments as a validated search configuration (errors name the field)."""
    if isinstance(constraints, str):
        constraints = [c.strip() for c in constraints.split(",") if c.strip()]
    context: dict[str, Any] = {}
    data: dict[str, Any] = {"space": space.name if isinstance(space, Space) else space,
                            "evaluator": {"name": evaluator, "settings": dict(evaluator_settings or {})},
                            "constraints": list(constraints), "budget": {"trials": int(budget)}, "seed": seed,
                            "device": device, "final_retrain": False, "strategy": "random"}
    if isinstance(space, Space):
        context["space"] = space
    elif space_settings:
        data["space_settings"] = dict(space_settings)
    if isinstance(task, str):
        data["task"] = task
    elif task is not None:
        context["task"] = task
        data["task"] = getattr(task, "name", "custom")
    if reward is not None:
        data["objectives"] = reward.objectives()
    if latency:
        data["latency"] = dict(latency)
    return validate_config(data, context or None)
