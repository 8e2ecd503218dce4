"""The one-shot method interface: ``method.train(space, task, settings) -> OneShotResult``.

One-shot and differentiable NAS methods (DARTS, GDAS, PC-DARTS, ProxylessNAS, TangleNAS,
SPOS, OFA/BigNAS) do not fit the ask/tell :class:`~nasforge.strategy.base.Strategy` contract:

- their state is a trained supernet and continuous architecture parameters, not a history of
  (arch, metrics) pairs, so it cannot be rebuilt by replaying tells (the contract's resume
  guarantee) and it needs torch, which strategies never import;
- they evaluate nothing through an Evaluator: the search *is* training, on batches of data, with
  gradients flowing into the architecture parameters.

So a method is its own small noun. Lifecycle: ``m = METHODS.get(name)(**kwargs)`` stores its
keyword arguments; ``m.train(space, task, settings)`` builds a supernet for ``space`` (whose
constructor arguments set the skeleton, e.g. ``NB201Space(channels=8, cells=1)``), trains it
on ``task`` (weights on the train split, architecture parameters or selection on the validation
split; the test split is never touched) and returns a frozen :class:`OneShotResult` with the
derived architecture and the per-epoch trajectory. The two worlds meet in the ``supernet``
evaluator (:mod:`nasforge.oneshot.evaluator`): after weight-sharing training, any ask/tell
strategy can search over the supernet with inherited weights.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields
from typing import TYPE_CHECKING, Any

from nasforge.core.registry import Registry
from nasforge.space.arch import Arch

if TYPE_CHECKING:
    from torch import nn

    from nasforge.space.space import Space
    from nasforge.task.task import Task

SAMPLINGS = ("uniform", "sandwich")


@dataclass(frozen=True)
class OneShotSettings:
    """Settings of every one-shot method (each method reads the ones it uses).

    Weight training (the supernet-training heuristics of Yu et al. 2020): ``epochs``,
    ``batch_size``, ``lr`` (SGD with momentum, cosine schedule), ``momentum``, ``weight_decay``,
    ``grad_clip``; ``sampling`` of paths for weight-sharing training (``uniform`` = SPOS, Guo et
    al. 2020; ``sandwich`` = largest + smallest + ``num_random`` random subnets per step, Yu et
    al. 2020 BigNAS / Cai et al. 2020 OFA) with in-place ``distill`` from the largest;
    ``bn_affine`` (learnable BN scale/shift in the searchable ops; DARTS turns it off).
    ``data_fraction`` uses only that share of the batches per epoch (CPU budgets).

    Architecture parameters: ``arch_lr`` / ``arch_weight_decay`` (Adam, betas 0.5/0.999 as in
    DARTS), ``warmup_epochs`` of weight-only training, ``order`` 1 or 2 (DARTS), Gumbel
    temperature annealed from ``tau_max`` to ``tau_min`` (GDAS), ``partial_channels`` K
    (PC-DARTS), ``latency_weight`` (ProxylessNAS), ``pt_tune_steps`` (DARTS-PT).

    Evaluation with inherited weights: ``bn_mode`` (see :mod:`nasforge.oneshot.bn`),
    ``calib_batches`` of ``batch_size`` training images, ``eval_images`` validation images
    (``0`` = all). Search over the trained supernet: ``search_trials`` archs proposed by
    ``search_strategy`` (an ask/tell strategy name).
    """

    epochs: int = 10
    batch_size: int = 64
    lr: float = 0.05
    momentum: float = 0.9
    weight_decay: float = 3e-4
    grad_clip: float = 5.0
    sampling: str = "uniform"
    num_random: int = 2
    distill: bool = True
    bn_affine: bool = True
    data_fraction: float = 1.0
    arch_lr: float = 3e-4
    arch_weight_decay: float = 1e-3
    warmup_epochs: int = 0
    order: int = 1
    tau_max: float = 10.0
    tau_min: float = 0.1
    partial_channels: int = 4
    latency_weight: float = 0.0
    pt_tune_steps: int = 10
    bn_mode: str = "recalibrate"
    calib_batches: int = 4
    eval_images: int = 0
    search_trials: int = 50
    search_strategy: str = "evolution"
    seed: int = 0
    threads: int | None = None

    def __post_init__(self) -> None:
        from nasforge.oneshot.bn import BN_MODES

        checks = {"epochs": self.epochs >= 1, "batch_size": self.batch_size >= 2,
                  "lr": self.lr > 0, "arch_lr": self.arch_lr > 0,
                  "data_fraction": 0 < self.data_fraction <= 1, "order": self.order in (1, 2),
                  "tau_min": 0 < self.tau_min <= self.tau_max, "num_random": self.num_random >= 0,
                  "partial_channels": self.partial_channels >= 1,
                  "warmup_epochs": 0 <= self.warmup_epochs, "calib_batches": self.calib_batches >= 1,
                  "eval_images": self.eval_images >= 0, "search_trials": self.search_trials >= 1,
                  "latency_weight": self.latency_weight >= 0, "pt_tune_steps": self.pt_tune_steps >= 0}
        bad = [name for name, ok in checks.items() if not ok]
        if bad:
            raise ValueError(f"one-shot settings: invalid {', '.join(f'{n}={getattr(self, n)!r}' for n in bad)}")
        if self.sampling not in SAMPLINGS:
            raise ValueError(f"one-shot settings: sampling must be one of {SAMPLINGS}, got {self.sampling!r}")
        if self.bn_mode not in BN_MODES:
            raise ValueError(f"one-shot settings: bn_mode must be one of {BN_MODES}, got {self.bn_mode!r}")

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any]) -> OneShotSettings:
        """Settings from a dict; unknown names raise with the valid ones."""
        valid = {f.name for f in fields(cls)}
        unknown = sorted(set(values) - valid)
        if unknown:
            raise ValueError(f"unknown one-shot setting(s) {unknown}; valid: {sorted(valid)}")
        return cls(**values)


@dataclass(frozen=True)
class EpochRecord:
    """One epoch of a method's trajectory.

    ``arch_weights`` maps each decision to the probabilities of its options (softmax of the
    architecture parameters; empty for methods without them); ``derived`` is the arch the
    method would return at this point.
    """

    epoch: int
    train_loss: float
    seconds: float
    derived: str
    arch_weights: Mapping[str, Sequence[float]] = field(default_factory=dict)
    info: Mapping[str, float] = field(default_factory=dict)


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
        from dataclasses import asdict

        return {"method": self.method, "arch": self.arch.key, "search_seconds": self.search_seconds,
                "settings": asdict(self.settings), "info": dict(self.info),
                "trajectory": [asdict(r) for r in self.trajectory]}


class OneShotMethod:
    """Base class; see the module docstring for the lifecycle."""

    #: Spaces the method supports (names).
    spaces: tuple[str, ...] = ()

    def train(self, space: Space, task: Task, settings: OneShotSettings | None = None,
              search: Any = None) -> OneShotResult:
        """Search ``space`` on ``task``; ``search`` is the inherited-weight search of
        weight-sharing methods (see :mod:`nasforge.oneshot.spos`), ignored by the others."""
        raise NotImplementedError

    def _check_space(self, space: Space) -> None:
        if space.name not in self.spaces:
            raise ValueError(f"one-shot method {type(self).__name__} supports spaces "
                             f"{list(self.spaces)}, not {space.name!r}")


METHODS: Registry[type[OneShotMethod]] = Registry(
    "one-shot method",
    modules=("nasforge.oneshot.gradient", "nasforge.oneshot.darts_pt", "nasforge.oneshot.tanglenas",
             "nasforge.oneshot.spos"),
)
register_method = METHODS.register


def get_method(name: str, **kwargs: Any) -> OneShotMethod:
    """A new one-shot method registered as ``name``."""
    return METHODS.get(name)(**kwargs)
