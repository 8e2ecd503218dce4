"""The one-shot method interface: a method trains a supernet epoch by epoch, then derives an
architecture (or hands its trained supernet to an inherited-weight search).

One-shot and differentiable NAS methods (DARTS, GDAS, PC-DARTS, ProxylessNAS, TangleNAS, SPOS,
OFA/BigNAS) are the strategies whose trials are epochs: their state is a trained supernet and
continuous architecture parameters, which need torch, so they live here rather than in
``strategy/``, and a run drives them through a small protocol of its own
(:mod:`nasforge.run.oneshot`), with the same run directory as every search.

Lifecycle (the whole contract; implementations document only what differs):

1. ``m = get_method(name, **settings)`` validates the settings (:class:`OneShotSettings`:
   unknown names and wrong types are refused by name) and stores them.
2. ``state = m.begin(space, task, device)`` builds the supernet for ``space`` (whose
   constructor arguments set the skeleton) from the registry of supernets on ``device``
   (``cpu``, ``cuda``, ``cuda:N``; default ``cpu``), its optimisers and seeded generators.
   Parameters, batches and everything computed from them live on ``device``; random draws come
   from CPU generators, so the same seed draws the same batches and paths on every device. Weights train on the task's train split; architecture parameters and selection
   use the validation split; the test split is never read.
3. ``m.epoch(state)`` trains one epoch and returns its :class:`EpochRecord` (the derived arch
   at that point, the architecture probabilities, the loss). ``state.state_dict()`` /
   ``state.load_state_dict(d)`` (then ``m.resume(state)``) hold everything an epoch changes
   (tensors and plain values, loadable with ``torch.load(weights_only=True)``), so a run resumed
   from the last completed epoch continues exactly as an uninterrupted one.
4. ``m.end(state, search)`` returns the :class:`OneShotResult`; weight-sharing methods call
   ``search(supernet, task, settings, strategy)`` for the inherited-weight search.

``m.train(space, task, search=..., device=...)`` runs 2-4 in one go. Which spaces a method supports follows
from the supernet registry: each supernet class lists its ``capabilities`` and each method the
ones it ``requires`` (:meth:`OneShotMethod.supported_spaces`).
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, Literal

from pydantic import ConfigDict, Field, ValidationError, field_validator

from nasforge.core.registry import Registry
from nasforge.estimate.recipe import Training
from nasforge.space.arch import Arch

if TYPE_CHECKING:
    from torch import nn

    from nasforge.space.space import Space
    from nasforge.task.task import Task


#: why a method refuses a space without a registered supernet
NO_SUPERNET = "no supernet is registered for it"


class OneShotSettings(Training):
    """Settings of every one-shot method (each method reads the ones it uses).

    Weight training (the supernet-training heuristics of Yu et al. 2020): ``epochs``,
    ``batch_size``, ``lr`` (SGD with momentum, cosine schedule), ``momentum``, ``weight_decay``,
    ``optimizer`` (``sgd``, or ``adamw``: AutoFormer's choice for transformer supernets; few-shot
    NAS and OFA, which move momentum buffers, train with SGD only),
    ``grad_clip``; ``sampling`` of paths for weight-sharing training (``uniform`` = SPOS, Guo et
    al. 2020; ``sandwich`` = largest + smallest + ``num_random`` random subnets per step, Yu et
    al. 2020 BigNAS / Cai et al. 2020 OFA) with in-place ``distill`` from the largest; ``fair`` =
    every option of every decision once per step, Chu et al. 2021 FairNAS;
    ``bn_affine`` (learnable BN scale/shift in the searchable ops; DARTS turns it off).
    ``data_fraction`` uses only that share of the batches per epoch (CPU budgets).

    Architecture parameters: ``arch_lr`` / ``arch_weight_decay`` (Adam, betas 0.5/0.999 as in
    DARTS), ``warmup_epochs`` of weight-only training, ``order`` 1 or 2 (DARTS), Gumbel
    temperature annealed from ``tau_max`` to ``tau_min`` (GDAS), ``partial_channels`` K
    (PC-DARTS), ``latency_weight`` and ``latency_table`` (ProxylessNAS), ``pt_tune_steps`` (DARTS-PT),
    ``early_stop`` (``"skip"``: DARTS+'s criterion, Liang et al. 2019 -- training ends after the
    first epoch whose derived arch has ``early_stop_skips`` or more skip connections; the
    derived arch of that epoch is the result).

    Evaluation with inherited weights: ``bn_mode`` (see :mod:`nasforge.oneshot.bn`),
    ``calib_batches`` of ``batch_size`` training images, ``eval_images`` images (``0`` = all) of
    ``eval_split`` (``val``, or ``train+val``: the validation images, then the training images;
    :mod:`nasforge.oneshot.evaluator`). Search over the trained supernet: ``search_trials`` archs proposed by
    ``search_strategy`` (an ask/tell strategy name). ``rank_archs`` > 0 also scores that many
    random archs with inherited weights at the end (the supernet's ranking against the
    benchmark's truth and against FLOPs, under each of ``rank_bn_modes``), drawn with
    ``rank_seed`` (default: the run's seed); ``rank_smoothing`` names the predictor fitted to the
    supernet's scores of those archs for the smoothed ranking (:mod:`nasforge.oneshot.ranking`;
    ``""``: none).

    Few-shot NAS (:mod:`nasforge.oneshot.fewshot`): ``split_on`` decisions, ``groups`` per
    decision (``fewshot-gm``), ``warmup_fraction`` of the steps before the split. Progressive
    shrinking (:mod:`nasforge.oneshot.progressive`): ``stage_fractions``, ``sort_channels``,
    ``resolutions``. BigNAS heuristics (:mod:`nasforge.oneshot.heuristics`):
    ``zero_init_last_bn``, ``decay_scope``, ``complexity_sampling``.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    epochs: int = Field(10, ge=1, le=10_000)
    batch_size: int = Field(64, ge=2, le=1_000_000)
    lr: float = Field(0.05, gt=0)
    weight_decay: float = Field(3e-4, ge=0, le=10)
    momentum: float = Field(0.9, ge=0, lt=1)
    grad_clip: float = Field(5.0, gt=0)
    sampling: Literal["uniform", "sandwich", "fair"] = "uniform"
    num_random: int = Field(2, ge=0)
    distill: bool = True
    bn_affine: bool = True
    arch_lr: float = Field(3e-4, gt=0)
    arch_weight_decay: float = Field(1e-3, ge=0)
    warmup_epochs: int = Field(0, ge=0)
    order: Literal[1, 2] = 1
    tau_max: float = Field(10.0, gt=0)
    tau_min: float = Field(0.1, gt=0)
    partial_channels: int = Field(4, ge=1)
    latency_weight: float = Field(0.0, ge=0)
    latency_table: str | None = Field(None, description="ProxylessNAS: a latency table JSON file to read "
                                      "(or write): runs that share it share one measurement")
    pt_tune_steps: int = Field(10, ge=0)
    early_stop: Literal["off", "skip"] = Field("off", description="gradient methods: 'skip' ends training once "
                                               "the derived arch has early_stop_skips skip connections (DARTS+)")
    early_stop_skips: int = Field(2, ge=1, description="early_stop='skip': the skip connections that end training")
    bn_mode: str = "recalibrate"
    calib_batches: int = Field(4, ge=1)
    eval_images: int = Field(0, ge=0)
    eval_split: Literal["val", "train+val"] = Field("val", description="images the ranked and searched archs "
                                                    "are scored on: val, or train+val (the training images "
                                                    "too: more images, but seen in training)")
    search_trials: int = Field(50, ge=1)
    search_strategy: str = "evolution"
    rank_archs: int = Field(0, ge=0, description="random archs scored with inherited weights at the end")
    rank_seed: int | None = Field(None, ge=0, description="the seed that draws the ranked archs (default: the "
                                  "run's seed); fix it to rank the same archs in every run")
    rank_bn_modes: tuple[str, ...] = ()
    rank_smoothing: str = Field("ridge", description="the predictor fitted to the supernet's scores of the "
                                "ranked archs for the smoothed ranking ('': none)")
    threads: int | None = Field(None, ge=1)
    # few-shot NAS (nasforge.oneshot.fewshot)
    split_on: tuple[str, ...] = Field((), description="few-shot: decisions to split on (default: the first)")
    groups: int | None = Field(None, ge=1, description="fewshot-gm: groups per split decision (default 2)")
    warmup_fraction: float = Field(0.5, ge=0, lt=1, description="few-shot: share of steps before the split")
    # OFA progressive shrinking (nasforge.oneshot.progressive)
    stage_fractions: tuple[float, ...] = Field((), description="ofa: share of steps per stage (default equal)")
    sort_channels: bool = True
    resolutions: tuple[int, ...] = Field((), description="ofa: input sides drawn per step (elastic resolution)")
    # BigNAS heuristics of the sandwich rule (nasforge.oneshot.heuristics)
    zero_init_last_bn: bool = False
    decay_scope: Literal["all", "largest"] = "all"
    complexity_sampling: bool = False
    optimizer: Literal["sgd", "adamw"] = "sgd"

    @field_validator("stage_fractions")
    @classmethod
    def _fractions(cls, values: tuple[float, ...]) -> tuple[float, ...]:
        if values and (min(values) < 0 or abs(sum(values) - 1) > 1e-6):
            raise ValueError(f"stage_fractions must be non-negative and sum to 1, got {values}")
        return values

    @field_validator("resolutions")
    @classmethod
    def _resolutions(cls, values: tuple[int, ...]) -> tuple[int, ...]:
        if any(v < 4 for v in values):
            raise ValueError(f"resolutions must be image sides of at least 4 pixels, got {values}")
        return values

    @field_validator("bn_mode")
    @classmethod
    def _bn_mode(cls, value: str) -> str:
        from nasforge.oneshot.bn import BN_MODES

        if value not in BN_MODES:
            raise ValueError(f"bn_mode must be one of {BN_MODES}, got {value!r}")
        return value

    @field_validator("rank_bn_modes")
    @classmethod
    def _rank_modes(cls, values: tuple[str, ...]) -> tuple[str, ...]:
        for value in values:
            cls._bn_mode(value)
        return values

    @field_validator("rank_smoothing")
    @classmethod
    def _smoothing(cls, value: str) -> str:
        from nasforge.estimate.predictors.base import PREDICTORS

        if value and (value not in PREDICTORS or getattr(PREDICTORS.get(value), "needs_stats", False)):
            usable = [n for n in PREDICTORS.list() if not getattr(PREDICTORS.get(n), "needs_stats", False)]
            raise ValueError(f"rank_smoothing must be '' or a predictor of archs alone ({', '.join(usable)}), "
                             f"got {value!r}")
        return value

    @field_validator("tau_min")
    @classmethod
    def _tau(cls, value: float, info: Any) -> float:
        if value > info.data.get("tau_max", value):
            raise ValueError(f"tau_min ({value}) must not exceed tau_max ({info.data['tau_max']})")
        return value

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any]) -> OneShotSettings:
        """Settings from a dict; unknown names and wrong values raise one ValueError naming them."""
        try:
            return cls(**dict(values))
        except ValidationError as exc:
            problems = []
            for err in exc.errors():
                where = ".".join(str(p) for p in err["loc"])
                msg = "unknown one-shot setting" if err["type"] == "extra_forbidden" else \
                    err["msg"].removeprefix("Value error, ")
                problems.append(f"{where}: {msg}" + (f" (got {err['input']!r})" if "input" in err and
                                                      err["type"] != "extra_forbidden" else ""))
            raise ValueError("invalid one-shot setting(s): " + "; ".join(problems)
                             + f"; valid: {sorted(cls.model_fields)}") from None


