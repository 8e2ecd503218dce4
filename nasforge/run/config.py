"""The search configuration: one Pydantic model, from CLI options, Python or a YAML file.

Every field is validated before any data is loaded or any network built; errors name the field.
Names of spaces, strategies, evaluators, tasks and executors are checked against their
registries (the error lists the valid names); strategy settings against the strategy's
signature (names and types); evaluator settings against the evaluator's ``Settings`` model; the
evaluator against the space (:class:`~nasforge.estimate.base.IncompatibleError`); objectives and
constraints against the metrics the evaluator reports plus the cost metrics the space allows.

``evaluator`` is ``{name: ..., settings: {...}}``. A configuration written before evaluators
were chosen by name (``evaluator: {kind: train, epochs: 15, latency: {...}}``) is read as
``{name: train, settings: {epochs: 15}}`` with ``latency`` moved to the top level.
"""

from __future__ import annotations

import math
import numbers
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from nasforge.core.objectives import Constraint, Objective, check_objectives
from nasforge.core.safe_yaml import safe_yaml
from nasforge.hardware.metrics import LATENCY_METRICS
from nasforge.hardware.metrics import METRICS as COST_METRICS

#: cost metrics computed from a network without training (see nasforge.hardware.metrics)


class ConfigError(ValueError):
    """A configuration that cannot run; the message names the field(s)."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class LatencyConfig(_Strict):
    """Where ``latency_ms`` comes from when an objective or constraint names it.

    ``measured``: timed on this machine for every architecture (PyTorch or ONNX Runtime; backend
    ``onnx_int8``: the INT8 model in ONNX Runtime, :mod:`nasforge.hardware.int8`);
    ``lut``: the sum of profiled per-block latencies (block spaces: macro, mbconv, nb201, vit);
    ``predictor``: gradient-boosted trees fitted on ``samples`` measured architectures of the
    space, the measurements cached per device in the run directory (``latency/``).
    """

    source: Literal["measured", "lut", "predictor"] = "measured"
    backend: Literal["torch", "onnx", "onnx_int8"] = "torch"
    batch_size: int = Field(1, ge=1, le=100_000)
    threads: int = Field(1, ge=1, le=1024)
    warmup: int = Field(10, ge=0, le=100_000)
    repeats: int = Field(30, ge=1, le=100_000)
    clock: Literal["wall", "cpu"] = "wall"
    samples: int = Field(100, ge=2, le=100_000, description="predictor: architectures measured to fit it")
    seq_len: int | None = Field(None, ge=1, le=1_000_000, description="token models (space gpt): tokens per timed "
                                "sequence (default: the task's context length)")


class EvaluatorConfig(_Strict):
    """The evaluator by name and its settings (validated by the evaluator's ``Settings``)."""

    name: str = "train"
    settings: dict[str, Any] = Field(default_factory=dict)

    @field_validator("name")
    @classmethod
    def _known(cls, name: str) -> str:
        from nasforge.estimate.base import EVALUATORS

        return _registered(EVALUATORS, name)

    @model_validator(mode="after")
    def _settings_valid(self) -> EvaluatorConfig:
        model = self.model()
        try:
            parsed = model.model_validate(self.settings)
        except ValidationError as exc:
            raise ValueError(_pydantic_lines(exc, "settings", f"(evaluator {self.name!r})")) from None
        # the resolved settings (defaults filled in) are what config.yaml records
        object.__setattr__(self, "settings", parsed.model_dump(mode="json", exclude_unset=False))
        return self

    def model(self) -> type[BaseModel]:
        """The evaluator's ``Settings`` model."""
        from nasforge.estimate.base import EVALUATORS

        return EVALUATORS.get(self.name).Settings

    def parsed(self) -> Any:
        """The settings as the evaluator's ``Settings`` instance."""
        return self.model().model_validate(self.settings)

    def cls(self) -> Any:
        from nasforge.estimate.base import EVALUATORS

        return EVALUATORS.get(self.name)


class BudgetConfig(_Strict):
    trials: int | None = Field(None, ge=1, le=10_000_000)
    minutes: float | None = Field(None, gt=0, le=525_600)

    @model_validator(mode="after")
    def _one_set(self) -> BudgetConfig:
        if self.trials is None and self.minutes is None:
            raise ValueError("set trials, minutes or both")
        if self.minutes is not None and not math.isfinite(self.minutes):
            raise ValueError(f"minutes must be a finite number, got {self.minutes}")
        return self


class MlflowLogConfig(_Strict):
    """Where the MLflow logger writes (``nasforge.run.tracking``)."""

    uri: str | None = Field(None, min_length=1, description="MLflow tracking URI (a server, sqlite:///FILE, ...); "
                            "default: sqlite:///RUN/mlflow/mlflow.db, artifacts in RUN/mlflow/artifacts")
    experiment: str = Field("nasforge", min_length=1, max_length=500, description="MLflow experiment name")


class TensorBoardLogConfig(_Strict):
    """Where the TensorBoard logger writes (``nasforge.run.tracking``)."""

    dir: Path | None = Field(None, description="a folder for many runs (this run writes DIR/<run "
                            "directory name>); default: RUN/tensorboard")


#: experiment trackers ``log_to`` may name, and the module (and pip extra) each needs
TRACKERS = {"mlflow": ("mlflow", "nasforge[mlflow]"), "tensorboard": ("tensorboard", "nasforge[tensorboard]")}


class LogToConfig(_Strict):
    """Experiment trackers the search logs to: ``log_to: [mlflow, tensorboard]``, or with
    settings ``log_to: {mlflow: {uri: ..., experiment: ...}, tensorboard: {dir: ...}}``. Each
    must be installed (its pip extra) before the search starts."""

    mlflow: MlflowLogConfig | None = None
    tensorboard: TensorBoardLogConfig | None = None

    @model_validator(mode="before")
    @classmethod
    def _names(cls, data: Any) -> Any:
        """A list of tracker names (``[mlflow]``) is the mapping with default settings."""
        if isinstance(data, str):
            data = [data]
        if isinstance(data, list | tuple):
            unknown = [n for n in data if n not in TRACKERS]
            if unknown:
                raise ValueError(f"unknown tracker {unknown[0]!r}; trackers: {', '.join(TRACKERS)}")
            return {name: {} for name in data}
        if isinstance(data, dict):
            unknown = [n for n in data if n not in TRACKERS]
            if unknown:
                raise ValueError(f"unknown tracker {unknown[0]!r}; trackers: {', '.join(TRACKERS)}")
            return {k: ({} if v is True else v) for k, v in data.items() if v is not False}
        return data

    @model_validator(mode="after")
    def _installed(self) -> LogToConfig:
        import importlib.util
        import sys

        for name in self.names():
            module, extra = TRACKERS[name]
            found = sys.modules[module] is not None if module in sys.modules else \
                importlib.util.find_spec(module) is not None
            if not found:
                raise ValueError(f"{name}: logging to {name} needs the {module} package, which is not installed: "
                                 f"pip install '{extra}'")
        return self

    def names(self) -> list[str]:
        """The trackers chosen, in a fixed order."""
        return [name for name in TRACKERS if getattr(self, name) is not None]


class SearchConfig(_Strict):
    """Everything a search needs; ``config.yaml`` in a run directory is this, resolved."""

    task: str | None = Field(None, description="data; default: the space's (mnist1d for conv1d, cifar10 "
                             "for image spaces) or the tabular benchmark's")
    space: str = "conv1d"
    space_settings: dict[str, Any] = Field(default_factory=dict)
    strategy: str = Field("bananas", description="default: bananas (surrogate BO; with free-cost objectives such "
                          "as params, hypervolume improvement over the Pareto front)")
    strategy_settings: dict[str, Any] = Field(default_factory=dict)
    evaluator: EvaluatorConfig = Field(default_factory=EvaluatorConfig)
    objectives: list[str] | None = Field(None, description="default: the evaluator's")
    constraints: list[str] = Field(default_factory=list)
    latency: LatencyConfig = Field(default_factory=LatencyConfig)
    retrain: dict[str, Any] = Field(default_factory=dict, description="recipe of the final retraining after a "
                                    "proxy, supernet or predictor search (train evaluator settings)")
    device: str = Field("auto", validate_default=True, description="auto, cpu, cuda or cuda:N: where networks "
                        "train and latency is measured; auto (resolved when the config is read) is the GPU when "
                        "torch sees one, else the CPU")
    clock: Literal["wall", "cpu", "simulated"] = "wall"
    #: trials only, so the default run's result does not depend on the machine's speed
    budget: BudgetConfig = Field(default_factory=lambda: BudgetConfig(trials=60, minutes=None))
    seed: int = Field(0, ge=0, le=2**32 - 1)
    executor: Literal["serial", "processes", "ray"] = "serial"
    workers: int = Field(1, ge=1, le=512, description="concurrent trials (processes or ray executor)")
    threads_per_worker: int | None = Field(None, ge=1, le=1024, description="CPU threads (Ray: CPUs) per "
                                           "worker; default: cores / workers")
    gpus_per_trial: float = Field(0.0, ge=0, le=64, description="GPUs per trial on Ray (a fraction shares one)")
    ray_address: str | None = Field(None, min_length=1, description="Ray cluster address: HOST:PORT of a head "
                                    "node started with `ray start --head`, ray://HOST:PORT, or auto (Ray's own "
                                    "discovery); default: a private local Ray")
    ray_token_file: Path | None = Field(None, description="file holding the token of a Ray cluster with token "
                                        "authentication (default: RAY_AUTH_TOKEN, RAY_AUTH_TOKEN_PATH or "
                                        "~/.ray/auth_token)")
    trial_timeout: float | None = Field(None, gt=0, le=7 * 24 * 3600, description="seconds before a trial is "
                                        "stopped and stored failed (reason 'timeout')")
    retries: int = Field(0, ge=0, le=100, description="re-evaluations of a failed trial before it stays failed")
    final_retrain: bool = True
    final_front: bool = Field(False, description="also retrain every member of the Pareto front (after the selected "
                              "one) and test it: RUN/best/front.csv, RUN/best/front/<i>/")
    log_to: LogToConfig = Field(default_factory=LogToConfig, description="experiment trackers (mlflow, "
                                "tensorboard) the search logs every trial and the selected model to")

    @model_validator(mode="before")
    @classmethod
    def _legacy_evaluator(cls, data: Any) -> Any:
        """Read a config written before evaluators were chosen by name (see the module docstring)."""
        if not isinstance(data, dict) or not isinstance(data.get("evaluator"), dict):
            return data
        ev = dict(data["evaluator"])
        if set(ev) <= {"name", "settings"}:
            return data
        data = dict(data)
        if "latency" in ev and "latency" not in data:
            data["latency"] = ev.pop("latency")
        name = ev.pop("name", None) or ev.pop("kind", None) or "train"
        ev.pop("kind", None)
        settings = {**ev.pop("settings", {}), **ev}
        data["evaluator"] = {"name": name, "settings": settings}
        return data

    @model_validator(mode="before")
    @classmethod
    def _space_recipe(cls, data: Any) -> Any:
        """A space's recommended training settings (its ``train_defaults``, e.g. ``gpt``'s for
        text) fill the ``train`` evaluator's settings that the configuration leaves unset."""
        if not isinstance(data, dict) or not isinstance(data.get("space", "conv1d"), str):
            return data
        from nasforge.space.registry import SPACES

        try:
            defaults = getattr(SPACES.get(data.get("space", "conv1d")), "train_defaults", None)
        except (KeyError, ValueError):  # an unknown space is named by the field's own check
            return data
        ev = data.get("evaluator") or {}
        if not defaults or not isinstance(ev, dict) or (ev.get("name") or ev.get("kind") or "train") != "train":
            return data
        settings = ev.get("settings") or {}
        if not isinstance(settings, dict):
            return data
        return {**data, "evaluator": {**ev, "settings": {**defaults, **settings}}}

    @field_validator("*", mode="before")
    @classmethod
    def _finite(cls, value: Any) -> Any:
        """No NaN or infinity anywhere (``--minutes nan``, ``-E lr=inf``, ``-S crossover=.nan``): a
        non-finite number is never a meaningful setting, and a bound check would call it out of range."""
        found = _non_finite(value)
        if found is not None:
            path, bad = found
            raise ValueError(f"{'@' + '.'.join(path) + ': ' if path else ''}must be a finite number (got {bad!r})")
        return value

    @field_validator("space")
    @classmethod
    def _space_known(cls, name: str, info: ValidationInfo) -> str:
        from nasforge.space.registry import SPACES

        if _given(info, "space"):
            return name  # a Space object given from Python
        return _registered(SPACES, name)

    @field_validator("space_settings")
    @classmethod
    def _space_settings_build(cls, settings: dict[str, Any], info: ValidationInfo) -> dict[str, Any]:
        if _given(info, "space") or "space" not in info.data:
            return settings  # a Space object given from Python, or a bad space name (reported there)
        _check_space_settings(info.data["space"], settings)
        return settings

    @field_validator("strategy")
    @classmethod
    def _strategy_known(cls, name: str) -> str:
        from nasforge.oneshot.base import METHODS
        from nasforge.strategy.base import STRATEGIES

        if name in METHODS:
            return METHODS.canonical(name)
        try:
            return _registered(STRATEGIES, name)
        except ValueError as exc:
            if STRATEGIES.is_dynamic(name):  # e.g. optuna:NAME: its own message says what is wrong
                raise ValueError(str(exc)) from None
            raise ValueError(f"unknown strategy {name!r}; strategies: {', '.join(STRATEGIES.list())}; one-shot "
                             f"methods: {', '.join(METHODS.list())}") from None

    @field_validator("strategy_settings")
    @classmethod
    def _strategy_settings_valid(cls, settings: dict[str, Any], info: ValidationInfo) -> dict[str, Any]:
        from nasforge.oneshot.base import METHODS, OneShotSettings
        from nasforge.strategy.base import STRATEGIES

        name = info.data.get("strategy")
        if name in METHODS:
            if "seed" in settings:
                raise ValueError("seed: a one-shot method's seed is the run's seed (--seed / seed:)")
            OneShotSettings.from_mapping(settings)
        elif name is not None:
            STRATEGIES.check_settings(name, settings)
        return settings

    @field_validator("task")
    @classmethod
    def _task_known(cls, spec: str | None, info: ValidationInfo) -> str | None:
        from nasforge.task.registry import TASKS, parse_task_spec

        if _given(info, "task") or spec is None:
            return spec  # a Task object given from Python, or the default (resolved below)
        _registered(TASKS, parse_task_spec(spec)[0])
        return spec

    @field_validator("device")
    @classmethod
    def _device_known(cls, device: str) -> str:
        return resolve_device(device)

    @field_validator("retrain")
    @classmethod
    def _retrain_valid(cls, settings: dict[str, Any]) -> dict[str, Any]:
        from nasforge.estimate.train import TrainSettings

        try:
            return TrainSettings.model_validate(settings).model_dump(mode="json", exclude_unset=True)
        except ValidationError as exc:
            raise ValueError(_pydantic_lines(exc, "", "(the retraining recipe)")) from None

    @field_validator("executor")
    @classmethod
    def _executor_installed(cls, name: str) -> str:
        import importlib.util

        if name == "ray" and importlib.util.find_spec("ray") is None:
            raise ValueError("executor 'ray' needs Ray, which is not installed: pip install 'nasforge[ray]'")
        return name

    @field_validator("workers", "threads_per_worker", "gpus_per_trial", "ray_address")
    @classmethod
    def _fits_executor(cls, value: Any, info: ValidationInfo) -> Any:
        if "executor" in info.data:
            _check_execution_field(str(info.field_name), value, info.data["executor"])
        if info.field_name == "ray_address" and value is not None:
            from nasforge.experiment.executors.ray_cluster import check_address

            check_address(value)
        return value

    @field_validator("ray_token_file")
    @classmethod
    def _token_for_a_cluster(cls, value: Path | None, info: ValidationInfo) -> Path | None:
        if value is not None and not info.data.get("ray_address"):
            raise ValueError("needs ray_address (the private local Ray that runs without one makes its own token)")
        return value

    @field_validator("objectives")
    @classmethod
    def _objectives_parse(cls, items: list[str] | None) -> list[str] | None:
        if items is None:
            return None
        parsed = [Objective.parse(t) for t in items]
        check_objectives(parsed)
        return [str(o) for o in parsed]

    @field_validator("constraints")
    @classmethod
    def _constraints_parse(cls, items: list[str]) -> list[str]:
        from nasforge.experiment.feasibility import check_constraint_ranges

        parsed = [Constraint.parse(t) for t in items]
        check_constraint_ranges(parsed)
        return [str(c) for c in parsed]

    @model_validator(mode="after")
    def _consistent(self, info: ValidationInfo) -> SearchConfig:
        """The evaluator fits the space; defaults resolved; every metric named is reported."""
        from nasforge.estimate.base import IncompatibleError

        if self.final_front and not self.final_retrain:
            raise ValueError("final_front (--final-front) retrains the front after the selected model: it needs "
                             "final_retrain (drop --no-final-retrain)")
        space = _given(info, "space") or _space_of(self)
        evaluator, settings = self.evaluator.cls(), self.evaluator.parsed()
        oneshot = _oneshot_method(self.strategy)
        if oneshot is not None:
            if self.evaluator.name != "train":
                raise ValueError(f"one-shot method {self.strategy!r} scores architectures with its own supernet; "
                                 f"evaluator {self.evaluator.name!r} does not apply (the train evaluator's settings "
                                 "are the recipe of the final retraining)")
            supported = oneshot.supported_spaces()
            if space.name not in supported:
                raise ValueError(f"one-shot method {self.strategy!r} cannot search space {space.name!r}: "
                                 f"{oneshot.unsupported_reason(space.name)} (it searches spaces {supported})")
            from nasforge.oneshot.evaluator import SupernetEvaluator

            evaluator = SupernetEvaluator
            if "budget" not in self.model_fields_set:  # epochs and search_trials are a one-shot run's budget
                trials = int(self.strategy_settings.get("search_trials", 50)) if oneshot.searches else 1
                object.__setattr__(self, "budget", BudgetConfig(trials=trials, minutes=None))
        else:
            try:
                evaluator.check_space(space, settings)
            except IncompatibleError as exc:
                raise ValueError(f"evaluator {self.evaluator.name!r} cannot search space {space.name!r}: "
                                 f"{exc}") from None
        if self.objectives is None:
            object.__setattr__(self, "objectives", evaluator.default_objectives(settings, space))
        if self.task is None and not _given(info, "task"):
            task = evaluator.default_task(settings, space) or getattr(space, "default_task", None) or "mnist1d"
            object.__setattr__(self, "task", task)
        reported = evaluator.reports(settings, space)  # one-shot: the supernet evaluator's (perplexity on gpt)
        costs = list(COST_METRICS) if getattr(space, "can_build", False) else []
        known = [*reported, *(m for m in costs if m not in reported)]
        for text in [*self.objectives, *self.constraints]:
            metric = Objective.parse(text).metric if ":" in text else Constraint.parse(text).metric
            if metric not in known:
                raise ValueError(f"unknown metric {metric!r} in {text!r}: evaluator "
                                 f"{self.evaluator.name if oneshot is None else 'supernet'!r} reports "
                                 f"{reported}" + (f"; cost metrics of the space: {costs}" if costs else
                                                  f"; space {space.name!r} builds no network, so it has no cost metrics"))
        used = {m for m in self.metrics_used() if m in LATENCY_METRICS and m not in reported}
        if used:
            _check_latency_source(self.latency, space, used)
        return self

    # -------------------------------------------------------------- conversions
    def parsed_objectives(self) -> list[Objective]:
        return [Objective.parse(t) for t in self.objectives or []]

    def parsed_constraints(self) -> list[Constraint]:
        return [Constraint.parse(t) for t in self.constraints]

    def metrics_used(self) -> list[str]:
        """Metrics named by objectives and constraints, in order, without repeats."""
        names = [o.metric for o in self.parsed_objectives()] + [c.metric for c in self.parsed_constraints()]
        return list(dict.fromkeys(names))

    def to_yaml(self) -> str:
        return yaml.safe_dump(self.model_dump(mode="json"), sort_keys=False)


def _non_finite(value: Any, path: tuple[str, ...] = (), seen: set[int] | None = None
                ) -> tuple[tuple[str, ...], Any] | None:
    """The path and value of the first NaN or infinity in ``value`` (a number, or a string that
    parses as one, in nested mappings and lists), or ``None``. Each container is looked at once,
    so YAML aliases repeating one list many times over cost nothing."""
    if isinstance(value, numbers.Real) and not isinstance(value, numbers.Integral):
        return None if math.isfinite(float(value)) else (path, value)
    if isinstance(value, str):
        try:
            number = float(value)
        except ValueError:
            return None
        return None if math.isfinite(number) else (path, value)
    if not isinstance(value, dict | list | tuple):
        return None
    seen = set() if seen is None else seen
    if id(value) in seen:
        return None
    seen.add(id(value))
    for key, item in value.items() if isinstance(value, dict) else enumerate(value):
        found = _non_finite(item, (*path, str(key)), seen)
        if found is not None:
            return found
    return None


def _oneshot_method(name: str) -> Any:
    """The one-shot method class registered as ``name``, or ``None`` for an ask/tell strategy."""
    from nasforge.oneshot.base import METHODS

    return METHODS.get(name) if name in METHODS else None


def resolve_device(device: str) -> str:
    """The device a run or a measurement uses: ``auto`` is ``cuda`` when torch sees a CUDA
    device, else ``cpu``; any other name is checked (:func:`check_device`) and returned as is."""
    if device == "auto":
        import torch

        return "cuda" if torch.cuda.is_available() else "cpu"
    check_device(device)
    return device


def check_device(device: str) -> None:
    """Refuse a device name that is not ``cpu``, ``cuda`` or ``cuda:N``, or CUDA where there is none."""
    kind, _, index = device.partition(":")
    if kind not in ("cpu", "cuda") or (index and (kind != "cuda" or not index.isdigit())):
        raise ValueError(f"device must be 'cpu', 'cuda' or 'cuda:N', got {device!r} (or 'auto': the GPU when "
                         "torch sees one, else the CPU)")
    if kind == "cuda":
        import torch

        if not torch.cuda.is_available():
            raise ValueError(f"device {device!r}: this machine has no CUDA device (torch {torch.__version__} "
                             f"sees none); use --device cpu")
        if index and int(index) >= torch.cuda.device_count():
            raise ValueError(f"device {device!r}: only {torch.cuda.device_count()} CUDA device(s) here")


def _check_latency_source(latency: LatencyConfig, space: Any, used: set[str]) -> None:
    from nasforge.space.blocks import BlockSpace

    if latency.source == "lut" and not isinstance(space, BlockSpace):
        raise ValueError(f"latency.source 'lut' needs a space made of blocks (macro, mbconv, nb201, vit); space "
                         f"{space.name!r} is not: use latency source 'measured' or 'predictor'")
    if latency.seq_len is not None and getattr(space, "task_kind", None) != "sequence":
        raise ValueError(f"latency.seq_len is for spaces of token models (gpt); space {space.name!r} takes "
                         "float inputs (leave seq_len unset)")
    if "latency_iqr_ms" in used and latency.source != "measured":
        raise ValueError(f"latency_iqr_ms is a spread of measurements: it needs latency.source 'measured', "
                         f"not {latency.source!r}")


def _given(info: ValidationInfo, what: str) -> Any:
    """An object given from Python for ``what`` (``space`` / ``task``), if any."""
    return info.context.get(what) if info.context else None


def _space_of(config: SearchConfig) -> Any:
    from nasforge.space.registry import get_space

    return get_space(config.space, **config.space_settings)


def _check_space_settings(name: str, settings: dict[str, Any]) -> None:
    """Build the space once (cheap: no networks), so unknown settings or an empty space fail here."""
    from nasforge.space.registry import SPACES

    checked = SPACES.check_settings(name, settings)
    try:
        SPACES.get(name)(**checked)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"space {name!r} cannot be built with {settings}: {exc}") from None


