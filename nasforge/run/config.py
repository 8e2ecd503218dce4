"""The search configuration: one Pydantic model, from CLI options or a YAML file.

Every field is validated before any work starts; errors name the field. Names of spaces,
strategies, tasks and executors are checked against their registries (the error lists the
valid names).
"""

from __future__ import annotations

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


class ConfigError(ValueError):
    """A configuration that cannot run; the message names the field(s)."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class LatencyConfig(_Strict):
    """How ``latency_ms`` is measured when an objective or constraint uses it."""

    backend: Literal["torch", "onnx"] = "torch"
    batch_size: int = Field(1, ge=1)
    threads: int = Field(1, ge=1)
    warmup: int = Field(10, ge=0)
    repeats: int = Field(30, ge=1)
    clock: Literal["wall", "cpu"] = "wall"


class EarlyStoppingConfig(_Strict):
    """Learning-curve early stopping (:class:`nasforge.estimate.curves.CurveStopper`): stop a trial
    once its extrapolated final accuracy beats the incumbent with probability < ``probability``."""

    probability: float = Field(0.05, gt=0, lt=1)
    min_fraction: float = Field(0.3, ge=0, lt=1, description="never stop before this fraction of the epochs")
    min_epochs: int = Field(3, ge=2, description="never stop before this many epochs")


class EvaluatorConfig(_Strict):
    """Training evaluator settings (``epochs`` is the search fidelity)."""

    kind: Literal["train"] = "train"
    epochs: int = Field(15, ge=1, le=10_000)
    final_epochs: int = Field(40, ge=1, le=10_000, description="epochs of the final retraining on train+val")
    batch_size: int = Field(128, ge=1)
    lr: float = Field(0.01, gt=0, le=10)
    weight_decay: float = Field(0.01, ge=0)
    optimizer: Literal["adamw", "sgd"] = "adamw"
    label_smoothing: float = Field(0.05, ge=0, lt=1)
    shift: int = Field(-1, ge=-1, le=1000, description="random-shift augmentation in steps; -1: the task's default")
    threads: int | None = Field(1, ge=1, description="torch threads per evaluation (null: all cores)")
    latency: LatencyConfig = Field(default_factory=LatencyConfig)
    early_stopping: EarlyStoppingConfig | None = Field(None, description="learning-curve early stopping (null: off)")


class BudgetConfig(_Strict):
    trials: int | None = Field(None, ge=1)
    minutes: float | None = Field(None, gt=0)

    @model_validator(mode="after")
    def _one_set(self) -> BudgetConfig:
        if self.trials is None and self.minutes is None:
            raise ValueError("set trials, minutes or both")
        return self


class SearchConfig(_Strict):
    """Everything a search needs; ``config.yaml`` in a run directory is this, resolved."""

    task: str = "mnist1d"
    space: str = "conv1d"
    space_settings: dict[str, Any] = Field(default_factory=dict)
    strategy: str = "evolution"
    strategy_settings: dict[str, Any] = Field(default_factory=dict)
    evaluator: EvaluatorConfig = Field(default_factory=EvaluatorConfig)
    objectives: list[str] = Field(default_factory=lambda: ["val_accuracy:max", "params:min"])
    constraints: list[str] = Field(default_factory=list)
    budget: BudgetConfig = Field(default_factory=lambda: BudgetConfig(trials=60, minutes=3.5))
    seed: int = Field(0, ge=0)
    executor: Literal["serial", "processes", "ray"] = "serial"
    workers: int = Field(1, ge=1, le=512, description="concurrent trials (processes or ray executor)")
    threads_per_worker: int | None = Field(None, ge=1, le=1024, description="CPU threads (Ray: CPUs) per "
                                           "worker; default: cores / workers")
    gpus_per_trial: float = Field(0.0, ge=0, le=64, description="GPUs per trial on Ray (a fraction shares one)")
    ray_address: str | None = Field(None, min_length=1, description="Ray cluster address; default: local Ray")
    trial_timeout: float | None = Field(None, gt=0, le=7 * 24 * 3600, description="seconds before a trial is "
                                        "stopped and stored failed (reason 'timeout')")
    retries: int = Field(0, ge=0, le=100, description="re-evaluations of a failed trial before it stays failed")
    final_retrain: bool = True

    @field_validator("space")
    @classmethod
    def _space_known(cls, name: str, info: ValidationInfo) -> str:
        from nasforge.space.registry import SPACES

        if info.context and info.context.get("space") is not None:
            return name  # a Space object given from Python
        return _known(SPACES, name)

    @field_validator("space_settings")
    @classmethod
    def _space_settings_build(cls, settings: dict[str, Any], info: ValidationInfo) -> dict[str, Any]:
        if (info.context and info.context.get("space") is not None) or "space" not in info.data:
            return settings  # a Space object given from Python, or a bad space name (reported there)
        _check_space_settings(info.data["space"], settings)
        return settings

    @field_validator("strategy")
    @classmethod
    def _strategy_known(cls, name: str) -> str:
        from nasforge.strategy.base import STRATEGIES

        return _known(STRATEGIES, name)

    @field_validator("task")
    @classmethod
    def _task_known(cls, spec: str, info: ValidationInfo) -> str:
        from nasforge.task.registry import TASKS, parse_task_spec

        if info.context and info.context.get("task") is not None:
            return spec  # a Task object given from Python
        _known(TASKS, parse_task_spec(spec)[0])
        return spec

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
        return value

    @field_validator("objectives")
    @classmethod
    def _objectives_parse(cls, items: list[str]) -> list[str]:
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
    def _consistent(self) -> SearchConfig:
        from nasforge.estimate.train import TrainingEvaluator
        from nasforge.hardware.metrics import METRICS as HARDWARE_METRICS

        known = set(TrainingEvaluator.METRICS) | set(HARDWARE_METRICS)
        for text in [*self.objectives, *self.constraints]:
            metric = Objective.parse(text).metric if ":" in text else Constraint.parse(text).metric
            if metric not in known:
                raise ValueError(f"unknown metric {metric!r} in {text!r}; the {self.evaluator.kind} evaluator "
                                 f"reports: {sorted(known)}")
        return self

    # -------------------------------------------------------------- conversions
    def parsed_objectives(self) -> list[Objective]:
        return [Objective.parse(t) for t in self.objectives]

    def parsed_constraints(self) -> list[Constraint]:
        return [Constraint.parse(t) for t in self.constraints]

    def hardware_metrics(self) -> list[str]:
        """Hardware metrics beyond params/FLOPs that objectives or constraints use."""
        from nasforge.hardware.metrics import METRICS as HARDWARE_METRICS

        used = [o.metric for o in self.parsed_objectives()] + [c.metric for c in self.parsed_constraints()]
        return [m for m in HARDWARE_METRICS if m in used and m not in ("params", "flops")]

    def to_yaml(self) -> str:
        return yaml.safe_dump(self.model_dump(mode="json"), sort_keys=False)


def _check_space_settings(name: str, settings: dict[str, Any]) -> None:
    """Build the space once (cheap: no networks), so unknown settings or an empty space fail here."""
    import inspect

    from nasforge.space.registry import SPACES

    factory = SPACES.get(name)
    accepted = [p for p in inspect.signature(factory).parameters if p not in ("self", "args", "kwargs")]
    unknown = sorted(set(settings) - set(accepted))
    if unknown:
        raise ValueError(f"space {name!r} has no setting(s) {unknown}; its settings: {accepted}")
    try:
        factory(**settings)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"space {name!r} cannot be built with {settings}: {exc}") from None


def _check_execution_field(field: str, value: Any, executor: str) -> None:
    """An executor field that fits the executor (fields left at their defaults always do)."""
    if field == "workers" and executor == "serial" and value != 1:
        raise ValueError(f"{value} workers needs executor 'processes' or 'ray' (serial runs one trial at a time)")
    if field == "threads_per_worker" and executor == "serial" and value is not None:
        raise ValueError("needs executor 'processes' or 'ray' (for serial, set evaluator.threads)")
    if field in ("ray_address", "gpus_per_trial") and executor != "ray" and value:
        raise ValueError(f"needs executor 'ray' (executor is {executor!r})")


def _known(registry: Any, name: str) -> str:
    from nasforge.core.registry import UnknownNameError

    try:
        registry.get(name)
    except UnknownNameError as exc:
        raise ValueError(str(exc)) from None
    return name


def load_config(path: str | Path | None = None, context: dict[str, Any] | None = None,
                **overrides: Any) -> SearchConfig:
    """Read a YAML file (optional) and apply overrides (nested dicts merge); validate."""
    data: dict[str, Any] = {}
    if path is not None:
        path = Path(path)
        if not path.is_file():
            raise ConfigError(f"config file {path} does not exist")
        try:
            loaded = yaml.safe_load(path.read_text())
        except yaml.YAMLError as exc:
            raise ConfigError(f"config file {path} is not valid YAML: {exc}") from None
        if loaded is not None and not isinstance(loaded, dict):
            raise ConfigError(f"config file {path} must hold a mapping of fields, got {type(loaded).__name__}")
        data = loaded or {}
    data = _merge(data, {k: v for k, v in overrides.items() if v is not None})
    return validate_config(data, context)


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
            lines.append(f"{where}: {msg}" + (f" (got {err['input']!r})" if err["type"] != "value_error"
                                              and "input" in err and not isinstance(err["input"], dict) else ""))
        raise ConfigError("invalid configuration:\n  " + "\n  ".join(lines)) from None
