"""The ``supernet`` evaluator: accuracy of an architecture with weights inherited from a trained
supernet (Guo et al. 2020 SPOS; Cai et al. 2020 OFA), so any ask/tell strategy can search over it.

For each arch: extract the standalone subnet (:meth:`Supernet.extract`; on a partial-channel
supernet, whose subnets cannot be extracted at full width, the arch's path through a copy of the
supernet), apply the BN mode
(default: recalibrate running statistics on ``calib_batches`` training batches of
``batch_size``, the same batches for every arch), then score it on ``eval_split``: the validation
split (``val``, the default) or the validation split followed by the training split
(``train+val``), its first ``eval_images`` samples (all if 0). Scoring on the training images too
grades each arch on more images, but on images the supernet was trained on: on Macro (five
times the images) it lifted the raw ranking's Kendall tau of the default 5-epoch supernet by
0.075, and the loss ranking of a supernet that had memorised its images by 0.15, though not the
best smoothed rows (``docs/benchmarks.md``, issue 23); compare both splits on your own supernet.
Image batches are scored in channels-last memory layout, which PyTorch's CPU convolutions ran
1.8x faster on Macro (``benchmarks/oneshot.py layout``). Metrics: ``val_accuracy`` and
``val_loss``, the names the training evaluator uses, so objectives carry over; on a sequence
task (a ``gpt`` supernet, inputs shaped ``(context,)``) they are per token (next-token accuracy,
mean token cross-entropy) and ``perplexity`` (its exponential) comes too. Subnets, calibration batches and the
validation images live on ``device`` (default: where the given supernet's parameters are; a
supernet file is loaded onto the run's device).

In a run (``--evaluator supernet -E path=supernet.pt``) the file is one that ``nasforge
supernet`` (or :func:`nasforge.oneshot.io.save_supernet`) wrote for the run's space, loaded with
``torch.load(weights_only=True)``: tensors and plain values only, nothing executed. The run's
task must have the input shape and classes the supernet was trained for. Spaces: those with a
registered supernet (:data:`nasforge.oneshot.supernet.SUPERNETS`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from nasforge.core.records import EvalResult
from nasforge.estimate.base import Evaluator, IncompatibleError, RunContext, register_evaluator
from nasforge.space.arch import Arch


class SupernetSettings(BaseModel):
    """Settings of the ``supernet`` evaluator."""

    model_config = ConfigDict(extra="forbid")

    path: str = Field(description="a supernet file written by `nasforge supernet` for the run's space")
    bn_mode: str = Field("recalibrate", description="BatchNorm statistics: recalibrate, train or running")
    calib_batches: int = Field(4, ge=1, le=10_000)
    batch_size: int = Field(128, ge=2, le=100_000)
    eval_images: int = Field(0, ge=0, description="images scored (0: all of eval_split)")
    eval_split: Literal["val", "train+val"] = Field("val", description="images scored: val, or train+val (the "
                                                    "training images too)")
    threads: int | None = Field(1, ge=1, le=1024)

    def model_post_init(self, _: Any) -> None:
        from nasforge.oneshot.bn import BN_MODES

        if self.bn_mode not in BN_MODES:
            raise ValueError(f"bn_mode must be one of {BN_MODES}, got {self.bn_mode!r}")


@register_evaluator("supernet")
class SupernetEvaluator(Evaluator):
    """Inherited-weight accuracy; ``supernet`` is a Supernet or the path of a saved one."""

    METRICS = ("val_accuracy", "val_loss")
    Settings = SupernetSettings

    @classmethod
    def check_space(cls, space: Any, settings: SupernetSettings) -> None:
        from nasforge.oneshot.io import read_header
        from nasforge.oneshot.supernet import SUPERNETS

        if space.name not in SUPERNETS:
            raise IncompatibleError(f"it needs a space with a supernet ({', '.join(SUPERNETS.list())}), and "
                                    f"{space.name!r} has none")
        if not Path(settings.path).is_file():
            raise IncompatibleError(f"supernet file {settings.path} does not exist (write one with `nasforge supernet`)")
        header = read_header(settings.path)
        if header["space"] != space.name:
            raise IncompatibleError(f"supernet file {settings.path} is a supernet of space {header['space']!r}, "
                                    f"not {space.name!r}")

    @classmethod
    def reports(cls, settings: SupernetSettings, space: Any) -> list[str]:
        from nasforge.estimate.train import is_sequence_space

        return [*cls.METRICS, *(["perplexity"] if is_sequence_space(space) else [])]

    @classmethod
    def default_objectives(cls, settings: SupernetSettings, space: Any) -> list[str]:
        from nasforge.estimate.train import is_sequence_space

        return ["perplexity:min"] if is_sequence_space(space) else ["val_accuracy:max"]

    @classmethod
    def for_run(cls, run: RunContext, settings: SupernetSettings, constraints: Sequence[Any] = ()) -> SupernetEvaluator:
        from nasforge.oneshot.io import read_header

        header = read_header(settings.path)
        shape = (tuple(header["input_shape"]), int(header["num_classes"]))
        if run.task is not None and (tuple(run.task.input_shape), int(run.task.num_classes)) != shape:
            raise IncompatibleError(
                f"supernet file {settings.path} was trained for inputs {shape[0]} and {shape[1]} classes; task "
                f"{run.task.name!r} has {tuple(run.task.input_shape)} and {run.task.num_classes}")
        return cls(settings.path, run.task, settings.bn_mode, settings.calib_batches, settings.batch_size,
                   settings.eval_images, run.seed, settings.threads, device=run.device,
                   eval_split=settings.eval_split)

    def __init__(self, supernet: Any, task: Any = "cifar10", bn_mode: str = "recalibrate",
                 calib_batches: int = 4, batch_size: int = 128, eval_images: int = 0, seed: int = 0,
                 threads: int | None = None, device: str | None = None, eval_split: str = "val") -> None:
        from nasforge.oneshot.bn import BN_MODES

        if bn_mode not in BN_MODES:
            raise ValueError(f"supernet evaluator: bn_mode must be one of {BN_MODES}, got {bn_mode!r}")
        _check_split(eval_split)
        self.eval_split = eval_split
        self.supernet = supernet
        self.task = task
        self.bn_mode = bn_mode
        self.calib_batches = calib_batches
        self.batch_size = batch_size
        self.eval_images = eval_images
        self.seed = seed
        self.threads = threads
        self.device = device
        self._cache: Any = None

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "_cache": None}

    def metric_names(self) -> list[str]:
        return [*self.METRICS, *(["perplexity"] if self._sequence() else [])]

    def _sequence(self) -> bool:
        """Whether the supernet is for a sequence task (inputs shaped ``(context,)``)."""
        if isinstance(self.supernet, str):
            from nasforge.oneshot.io import read_header

            return len(read_header(self.supernet)["input_shape"]) == 1
        return len(self.supernet.shape.input_shape) == 1

    def _load(self) -> tuple[Any, Any, list[Any]]:
        if self._cache is None:
            from nasforge.oneshot.data import SplitTensors, calibration_batches, device_of
            from nasforge.oneshot.io import load_supernet
            from nasforge.task import load_task

            if isinstance(self.supernet, str):
                supernet = load_supernet(self.supernet, self.device or "cpu")
            else:
                supernet = self.supernet if self.device is None else self.supernet.to(self.device)
            device = self.device or device_of(supernet)
            task = load_task(self.task, seed=self.seed) if isinstance(self.task, str) else self.task
            data = SplitTensors.of(task)
            calib = [_on(device, x) for x in calibration_batches(data.x_train, self.calib_batches, self.batch_size,
                                                                  self.seed)]
            val = tuple(_on(device, t) for t in data.scored(self.eval_split, self.eval_images))
            self._cache = (supernet, val, calib)
        return self._cache

    def _evaluate(self, arch: Arch) -> Mapping[str, float] | EvalResult:
        import torch

        from nasforge.estimate.trainer import accuracy
        from nasforge.oneshot.bn import prepare_bn

        if self.threads:
            torch.set_num_threads(self.threads)
        supernet, val, calib = self._load()
        if getattr(supernet, "partial", 1) != 1:  # partial channels: the path through the supernet
            from nasforge.oneshot.supernet import PathNet

            net = prepare_bn(_layout(PathNet(supernet, arch)), self.bn_mode, calib)
        else:
            net = prepare_bn(_layout(supernet.extract(arch)), self.bn_mode, calib)
        acc, loss = accuracy(net, *val, batch_size=256)
        if val[1].dim() == 2:  # next tokens: per-token accuracy and loss, and the perplexity
            import math

            return {"val_accuracy": acc, "val_loss": loss, "perplexity": math.exp(min(loss, 700.0))}
        return {"val_accuracy": acc, "val_loss": loss}


def _check_split(split: str) -> None:
    from nasforge.oneshot.data import EVAL_SPLITS

    if split not in EVAL_SPLITS:
        raise ValueError(f"supernet evaluator: eval_split must be one of {EVAL_SPLITS}, got {split!r}")


def _layout(module: Any) -> Any:
    """``module`` with its 4-D weights in channels-last memory layout (the others as they are):
    the same values; only the convolutions' speed changes."""
    import torch

    return module.to(memory_format=torch.channels_last)


def _on(device: Any, tensor: Any) -> Any:
    """``tensor`` moved to ``device`` in one ``to``, an image batch (4 dimensions) in channels-last
    memory layout."""
    import torch

    if tensor.dim() == 4:
        return tensor.to(device, memory_format=torch.channels_last)
    return tensor.to(device)
