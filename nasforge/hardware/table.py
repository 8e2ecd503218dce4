"""Per-block latency lookup table (FBNet, Wu et al. 2019; OFA, Cai et al. 2020).

Each distinct block configuration (a :class:`~nasforge.space.blocks.BlockSpec` signature,
which includes the block's input shape) is profiled once, alone, with the same
:class:`~nasforge.hardware.latency.LatencySettings` as whole networks; a network's latency is
estimated as the sum over its blocks, stem and head included. The table also records each
block's FLOPs and parameters, which sum exactly to the network's. It can be saved to and loaded
from JSON (``path``); a file made with other settings, another torch or another machine is
refused rather than silently mixed.
"""

from __future__ import annotations

import json
import platform
from collections.abc import Callable, Iterable
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from nasforge.hardware.cost import CostModel, register_cost_model
from nasforge.hardware.latency import LatencySettings
from nasforge.space.arch import Arch
from nasforge.space.blocks import BlockSpace, BlockSpec


@register_cost_model("lut")
class LatencyTable(CostModel):
    """Latency as the sum of profiled block latencies (ms); ``path`` caches the table;
    ``rounds`` interleaves the profiling (see :meth:`profile`)."""

    metric = "latency_ms"

    def __init__(self, settings: LatencySettings | None = None, path: str | None = None,
                 rounds: int = 1) -> None:
        self.settings = settings
        self.path = path
        self.rounds = rounds

    def setup(self, space: Any, input_shape: tuple[int, ...] | None = None,
              num_classes: int | None = None) -> LatencyTable:
        if not isinstance(space, BlockSpace):
            raise TypeError(f"the latency table needs a space with a block decomposition "
                            f"(a BlockSpace); {space.name!r} is a {type(space).__name__}")
        super().setup(space, input_shape, num_classes)
        self.entries_: dict[str, dict[str, float]] = {}
        if self.path and Path(self.path).is_file():
            self._load(Path(self.path))
        return self

    def blocks(self, arch: Arch) -> list[BlockSpec]:
        """The blocks of ``arch`` at the bound task shape."""
        if not hasattr(self, "space_"):
            raise RuntimeError("LatencyTable: call setup(space, ...) before profile or predict")
        return self.space_.blocks(arch, self.shape_)

    def profile(self, archs: Iterable[Arch],
                progress: Callable[[int, int], None] | None = None) -> int:
        """Profile every block of ``archs`` not yet in the table; returns how many were new.

        With ``rounds > 1`` the new blocks are timed in interleaved rounds (a fresh random
        order each round, ``repeats / rounds`` runs per visit) and each keeps the median of
        its pooled runs, as ``latency_study`` does for whole networks. ``progress(done,
        total)`` is told after each timing.
        """
        missing: dict[str, BlockSpec] = {}
        for arch in archs:
            for spec in self.blocks(arch):
                if spec.signature not in self.entries_:
                    missing.setdefault(spec.signature, spec)
        if not missing:
            return 0
        import torch

        from nasforge.hardware.latency import measure_latency
        from nasforge.hardware.metrics import count_flops, count_params

        settings = self.settings or LatencySettings()
        rounds = max(1, self.rounds)
        first = replace(settings, repeats=max(1, settings.repeats // rounds))
        later = replace(first, warmup=min(2, settings.warmup))
        pools: dict[str, list[float]] = {sig: [] for sig in missing}
        order = sorted(missing)
        rng = np.random.default_rng(len(self.entries_))
        # Building blocks and timing inputs draw from torch's generator: keep the caller's as it was.
        with torch.random.fork_rng(devices=[] if settings.device == "cpu" else None):
            modules = {sig: spec.build() for sig, spec in missing.items()}
            for r in range(rounds):
                for n, k in enumerate(rng.permutation(len(order))):
                    sig = order[k]
                    stats = measure_latency(modules[sig], missing[sig].input_shape, later if r else first)
                    pools[sig].extend(stats.samples_ms)
                    if progress is not None:
                        progress(r * len(order) + n + 1, rounds * len(order))
        for sig, spec in missing.items():
            self.entries_[sig] = {
                "latency_ms": float(np.median(pools[sig])),
                "flops": float(count_flops(modules[sig], spec.input_shape)),
                "params": float(count_params(modules[sig])),
            }
        if self.path:
            self.save(self.path)
        return len(missing)

    def block_costs(self, arch: Arch) -> list[dict[str, float]]:
        """``{"latency_ms", "flops", "params"}`` of each block, profiling missing ones."""
        self.profile([arch])
        return [self.entries_[spec.signature] for spec in self.blocks(arch)]

    def predict(self, arch: Arch) -> float:
        return float(sum(c["latency_ms"] for c in self.block_costs(arch)))

    def save(self, path: str | Path) -> None:
        """Write the table (context and entries) as JSON, atomically (workers may share the file)."""
        from nasforge.core.atomic import write_text_atomic

        data = {"context": self._context(), "blocks": self.entries_}
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        write_text_atomic(Path(path), json.dumps(data, indent=1, sort_keys=True))

    def _load(self, path: Path) -> None:
        data = json.loads(path.read_text())
        if data.get("context") != self._context():
            raise ValueError(f"latency table {path} was made with {data.get('context')}, "
                             f"not {self._context()}; use another path or delete it")
        self.entries_.update(data["blocks"])

    def _context(self) -> dict[str, Any]:
        import torch

        context = {"settings": (self.settings or LatencySettings()).record(), "rounds": self.rounds,
                   "torch": torch.__version__,
                   "machine": platform.machine(), "processor": platform.processor()}
        return json.loads(json.dumps(context))  # as it reads back from the file