def _check_execution_field(field: str, value: Any, executor: str) -> None:
    """An executor field that fits the executor (fields left at their defaults always do)."""
    if field == "workers" and executor == "serial" and value != 1:
        raise ValueError(f"{value} workers needs executor 'processes' or 'ray' (serial runs one trial at a time)")
    if field == "threads_per_worker" and executor == "serial" and value is not None:
        raise ValueError("needs executor 'processes' or 'ray' (for serial, set the evaluator's threads)")
    if field in ("ray_address", "gpus_per_trial") and executor != "ray" and value:
        raise ValueError(f"needs executor 'ray' (executor is {executor!r})")


def _registered(registry: Any, name: str) -> str:
    """``name`` if ``registry`` knows it (its canonical name for an alias), else a ValueError listing them."""
    from nasforge.core.registry import UnknownNameError

    try:
        return registry.canonical(name)
    except UnknownNameError as exc:
        raise ValueError(str(exc)) from None


def _pydantic_lines(exc: ValidationError, prefix: str, note: str) -> str:
    """Errors of a nested model as ``@path: message`` lines; :func:`validate_config` joins the
    ``@path`` onto the field's own (``evaluator`` + ``@settings.epochs``)."""
    lines = []
    for err in exc.errors():
        where = ".".join(str(p) for p in (prefix, *err["loc"]) if p != "")
        msg = err["msg"].removeprefix("Value error, ")
        if err["type"] == "extra_forbidden":
            msg = "unknown setting"
        got = f" (got {err['input']!r})" if err["type"] not in ("value_error", "extra_forbidden", "missing") \
            and "input" in err and not isinstance(err["input"], dict) else ""
        lines.append(f"@{where}: {msg}{got} {note}")
    return "\n".join(lines)