@dataclass(frozen=True)
class EpochRecord:
    """One epoch of a method's trajectory.

    ``arch_weights`` maps each decision to the probabilities of its options (softmax of the
    architecture parameters; empty for methods without them); ``derived`` is the arch the
    method would return at this point; ``seconds`` counts from the start of training.
    """

    epoch: int
    train_loss: float
    seconds: float
    derived: str
    arch_weights: Mapping[str, Sequence[float]] = field(default_factory=dict)
    info: Mapping[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {k: (dict(v) if isinstance(v, Mapping) else v) for k, v in asdict(self).items()}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> EpochRecord:
        return cls(**{k: data[k] for k in ("epoch", "train_loss", "seconds", "derived")},
                   arch_weights={k: list(v) for k, v in dict(data.get("arch_weights", {})).items()},
                   info=dict(data.get("info", {})))


@dataclass(frozen=True)
class OneShotResult:
    """What a method returns: the derived architecture, its trajectory and the supernet."""

    method: str
    arch: Arch
    trajectory: tuple[EpochRecord, ...]
    search_seconds: float
    settings: OneShotSettings
    info: Mapping[str, Any] = field(default_factory=dict)
    supernet: nn.Module | None = field(default=None, repr=False, compare=False)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready summary (no supernet)."""
        return {"method": self.method, "arch": self.arch.key, "search_seconds": self.search_seconds,
                "settings": self.settings.model_dump(mode="json"), "info": dict(self.info),
                "trajectory": [r.to_dict() for r in self.trajectory]}


class TrainingState:
    """What a method carries between epochs: the supernet, its data and generators, and the
    trajectory so far. Methods add their optimisers and streams; :meth:`state_dict` must hold
    everything an epoch changes (see the module docstring)."""

    def __init__(self, space: Any, task: Any, settings: OneShotSettings, supernet: Any, data: Any,
                 gen: Any, device: str = "cpu") -> None:
        self.device = device  # where the supernet and its batches live
        self.space = space
        self.task = task
        self.settings = settings
        self.supernet = supernet
        self.data = data
        self.gen = gen
        self.trajectory: list[EpochRecord] = []
        #: why training ended before ``settings.epochs`` (an early-stopping criterion), else None
        self.stopped: str | None = None
        self._start = time.perf_counter()

    @property
    def epochs_done(self) -> int:
        return len(self.trajectory)

    def training(self) -> bool:
        """Whether another epoch is due: fewer than ``settings.epochs`` done and not stopped early."""
        return self.stopped is None and self.epochs_done < self.settings.epochs

    def seconds(self) -> float:
        """Training seconds, over every session of the run."""
        return time.perf_counter() - self._start

    def state_dict(self) -> dict[str, Any]:
        import torch

        return {"supernet": self.supernet.state_dict(), "gen": self.gen.get_state(),
                "torch_rng": torch.get_rng_state(), "trajectory": [r.to_dict() for r in self.trajectory],
                "seconds": self.seconds(), "stopped": self.stopped}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        import torch

        self.supernet.load_state_dict(state["supernet"])
        self.gen.set_state(state["gen"])
        torch.set_rng_state(state["torch_rng"])
        self.trajectory = [EpochRecord.from_dict(r) for r in state["trajectory"]]
        self.stopped = state.get("stopped")  # absent in checkpoints written before early stopping
        self._start = time.perf_counter() - float(state["seconds"])


class OneShotMethod:
    """Base class; see the module docstring for the lifecycle."""

    name: ClassVar[str] = ""
    #: supernet capabilities the method needs (see :data:`nasforge.oneshot.supernet.SUPERNETS`)
    requires: ClassVar[frozenset[str]] = frozenset({"paths"})
    #: whether the method ends with an inherited-weight search over its supernet
    searches: ClassVar[bool] = False
    #: settings the method fixes whatever is asked (e.g. darts2's order)
    fixed: ClassVar[Mapping[str, Any]] = {}
    #: whether the method's weights train with SGD only (it moves momentum buffers itself)
    sgd_only: ClassVar[bool] = False
    #: whether the method honours ``early_stop`` (it derives an arch from architecture parameters
    #: after each epoch); the others refuse the setting rather than ignore it
    stops_early: ClassVar[bool] = False

    def __init__(self, **settings: Any) -> None:
        self.settings = OneShotSettings.from_mapping({**settings, **self.fixed})
        if self.sgd_only and self.settings.optimizer != "sgd":
            raise ValueError(f"invalid one-shot setting(s): optimizer: method {self.name!r} trains its weights with "
                             f"SGD only (it copies or permutes momentum buffers), got {self.settings.optimizer!r}")
        if self.settings.early_stop != "off" and not self.stops_early:
            raise ValueError(f"invalid one-shot setting(s): early_stop: method {self.name!r} has no architecture "
                             f"parameters to derive an arch from each epoch; the gradient methods "
                             f"({', '.join(early_stopping_methods())}) take it, got {self.settings.early_stop!r}")

    @classmethod
    def supported_spaces(cls) -> list[str]:
        """Spaces whose registered supernet has every capability this method requires."""
        from nasforge.oneshot.supernet import SUPERNETS

        return [name for name in SUPERNETS.list() if cls.requires <= SUPERNETS.get(name).capabilities]

    @classmethod
    def unsupported_reason(cls, space_name: str) -> str:
        """Why ``space_name`` is not among :meth:`supported_spaces` (for the error message)."""
        from nasforge.oneshot.supernet import SUPERNETS

        if space_name not in SUPERNETS.list():
            return NO_SUPERNET
        missing = sorted(cls.requires - SUPERNETS.get(space_name).capabilities)
        return f"it needs a supernet with {sorted(cls.requires)}; the supernet of {space_name!r} lacks {missing}"

    def check_space(self, space: Space) -> None:
        supported = self.supported_spaces()
        if space.name not in supported:
            raise ValueError(f"one-shot method {self.name!r} supports spaces {supported}, not {space.name!r} "
                             f"({self.unsupported_reason(space.name)})")

    # ------------------------------------------------------------------ protocol
    def begin(self, space: Space, task: Task, device: str = "cpu") -> TrainingState:
        raise NotImplementedError

    def epoch(self, state: TrainingState) -> EpochRecord:
        raise NotImplementedError

    def resume(self, state: TrainingState) -> None:
        """Called after ``state.load_state_dict``: take back any method-side state (default none)."""

    def end(self, state: TrainingState, search: Any = None) -> OneShotResult:
        raise NotImplementedError

    def train(self, space: Space, task: Task, search: Any = None, device: str = "cpu") -> OneShotResult:
        """Train every epoch on ``device`` and finish (``search``: the inherited-weight search, where used)."""
        state = self.begin(space, task, device)
        while state.training():
            self.epoch(state)
        return self.end(state, search)


METHODS: Registry[type[OneShotMethod]] = Registry(
    "one-shot method",
    modules=("nasforge.oneshot.gradient", "nasforge.oneshot.darts_pt", "nasforge.oneshot.tanglenas",
             "nasforge.oneshot.spos", "nasforge.oneshot.fewshot", "nasforge.oneshot.progressive"),
)
register_method = METHODS.register


def get_method(name: str, **settings: Any) -> OneShotMethod:
    """A new one-shot method registered as ``name`` with ``settings`` (validated)."""
    return METHODS.get(name)(**settings)


def early_stopping_methods() -> list[str]:
    """Names of the registered methods that honour ``early_stop``."""
    return [name for name in METHODS.list() if METHODS.get(name).stops_early]
