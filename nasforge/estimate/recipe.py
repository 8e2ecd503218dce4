"""Recipe: how a network is trained (optimizer, schedule peak, regularisation, fidelity).

A frozen, validated value (Pydantic), free of torch, so configs and strategies' spaces (joint
architecture-recipe search) can carry it. :func:`nasforge.estimate.trainer.fit` trains with it.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field


class Training(BaseModel):
    """The fields every way of training weights shares: epochs, batch size, learning rate,
    weight decay, the share of the training data used, the seed. :class:`Recipe` (one network)
    and the one-shot settings (a supernet) extend it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    epochs: int = Field(15, ge=1, le=10_000)
    batch_size: int = Field(128, ge=1, le=1_000_000)
    lr: float = Field(0.01, gt=0, description="peak learning rate")
    weight_decay: float = Field(0.01, ge=0, le=10)
    seed: int = Field(0, ge=0)
    data_fraction: float = Field(1.0, gt=0, le=1, description="fraction of the training set used (a fidelity)")

    def replace(self, **changes: Any) -> Any:
        """A copy with ``changes``, validated like a new value of the same class."""
        return type(self)(**{**self.model_dump(), **changes})


class Recipe(Training):
    """Training settings of one network. ``epochs`` is the fidelity of an evaluation."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    optimizer: Literal["adamw", "sgd"] = "adamw"
    label_smoothing: float = Field(0.05, ge=0, lt=1)
    shift: int = Field(0, ge=-1, le=1000, description="random-shift augmentation in steps; -1: the task's default")
    mixup: float = Field(0.0, ge=0, description="Beta(alpha, alpha) mixing of batch pairs; 0 = off")
    dropout: float = Field(0.0, ge=0, lt=1, description="dropout on the classifier's input; 0 = off")
    ema: float = Field(0.0, ge=0, lt=1, description="decay of the weights' moving average used at the end; 0 = off")
