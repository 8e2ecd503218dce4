"""Training evaluator (``train``): build the arch's network, train it at a chosen fidelity,
score it on the validation split.

Reports ``val_accuracy``, ``val_loss``, ``train_loss``, ``train_seconds``, ``params`` and
``flops`` (PyTorch's FLOP counter: one multiply-add counts as two FLOPs, per input sample).
``params`` and ``flops`` are computed on the untrained network before training, so an
architecture that breaks a constraint on them is reported ``infeasible`` without spending any
training time (other cost metrics, such as latency, come from the run's cost sources:
:mod:`nasforge.estimate.costed`).

Recipe decisions carried by the arch (a :class:`~nasforge.space.joint.JointSpace`, or any space
with ``recipe_overrides(arch)``) override the evaluator's recipe; a space with a fidelity adds
the metric ``fidelity`` (1.0 = full). With ``early_stopping`` (a
:class:`~nasforge.estimate.curves.CurveStopper`) a trial whose extrapolated learning curve is
unlikely to beat the best full trial this evaluator has seen stops early; its ``fidelity`` is
the fraction of epochs it ran, so run selection skips it.

A network of a quantized space (``quant``, :mod:`nasforge.space.quant`) trains in float, is
pruned and calibrated, then fine-tunes quantization-aware for ``qat_epochs`` (the fidelity of
the quantized result; the final retraining uses ``final_qat_epochs``): see
:mod:`nasforge.estimate.qat`. ``val_accuracy`` is then the quantized network's, and
``float_val_accuracy`` the float network's before pruning.

On a sequence task (next-token prediction, :mod:`nasforge.task.text`; a space such as ``gpt``
with ``task_kind = "sequence"``) ``val_accuracy`` is the next-token accuracy, ``val_loss`` the
mean token cross-entropy (nats) and ``perplexity`` its exponential; a run's default objectives
are then ``perplexity:min`` and ``params:min``. Mixup and random shifts are refused there.
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from nasforge.core.objectives import Constraint
from nasforge.core.records import INFEASIBLE, EvalResult
from nasforge.estimate.base import Evaluator, IncompatibleError, RunContext, register_evaluator
from nasforge.estimate.recipe import Recipe
from nasforge.space.arch import Arch
from nasforge.space.space import Space
from nasforge.task.task import Task

CHEAP_METRICS = ("params", "flops")

if TYPE_CHECKING:
    from nasforge.estimate.curves import CurveStopper


class EarlyStoppingSettings(BaseModel):
    """Learning-curve early stopping (:class:`nasforge.estimate.curves.CurveStopper`): stop a trial
    once its extrapolated final accuracy beats the incumbent with probability < ``probability``."""

    model_config = ConfigDict(extra="forbid")

    probability: float = Field(0.05, gt=0, lt=1)
    min_fraction: float = Field(0.3, ge=0, lt=1, description="never stop before this fraction of the epochs")
    min_epochs: int = Field(3, ge=2, description="never stop before this many epochs")


class TrainSettings(Recipe):
    """Settings of the ``train`` evaluator: the training :class:`Recipe` (``epochs`` is the search
    fidelity; the seed is the run's), the final retraining's ``final_epochs``, torch ``threads``
    per evaluation and learning-curve ``early_stopping``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    lr: float = Field(0.01, gt=0, le=10, description="peak of the one-cycle schedule")
    shift: int = Field(-1, ge=-1, le=1000, description="random-shift augmentation in steps; -1: the task's default")
    final_epochs: int = Field(40, ge=1, le=10_000, description="epochs of the final retraining on train+val")
    threads: int | None = Field(1, ge=1, le=1024, description="torch threads per evaluation (null: all cores)")
    early_stopping: EarlyStoppingSettings | None = Field(None, description="learning-curve early stopping (null: off)")
    qat_epochs: int = Field(1, ge=0, le=10_000, description="quantized spaces: epochs of the quantization-aware "
                            "fine-tune after float training and pruning (0: post-training quantization)")
    final_qat_epochs: int = Field(3, ge=0, le=10_000, description="quantized spaces: qat_epochs of the final "
                                  "retraining")

    @field_validator("seed")
    @classmethod
    def _no_seed(cls, value: int) -> int:
        if value != 0:
            raise ValueError("the training seed is the run's seed (--seed / seed:), not an evaluator setting")
        return value

    def recipe(self, seed: int, epochs: int | None = None) -> Recipe:
        """The training recipe with the run's ``seed`` (at the search fidelity, or ``epochs``)."""
        return Recipe(**{k: getattr(self, k) for k in Recipe.model_fields}).replace(
            seed=seed, **({"epochs": epochs} if epochs else {}))


@register_evaluator("train")
class TrainingEvaluator(Evaluator):
    """Train each candidate for ``recipe.epochs`` epochs on the task's train split.

    ``task`` is a Task or a spec such as ``"mnist1d"`` (loaded lazily, once per process).
    ``threads`` pins torch's intra-op threads so parallel workers do not oversubscribe cores.
    ``device`` is where the network trains (``cpu``, ``cuda``, ``cuda:N``).
    """

    Settings = TrainSettings

    def __init__(
        self,
        space: Space,
        task: Task | str = "mnist1d",
        recipe: Recipe | None = None,
        constraints: Sequence[Constraint] = (),
        threads: int | None = None,
        seed: int = 0,
        early_stopping: CurveStopper | None = None,
        device: str = "cpu",
        qat_epochs: int = 1,
        final_qat_epochs: int = 3,
    ) -> None:
        self.space = space
        self.task = task
        self.recipe = recipe or Recipe()
        self.constraints = tuple(constraints)
        self.threads = threads
        self.seed = seed
        self.early_stopping = early_stopping
        self.device = device
        self.qat_epochs = qat_epochs
        self.final_qat_epochs = final_qat_epochs
        self._data: Any = None
        self._incumbent: float | None = None  # best full-fidelity val_accuracy seen in this process

    METRICS = ("val_accuracy", "val_loss", "train_loss", "train_seconds", *CHEAP_METRICS)

    def metric_names(self) -> list[str]:
        fidelity = ["fidelity"] if self.early_stopping or getattr(self.space, "fidelity", None) else []
        sequence = is_sequence_space(self.space) or (isinstance(self.task, Task) and self.task.is_sequence)
        return [*self.METRICS, *(["perplexity"] if sequence else []), *fidelity, *_quantized_metrics(self.space)]

    @classmethod
    def reports(cls, settings: TrainSettings, space: Any) -> list[str]:
        fidelity = ["fidelity"] if settings.early_stopping or getattr(space, "fidelity", None) else []
        sequence = ["perplexity"] if is_sequence_space(space) else []
        return [*cls.METRICS, *sequence, *fidelity, *_quantized_metrics(space)]

    @classmethod
    def default_objectives(cls, settings: TrainSettings, space: Any) -> list[str]:
        if is_sequence_space(space):
            return ["perplexity:min", "params:min"]
        return ["val_accuracy:max", "params:min"]

    @classmethod
    def check_space(cls, space: Any, settings: Any) -> None:
        super().check_space(space, settings)
        if is_sequence_space(space) and (settings.mixup > 0 or settings.shift > 0):
            raise IncompatibleError(
                f"space {space.name!r} trains on token sequences: mixup={settings.mixup} and shift={settings.shift} "
                "would corrupt token ids or misalign the next-token targets; set both to 0 (shift -1, the "
                "default, means none for text)")

    @classmethod
    def for_run(cls, run: RunContext, settings: TrainSettings, constraints: Sequence[Any] = ()) -> TrainingEvaluator:
        from nasforge.estimate.curves import CurveStopper

        stopper = CurveStopper(**settings.early_stopping.model_dump()) if settings.early_stopping else None
        return cls(run.space, run.task, settings.recipe(run.seed), constraints, threads=settings.threads,
                   seed=run.seed, early_stopping=stopper, device=run.device, qat_epochs=settings.qat_epochs,
                   final_qat_epochs=settings.final_qat_epochs)

    def loaded_task(self) -> Task:
        """The Task, loading it from its spec on first use."""
        if not isinstance(self.task, Task):
            from nasforge.task import load_task

            self.task = load_task(self.task, seed=self.seed)
        return self.task

    def _tensors(self):
        if self._data is None:
            from nasforge.estimate.trainer import as_tensors

            task = self.loaded_task()
            self._data = tuple(tuple(t.to(self.device) for t in as_tensors(x, y))
                               for x, y in ((task.x_train, task.y_train), (task.x_val, task.y_val)))
        return self._data

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "_data": None}  # tensors are rebuilt in each worker

    def _evaluate(self, arch: Arch) -> Mapping[str, float] | EvalResult:
        import torch

        from nasforge.estimate.qat import fit_maybe_quantized
        from nasforge.estimate.trainer import accuracy
        from nasforge.hardware.metrics import hardware_metrics

        if self.threads:
            torch.set_num_threads(self.threads)
        task = self.loaded_task()
        (x_tr, y_tr), (x_val, y_val) = self._tensors()
        torch.manual_seed(self.recipe.seed)
        model = self.space.build(arch, task)
        cheap = hardware_metrics(model, task.input_shape, CHEAP_METRICS)
        model = model.to(self.device)
        broken = [str(c) for c in self.constraints if c.metric in cheap and not c.satisfied(cheap)]
        if broken:
            return EvalResult(cheap, status=INFEASIBLE, error=f"violates {', '.join(broken)}")
        recipe = self.effective_recipe(task, arch=arch)
        curve: list[float] = []
        stopper, incumbent = self.early_stopping, self._incumbent

        def on_epoch(epoch: int, net: Any) -> bool:
            curve.append(accuracy(net.eval(), x_val, y_val)[0])
            net.train()
            return stopper.should_stop(curve, recipe.epochs, incumbent)  # type: ignore[union-attr]

        start = time.perf_counter()
        float_acc: dict[str, float] = {}
        train_loss = fit_maybe_quantized(
            model, x_tr, y_tr, recipe, self.qat_epochs, on_epoch if stopper else None,
            on_float=lambda net: float_acc.update(float_val_accuracy=accuracy(net.eval(), x_val, y_val)[0]))
        seconds = time.perf_counter() - start
        val_acc, val_loss = accuracy(model.eval(), x_val, y_val)
        metrics = {**cheap, "val_accuracy": val_acc, "val_loss": val_loss,
                   "train_loss": train_loss, "train_seconds": seconds, **float_acc}
        if task.is_sequence:
            metrics["perplexity"] = math.exp(min(val_loss, 700.0))  # exp overflows a float past ~709
        fraction = getattr(self.space, "fidelity_fraction", lambda a: None)(arch)
        if stopper is not None:
            fraction = (fraction or 1.0) * len(curve) / recipe.epochs
        if fraction is not None:
            metrics["fidelity"] = fraction
        if fraction is None or fraction >= 1.0:
            self._incumbent = max(val_acc, incumbent if incumbent is not None else val_acc)
        if stopper is not None:
            return EvalResult(metrics, info={"curve": curve, "stopped_early": len(curve) < recipe.epochs})
        return metrics

    def effective_recipe(self, task: Task, epochs: int | None = None, arch: Arch | None = None) -> Recipe:
        """The recipe used on ``task`` (``epochs`` overrides the search fidelity; ``arch``'s
        recipe decisions, if its space has any, override the evaluator's recipe).

        A recipe ``shift`` of -1 means "the task's default": random circular shifts of up to 3
        steps for MNIST-1D (its standard augmentation, Greydanus 2020), none for other tasks.
        """
        recipe = self.recipe
        overrides = getattr(self.space, "recipe_overrides", None)
        if arch is not None and overrides is not None:
            recipe = recipe.replace(**overrides(arch))
        if recipe.shift < 0:
            recipe = recipe.replace(shift=3 if task.name.startswith("mnist1d") else 0)
        return recipe.replace(epochs=epochs) if epochs else recipe


def is_sequence_space(space: Any) -> bool:
    """Whether ``space``'s networks are for sequence (next-token) tasks, e.g. ``gpt``."""
    return getattr(space, "task_kind", None) == "sequence" or getattr(getattr(space, "base", None),
                                                                    "task_kind", None) == "sequence"


def _quantized_metrics(space: Any) -> list[str]:
    """``float_val_accuracy`` for a quantized space (:mod:`nasforge.estimate.qat`)."""
    from nasforge.space.quant import is_quantized

    return ["float_val_accuracy"] if is_quantized(space) else []
