"""Static and measured cost metrics of one network.

Metric names (all floats in :func:`hardware_metrics`' result):

- ``params``: number of parameters (BatchNorm weight and bias included; running statistics,
  which are buffers, not), the convention of NAS-Bench-201 and NAS-Bench-Macro.
- ``flops``: floating-point operations of one forward on one input, counted by PyTorch's
  ``torch.utils.flop_counter.FlopCounterMode``. It counts **2 per multiply-add** in
  convolutions and matrix products and nothing for BatchNorm, activations, pooling and
  additions. Attention (``scaled_dot_product_attention``) counts its two matrix products,
  ``4 * heads * queries * keys * head_dim``, on the CPU kernel too (PyTorch counts only its GPU
  kernels; :func:`count_flops` adds the CPU one), with no discount for a causal mask.
- ``macs``: ``flops / 2``, multiply-adds. This is the convention of the benchmark tables:
  NAS-Bench-Macro's ``flops`` field equals ``macs`` exactly; NAS-Bench-201's equals ``macs``
  plus one per classifier bias.
- ``memory_mb``: peak activation memory of one forward at the batch size, in MiB (2**20 bytes);
  see :mod:`nasforge.hardware.memory` for the method.
- ``size_mb``: bytes of the state dict saved with ``torch.save``, in MiB: the model file.
- ``bitops``: multiply-adds x weight bits x activation bits, summed over conv and linear
  layers, counting only channels that pruning keeps; ``model_bytes``: bytes of the weights at
  their bit-widths (plus biases, scales and other parameters at 4 bytes). For a network of
  ``nasforge.space.quant`` at its decisions, for any other at 32 bits; see
  :mod:`nasforge.hardware.bitops`.
- ``latency_ms`` / ``latency_iqr_ms``: measured median and interquartile range, see
  :mod:`nasforge.hardware.latency`.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from torch import nn

    from nasforge.hardware.latency import LatencySettings

#: computed from the built network alone (no timing)
STATIC_METRICS = ("params", "flops", "macs", "memory_mb", "size_mb", "bitops", "model_bytes")
#: of a latency measurement
LATENCY_METRICS = ("latency_ms", "latency_iqr_ms")
METRICS = (*STATIC_METRICS, *LATENCY_METRICS)
MIB = 2**20


@dataclass(frozen=True)
class TaskShape:
    """What a space's ``build`` reads from a task, without any data: input shape, classes."""

    input_shape: tuple[int, ...]
    num_classes: int


def count_params(model: nn.Module) -> int:
    """Number of parameters (buffers such as BatchNorm running statistics excluded)."""
    return sum(p.numel() for p in model.parameters())


def count_flops(model: nn.Module, input_shape: tuple[int, ...], batch_size: int = 1) -> int:
    """FLOPs of one forward on ``batch_size`` inputs (PyTorch's counter: 2 per multiply-add);
    a token model gets token ids (:func:`nasforge.space.inputs.example_input`)."""
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    from nasforge.space.inputs import example_input

    _count_cpu_attention()
    was_training = model.training
    model.eval()
    try:
        x = example_input(model, input_shape, batch_size)  # token ids for a language model
        with torch.no_grad(), FlopCounterMode(display=False) as counter:
            model(x)
        return int(counter.get_total_flops())
    finally:
        model.train(was_training)


def _count_cpu_attention() -> None:
    """Give PyTorch's FLOP counter a formula for the CPU attention kernel (once per process): the
    formula of its GPU attention kernels, the two matrix products."""
    import torch
    from torch.utils import flop_counter

    op = getattr(torch.ops.aten, "_scaled_dot_product_flash_attention_for_cpu", None)
    if op is None or op in flop_counter.flop_registry:
        return

    def sdpa_cpu_flop(query_shape, key_shape, value_shape, *args, out_shape=None, **kwargs) -> int:  # noqa: ANN001
        return flop_counter.sdpa_flop_count(query_shape, key_shape, value_shape)

    flop_counter.register_flop_formula(op)(sdpa_cpu_flop)


def model_size_bytes(model: nn.Module) -> int:
    """Bytes of ``torch.save(model.state_dict())``: the size of the model file on disk."""
    import torch

    buffer = io.BytesIO()
    torch.save(model.state_dict(), buffer)
    return buffer.getbuffer().nbytes


def hardware_metrics(model: nn.Module, input_shape: tuple[int, ...],
                     which: Sequence[str] = ("params", "flops", "memory_mb", "size_mb"),
                     batch_size: int = 1,
                     latency: LatencySettings | None = None) -> dict[str, float]:
    """The metrics named in ``which`` (see the module docstring) for ``model``.

    ``flops`` and ``macs`` are per single input; ``memory_mb`` and latency use ``batch_size``
    (``latency.batch_size`` wins when ``latency`` is given).
    """
    unknown = [m for m in which if m not in METRICS]
    if unknown:
        raise ValueError(f"unknown hardware metric(s) {unknown}; valid: {', '.join(METRICS)}")
    out: dict[str, float] = {}
    if "params" in which:
        out["params"] = float(count_params(model))
    if "flops" in which or "macs" in which:
        flops = count_flops(model, input_shape)
        if "flops" in which:
            out["flops"] = float(flops)
        if "macs" in which:
            out["macs"] = flops / 2
    if "memory_mb" in which:
        from nasforge.hardware.memory import peak_activation_bytes

        out["memory_mb"] = peak_activation_bytes(model, input_shape, batch_size) / MIB
    if "size_mb" in which:
        out["size_mb"] = model_size_bytes(model) / MIB
    if "bitops" in which or "model_bytes" in which:
        from nasforge.hardware.bitops import quant_costs

        out.update(quant_costs(model, input_shape, [m for m in ("bitops", "model_bytes") if m in which]))
    if "latency_ms" in which or "latency_iqr_ms" in which:
        from dataclasses import replace

        from nasforge.hardware.latency import LatencySettings, measure_latency

        settings = latency or replace(LatencySettings(), batch_size=batch_size)
        stats = measure_latency(model, input_shape, settings)
        if "latency_ms" in which:
            out["latency_ms"] = stats.median_ms
        if "latency_iqr_ms" in which:
            out["latency_iqr_ms"] = stats.iqr_ms
    return {m: out[m] for m in which}
