"""The ``supernet`` evaluator: accuracy of an architecture with weights inherited from a trained
supernet (Guo et al. 2020 SPOS; Cai et al. 2020 OFA), so any ask/tell strategy can search over it.

For each arch: extract the standalone subnet (:meth:`Supernet.extract`), apply the BN mode
(default: recalibrate running statistics on ``calib_batches`` training batches of
``batch_size``, the same batches for every arch), then score it on the validation split (its
first ``eval_images`` samples, all if 0). Metrics: ``val_accuracy`` and ``val_loss``, the names
the training evaluator uses, so objectives carry over.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from nasforge.core.records import EvalResult
from nasforge.estimate.base import Evaluator, register_evaluator
from nasforge.space.arch import Arch


@register_evaluator("supernet")
class SupernetEvaluator(Evaluator):
    """Inherited-weight accuracy; ``supernet`` is a Supernet or the path of a saved one."""

    METRICS = ("val_accuracy", "val_loss")

    def __init__(self, supernet: Any, task: Any = "cifar10", bn_mode: str = "recalibrate",
                 calib_batches: int = 4, batch_size: int = 128, eval_images: int = 0, seed: int = 0,
                 threads: int | None = None) -> None:
        from nasforge.oneshot.bn import BN_MODES

        if bn_mode not in BN_MODES:
            raise ValueError(f"supernet evaluator: bn_mode must be one of {BN_MODES}, got {bn_mode!r}")
        self.supernet = supernet
        self.task = task
        self.bn_mode = bn_mode
        self.calib_batches = calib_batches
        self.batch_size = batch_size
        self.eval_images = eval_images
        self.seed = seed
        self.threads = threads
        self._cache: Any = None

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "_cache": None}

    def metric_names(self) -> list[str]:
        return list(self.METRICS)

    def _load(self) -> tuple[Any, Any, list[Any]]:
        if self._cache is None:
            from nasforge.oneshot.data import SplitTensors, calibration_batches
            from nasforge.oneshot.io import load_supernet
            from nasforge.task import load_task

            supernet = self.supernet if not isinstance(self.supernet, str) else load_supernet(self.supernet)
            data = SplitTensors.of(load_task(self.task, seed=self.seed))
            calib = calibration_batches(data.x_train, self.calib_batches, self.batch_size, self.seed)
            self._cache = (supernet, data, calib)
        return self._cache

    def _evaluate(self, arch: Arch) -> Mapping[str, float] | EvalResult:
        import torch

        from nasforge.oneshot.bn import prepare_bn
        from nasforge.oneshot.data import accuracy

        if self.threads:
            torch.set_num_threads(self.threads)
        supernet, data, calib = self._load()
        net = prepare_bn(supernet.extract(arch), self.bn_mode, calib)
        acc, loss = accuracy(net, *data.val(self.eval_images))
        return {"val_accuracy": acc, "val_loss": loss}
