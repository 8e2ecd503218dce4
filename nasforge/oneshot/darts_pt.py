"""DARTS-PT (Wang et al. 2021, "Rethinking Architecture Selection in Differentiable NAS"):
select operations by their measured contribution to the supernet, not by the size of alpha.

After DARTS training (first order unless ``settings.order == 2``), the edges are visited in a
random order; on each, every remaining candidate is removed in turn (its weight set to zero,
the others not re-normalised) and the supernet's validation accuracy measured; the candidate
whose removal hurts most is kept as the edge's operation. The supernet's weights are then
tuned for ``pt_tune_steps`` steps with the edge fixed before the next edge. Accuracy uses
``eval_images`` validation images (512 if 0) with batch statistics in BN.
"""

from __future__ import annotations

import time
from dataclasses import replace

import numpy as np
import torch

from nasforge.estimate.trainer import accuracy
from nasforge.oneshot.base import EpochRecord, OneShotResult, OneShotSettings, register_method
from nasforge.oneshot.data import SplitTensors, batches, device_of
from nasforge.oneshot.gradient import GradientMethod
from nasforge.oneshot.supernet import Supernet
from nasforge.space.nb201 import EDGE_NAMES, OPS


@register_method("darts-pt")
class DARTSPT(GradientMethod):
    """DARTS supernet training, then perturbation-based architecture selection."""

    name = "darts-pt"
    requires = frozenset({"mixed-op", "softmax", "perturb"})

    def finish(self, supernet: Supernet, settings: OneShotSettings, trajectory: list[EpochRecord],
               seconds: float, data: SplitTensors) -> OneShotResult:
        start = time.perf_counter() - seconds
        rng = np.random.default_rng(settings.seed)
        device = device_of(supernet)
        x_val, y_val = (t.to(device) for t in data.val(settings.eval_images or 512))
        w_opt = torch.optim.SGD(supernet.weight_parameters(), lr=settings.lr * 0.1,
                                momentum=settings.momentum)
        gen = supernet.generator
        records = list(trajectory)
        supernet.mode = "softmax"
        for e in rng.permutation(len(EDGE_NAMES)):
            e = int(e)
            supernet.train()
            scores = {}
            for k in range(len(OPS)):
                supernet.dropped = (e, k)
                scores[k] = accuracy(supernet, x_val, y_val, batch_size=256)[0]
            supernet.dropped = None
            chosen = min(scores, key=lambda k: (scores[k], k))
            supernet.fixed[e] = chosen
            losses = []
            stream = batches(data.x_train, data.y_train, settings.batch_size, gen, device=device)
            for _ in range(settings.pt_tune_steps):
                xt, yt = next(stream, (None, None))
                if xt is None:
                    stream = batches(data.x_train, data.y_train, settings.batch_size, gen, device=device)
                    xt, yt = next(stream)
                losses.append(self.weight_step(supernet, w_opt, xt, yt, settings))
            info = {f"acc_without_{OPS[k]}": v for k, v in scores.items()}
            records.append(EpochRecord(len(records) + 1, float(np.mean(losses)) if losses else float("nan"),
                                       time.perf_counter() - start, supernet.derive().key,
                                       supernet.arch_weights(), {"edge": e, **info}))
        result = super().finish(supernet, settings, records, time.perf_counter() - start, data)
        darts_arch = trajectory[-1].derived if trajectory else None
        return replace(result, info={"darts_argmax_arch": darts_arch})
