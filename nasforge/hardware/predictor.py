"""Learned latency predictor: gradient-boosted trees on the arch encoding plus block features.

Features: the space's one-hot encoding and, for spaces with a block decomposition, the
lookup-table estimate (FBNet, Wu et al. 2019), the summed FLOPs and parameters of the blocks
and the number of blocks (logs of the positive ones). The trees (scikit-learn's
``GradientBoostingRegressor``) learn the log of measured / table latency, i.e. what the sum of
isolated blocks misses: per-call overheads, cache effects between blocks, etc., in the spirit of
the latency predictors of OFA (Cai et al. 2020) and HW-NAS-Bench.

A space that builds networks but has no block decomposition (e.g. ``gpt``) gets the built
network's FLOPs, parameters and number of layers (leaf modules) as features instead, and a
base estimate fitted on the training archs, ``a + b * FLOPs + c * layers`` (non-negative least
squares: a fixed cost, compute, and a per-layer overhead); the trees learn the log of
measured / base, as with a table (HAT, Wang et al. 2020, predicts transformer latency from the
architecture alone). A space that builds nothing: the log latency from the encoding alone.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from nasforge.hardware.cost import CostModel, register_cost_model
from nasforge.hardware.latency import LatencySettings
from nasforge.space.arch import Arch
from nasforge.space.blocks import BlockSpace


@register_cost_model("gbdt")
class LatencyPredictor(CostModel):
    """GBDT latency predictor (ms); ``table`` is a LatencyTable to share (made if None)."""

    metric = "latency_ms"

    def __init__(self, settings: LatencySettings | None = None, table: Any = None,
                 n_estimators: int = 400, max_depth: int = 3, learning_rate: float = 0.05,
                 subsample: float = 0.8, seed: int = 0) -> None:
        self.settings = settings
        self.table = table
        self.n_estimators = n_estimators
        self.max_depth = max_depth
        self.learning_rate = learning_rate
        self.subsample = subsample
        self.seed = seed

    def setup(self, space: Any, input_shape: tuple[int, ...] | None = None,
              num_classes: int | None = None) -> LatencyPredictor:
        super().setup(space, input_shape, num_classes)
        self.table_ = None
        self.static_: dict[str, tuple[float, float, float]] | None = None
        if not isinstance(space, BlockSpace) and getattr(space, "can_build", False):
            self.static_ = {}
        if isinstance(space, BlockSpace):
            from nasforge.hardware.table import LatencyTable

            table = self.table if self.table is not None else LatencyTable(self.settings)
            if getattr(table, "space_", None) is not space:
                table.setup(space, self.shape_.input_shape, self.shape_.num_classes)
            self.table_ = table
        return self

    def features(self, arch: Arch) -> np.ndarray:
        """The feature vector of ``arch`` (encoding, then block features)."""
        encoding = self.space_.encode(arch)
        if self._static() is not None:
            flops, params, layers = self.static_costs(arch)
            return np.concatenate([encoding, np.asarray([np.log1p(flops), np.log1p(params), layers], dtype=np.float32)])
        if self.table_ is None:
            return encoding
        costs = self.table_.block_costs(arch)
        extra = [np.log(sum(c["latency_ms"] for c in costs)),
                 np.log1p(sum(c["flops"] for c in costs)),
                 np.log1p(sum(c["params"] for c in costs)), float(len(costs))]
        return np.concatenate([encoding, np.asarray(extra, dtype=np.float32)])

    def static_costs(self, arch: Arch) -> tuple[float, float, float]:
        """FLOPs, parameters and leaf modules of ``arch``'s network (built once per arch)."""
        from nasforge.hardware.metrics import count_flops, count_params

        cache = self._static()
        if cache is None:
            raise RuntimeError(f"space {self.space_.name!r} has blocks or builds nothing: no static features")
        if arch.key not in cache:
            model = self.build(arch)
            layers = sum(1 for m in model.modules() if next(m.children(), None) is None)
            cache[arch.key] = (float(count_flops(model, self.shape_.input_shape)), float(count_params(model)),
                               float(layers))
        return cache[arch.key]

    def _static(self) -> dict[str, tuple[float, float, float]] | None:
        return getattr(self, "static_", None)  # subclasses that skip setup() have none

    def _base(self, arch: Arch) -> float:
        if self.table_ is not None:
            return self.table_.predict(arch)
        if self._static() is not None and hasattr(self, "base_"):
            flops, _, layers = self.static_costs(arch)
            return max(float(self.base_ @ np.array([1.0, flops, layers])), self.floor_)
        return 1.0

    def _fit_base(self, archs: Sequence[Arch], y: np.ndarray) -> None:
        """``a + b * FLOPs + c * layers`` by non-negative least squares (static features only)."""
        from scipy.optimize import nnls

        if self._static() is None:
            return
        x = np.array([[1.0, *(self.static_costs(a)[i] for i in (0, 2))] for a in archs])
        scale = np.maximum(np.abs(x).max(axis=0), 1e-12)  # columns of comparable size for the solver
        coef, _ = nnls(x / scale, y)
        self.base_ = coef / scale
        self.floor_ = 0.1 * float(np.min(y))  # a base never below a tenth of the fastest measured

    def fit(self, archs: Sequence[Arch], values: Sequence[float]) -> LatencyPredictor:
        from sklearn.ensemble import GradientBoostingRegressor

        if not hasattr(self, "space_"):
            raise RuntimeError("LatencyPredictor: call setup(space, ...) before fit")
        y = np.asarray(values, dtype=float)
        if len(archs) != len(y) or len(y) < 2:
            raise ValueError(f"fit needs as many latencies as archs (>= 2); got {len(archs)} "
                             f"archs and {len(y)} latencies")
        if not np.all(np.isfinite(y)) or np.any(y <= 0):
            raise ValueError("fit needs finite, positive latencies (ms)")
        self.__dict__.pop("base_", None)
        self._fit_base(archs, y)
        x = np.stack([self.features(a) for a in archs])
        target = np.log(y / np.array([self._base(a) for a in archs]))
        self.model_ = GradientBoostingRegressor(
            n_estimators=self.n_estimators, max_depth=self.max_depth,
            learning_rate=self.learning_rate, subsample=self.subsample, random_state=self.seed,
        ).fit(x, target)
        return self

    def predict(self, arch: Arch) -> float:
        if not hasattr(self, "model_"):
            raise RuntimeError("LatencyPredictor: call fit(archs, latencies_ms) before predict")
        log_ratio = float(self.model_.predict(self.features(arch)[None, :])[0])
        return self._base(arch) * float(np.exp(log_ratio))