def load_config(path: str | Path | None = None, context: dict[str, Any] | None = None,
                **overrides: Any) -> SearchConfig:
    """Read a YAML file (optional) and apply overrides (nested dicts merge); validate."""
    data: dict[str, Any] = {}
    if path is not None:
        data = read_yaml_mapping(path, "config file")
    data = _merge(_trackers_mapping(data), _trackers_mapping({k: v for k, v in overrides.items() if v is not None}))
    return validate_config(data, context)


def _trackers_mapping(data: dict[str, Any]) -> dict[str, Any]:
    """``data`` with a ``log_to`` list of names (``[mlflow]``) as its mapping (``{mlflow: {}}``),
    so that trackers named in a file and by an override add up."""
    names = data.get("log_to")
    if isinstance(names, str):
        names = [names]
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
        return data
    return {**data, "log_to": {n: {} for n in names}}


#: a configuration is a small text file; past this it is the wrong file (data, a checkpoint)
MAX_CONFIG_BYTES = 10 * 2**20
#: values a configuration may expand to through YAML aliases (a "billion laughs" file expands to 10^9)


def read_yaml_mapping(path: str | Path, what: str) -> dict[str, Any]:
    """A YAML file holding a mapping, read with ``safe_load`` (no tags executed); clear errors for
    a missing, unreadable, non-UTF-8, oversized, malformed, too deeply nested or alias-bombed file."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{what} {path} does not exist" if not path.exists() else f"{what} {path} is not a file")
    try:
        size = path.stat().st_size
        if size > MAX_CONFIG_BYTES:
            raise ConfigError(f"{what} {path} is {size / 2**20:.1f} MiB; a configuration is a small YAML file "
                              f"(at most {MAX_CONFIG_BYTES // 2**20} MiB): is it the right file?")
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{what} {path} is not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    except OSError as exc:
        raise ConfigError(f"{what} {path} cannot be read: {exc.strerror or exc}") from None
    try:
        loaded = safe_yaml(text)
    except yaml.YAMLError as exc:
        raise ConfigError(f"{what} {path} is not valid YAML: {exc}") from None
    except ValueError as exc:
        raise ConfigError(f"{what} {path} {exc}") from None
    if loaded is not None and not isinstance(loaded, dict):
        raise ConfigError(f"{what} {path} must hold a mapping of fields, got {type(loaded).__name__}")
    return loaded or {}


def _merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    """``base`` with ``over`` applied; nested mappings merge at every depth."""
    out = dict(base)
    for key, value in over.items():
        out[key] = _merge(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else value
    return out


def validate_config(data: dict[str, Any], context: dict[str, Any] | None = None) -> SearchConfig:
    """A :class:`SearchConfig` from a dict, or a :class:`ConfigError` naming each bad field.

    ``context`` may hold ``space`` / ``task`` objects given from Python, which then need no
    registry entry.
    """
    try:
        return SearchConfig.model_validate(data, context=context)
    except ValidationError as exc:
        lines = []
        for err in exc.errors():
            where = ".".join(str(p) for p in err["loc"]) or "config"
            msg = err["msg"].removeprefix("Value error, ")
            if err["type"] == "extra_forbidden":
                msg = "unknown field"
            if msg.startswith("@"):  # a nested model's own lines: their paths go under this field
                lines += [f"{where}.{line[1:]}" if line[1:2] != ":" else f"{where}{line[1:]}"
                          for line in msg.split("\n")]
                continue
            lines.append(f"{where}: {msg}" + (f" (got {err['input']!r})" if err["type"] not in
                                              ("value_error", "extra_forbidden") and "input" in err
                                              and not isinstance(err["input"], dict) else ""))
        raise ConfigError("invalid configuration:\n  " + "\n  ".join(lines)) from None
