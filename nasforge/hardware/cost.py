"""Cost models: one metric of the archs of one space, behind ``predict(arch) -> float``.

Lifecycle: construct with settings (keyword arguments, stored as given); ``setup(space,
input_shape, num_classes)`` once; ``fit(archs, values)`` for learned models; then
``predict(arch)`` any number of times. A search uses ``model.predict`` as a plain callable for
an objective or a constraint, so strategies never see torch. Registry: ``COST_MODELS``
(``get_cost_model("lut", settings=...)``); every latency model returns milliseconds.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import partial
from typing import TYPE_CHECKING, Any

from nasforge.core.registry import Registry
from nasforge.hardware.metrics import STATIC_METRICS, TaskShape, hardware_metrics

if TYPE_CHECKING:
    from torch import nn

    from nasforge.hardware.latency import LatencySettings
    from nasforge.space.arch import Arch
    from nasforge.space.space import Space


class CostModel:
    """Base class; see the module docstring for the call order."""

    #: The metric this model predicts (a name from ``nasforge.hardware.metrics.METRICS``).
    metric: str = ""

    def setup(self, space: Space, input_shape: tuple[int, ...] | None = None,
              num_classes: int | None = None) -> CostModel:
        """Bind to a space and a task shape (defaults: the space's ``default_input_shape``)."""
        shape = input_shape or getattr(space, "default_input_shape", None)
        if shape is None:
            raise ValueError(f"space {space.name!r} has no default input shape; pass input_shape")
        classes = num_classes or getattr(space, "default_num_classes", 10)
        self.space_ = space
        self.shape_ = TaskShape(tuple(int(s) for s in shape), int(classes))
        return self

    def fit(self, archs: Sequence[Arch], values: Sequence[float]) -> CostModel:
        """Learn from measured ``values`` (no-op for models that need no training)."""
        return self

    def predict(self, arch: Arch) -> float:
        raise NotImplementedError

    def build(self, arch: Arch) -> nn.Module:
        """The network of ``arch`` for the bound task shape."""
        if not hasattr(self, "space_"):
            raise RuntimeError(f"{type(self).__name__}: call setup(space, ...) before predict")
        import torch

        with torch.random.fork_rng(devices=[]):  # the caller's random stream is not consumed
            return self.space_.build(arch, self.shape_)


class StaticCost(CostModel):
    """A metric computed from the built network (params, FLOPs, memory, model size, BitOps)."""

    def __init__(self, metric: str, batch_size: int = 1) -> None:
        self.metric = metric
        self.batch_size = batch_size

    def predict(self, arch: Arch) -> float:
        model = self.build(arch)
        return hardware_metrics(model, self.shape_.input_shape, (self.metric,), self.batch_size)[self.metric]


class MeasuredLatency(CostModel):
    """Latency measured on this machine (median ms): the ground truth the estimators model."""

    metric = "latency_ms"

    def __init__(self, settings: LatencySettings | None = None) -> None:
        self.settings = settings

    def predict(self, arch: Arch) -> float:
        from nasforge.hardware.latency import measure_latency

        return measure_latency(self.build(arch), self.shape_.input_shape, self.settings).median_ms


COST_MODELS: Registry[Any] = Registry(
    "cost model",
    modules=("nasforge.hardware.table", "nasforge.hardware.predictor"),
)
register_cost_model = COST_MODELS.register

for _metric in STATIC_METRICS:
    register_cost_model(_metric)(partial(StaticCost, _metric))
register_cost_model("measured")(MeasuredLatency)


def get_cost_model(name: str, **kwargs: Any) -> CostModel:
    """A new, not yet set-up cost model registered as ``name``."""
    return COST_MODELS.get(name)(**kwargs)