def fit_latency_predictor(space: Any, input_shape: tuple[int, ...], num_classes: int, samples: int = 100,
                          settings: LatencySettings | None = None, seed: int = 0,
                          cache: str | Path | None = None,
                          progress: Callable[[int, int], None] | None = None) -> LatencyPredictor:
    """A :class:`LatencyPredictor` fitted on the measured latencies of ``samples`` distinct
    architectures of ``space`` drawn uniformly: a cost model for searches that bound latency.

    ``cache`` (a JSON file) keeps the measurements: a later call with the same settings on the
    same machine and torch reads them instead of measuring again (a file made elsewhere is
    refused). ``progress(done, total)`` is told after each measurement.
    """
    if samples < 2:
        raise ValueError(f"samples must be >= 2 to fit a latency predictor, got {samples}")
    archs = space.sample_distinct(samples, seed)
    latencies = measure_samples(space, input_shape, num_classes, archs, settings, cache, progress)
    predictor = LatencyPredictor(settings, seed=seed).setup(space, input_shape, num_classes)
    return predictor.fit(archs, latencies)


def measure_samples(space: Any, input_shape: tuple[int, ...], num_classes: int, archs: Sequence[Arch],
                    settings: LatencySettings | None = None, cache: str | Path | None = None,
                    progress: Callable[[int, int], None] | None = None) -> list[float]:
    """Measured latency (ms) of each of ``archs``, through the JSON ``cache`` when given."""
    from nasforge.hardware.cost import MeasuredLatency

    context = _context(settings, input_shape, num_classes)
    known: dict[str, float] = {}
    path = Path(cache) if cache is not None else None
    if path is not None and path.is_file():
        data = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(data, dict) or data.get("context") != context:
            raise ValueError(f"latency measurements {path} were made with {data.get('context') if isinstance(data, dict) else data!r}, "
                             f"not {context}; remove the file to measure again")
        known = {str(k): float(v) for k, v in data.get("latency_ms", {}).items()}
    measured = MeasuredLatency(settings).setup(space, input_shape, num_classes)
    out = []
    for i, arch in enumerate(archs):
        if arch.key not in known:
            known[arch.key] = measured.predict(arch)
            if path is not None:
                _write_json(path, {"context": context, "latency_ms": known})
        out.append(known[arch.key])
        if progress is not None:
            progress(i + 1, len(archs))
    return out


def _context(settings: LatencySettings | None, input_shape: tuple[int, ...], num_classes: int) -> dict[str, Any]:
    import platform

    import torch

    context = {"settings": (settings or LatencySettings()).record(), "input_shape": list(input_shape),
               "num_classes": num_classes, "torch": torch.__version__, "machine": platform.machine(),
               "processor": platform.processor()}
    return json.loads(json.dumps(context))  # as it reads back from the file


def _write_json(path: Path, data: Any) -> None:
    """Write ``data`` to ``path`` atomically (a temporary file renamed over it)."""
    from nasforge.core.atomic import write_text_atomic

    path.parent.mkdir(parents=True, exist_ok=True)
    write_text_atomic(path, json.dumps(data, indent=1, sort_keys=True))
