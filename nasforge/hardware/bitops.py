"""Costs of a quantized, pruned network: BitOps and model bytes at its bit-widths.

Counted over the network's compute layers (conv and linear layers that run in a forward pass;
in a :class:`~nasforge.space.quantnet.QuantizedNetwork` its :class:`QuantLayer` s with their
bit-widths and masks; in any other network every such layer at 32/32 bits, unpruned):

- ``macs`` of a layer: output positions per sample x kept output channels x effective input
  channels per group x kernel size. Kept output channels are the mask's; effective input
  channels are those not made zero by pruning upstream, found by a probe (a forward pass on
  random inputs with the masks on and off: a channel that is zero only with the masks is
  pruned). A grouped convolution counts its input channels in full. The probe runs on a copy
  whose masks keep each layer's first channels, so the costs depend on the decisions only (not
  on which filters the L1 norms of some weights keep), and channels that meet in a residual
  addition count as pruned when every branch prunes them: the saving of a deployment that
  prunes coupled channels together, which the network's own L1 masks need not align to.
- ``bitops = sum(macs x weight_bits x activation_bits)`` (the BitOps of QuantNAS and APQ).
- ``model_bytes = sum(ceil(weights x weight_bits / 8) + 4 x kept channels for the bias (if
  any) + 4 x kept channels for the per-channel weight scales (if weight_bits < 32))`` plus 4
  bytes per other parameter (BatchNorm's, counted in full); activation quantization
  parameters (two numbers per layer) are not counted. ``weights`` counts only kept output
  channels and effective input channels.

A float network's ``bitops`` is ``macs x 1024`` and its ``model_bytes`` 4 per parameter.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from nasforge.space.inputs import example_input

if TYPE_CHECKING:
    from torch import Tensor, nn

QUANT_METRICS = ("bitops", "model_bytes")
_PROBE_BATCH = 32  # a live channel is zero over every sample and position with odds ~2**-32


def layer_costs(model: nn.Module, input_shape: tuple[int, ...]) -> list[dict[str, Any]]:
    """One row per compute layer: type, bits, kept/total output channels, effective/total input
    channels, ``macs``, ``weights``, ``bias`` and the layer's ``bitops`` and ``bytes``."""
    import copy

    from nasforge.space.quantnet import LAYER_TYPES, QuantLayer, find_quantized

    qnet = find_quantized(model)
    if qnet is not None:  # on a copy with aligned masks: the costs are those of the decisions
        model = copy.deepcopy(model)
        qnet = find_quantized(model)
        assert qnet is not None
        for layer in qnet.quant_layers():
            layer.mask.zero_()
            layer.mask[:layer.kept] = 1.0
        units: list[Any] = qnet.quant_layers()
    else:
        units = [m for m in model.modules() if isinstance(m, LAYER_TYPES)]
    modes = qnet.modes() if qnet is not None else None
    try:
        if qnet is not None:
            qnet.set_mode(quantize=False, prune=True)
        with_masks = _probe(model, units, input_shape)
        if qnet is not None:
            qnet.set_mode(prune=False)
            without = _probe(model, units, input_shape)
        else:
            without = with_masks
    finally:
        if qnet is not None and modes is not None:
            qnet.set_mode(*modes)
    rows = []
    for unit in units:
        if id(unit) not in with_masks:
            continue  # not called in a forward pass
        layer = unit.layer if isinstance(unit, QuantLayer) else unit
        w_bits, a_bits = (unit.weight_bits, unit.act_bits) if isinstance(unit, QuantLayer) else (32, 32)
        out_total = int(layer.weight.shape[0])
        kept = unit.kept if isinstance(unit, QuantLayer) else out_total
        positions, zero_with = with_masks[id(unit)]
        _, zero_without = without[id(unit)]
        pruned_in = int((zero_with & ~zero_without).sum())
        groups = int(getattr(layer, "groups", 1))
        in_total = int(layer.weight.shape[1]) * groups
        in_eff = in_total - pruned_in if groups == 1 else in_total // groups
        kernel = math.prod(layer.weight.shape[2:])
        weights = kept * in_eff * kernel
        macs = positions * weights
        bias = kept if layer.bias is not None else 0
        nbytes = math.ceil(weights * w_bits / 8) + 4 * bias + (4 * kept if w_bits < 32 else 0)
        rows.append({"layer": type(layer).__name__, "weight_bits": w_bits, "act_bits": a_bits, "kept": kept,
                     "channels": out_total, "in_effective": in_eff, "in_channels": in_total, "macs": macs,
                     "weights": weights, "bias": bias, "bitops": macs * w_bits * a_bits, "bytes": nbytes})
    return rows


def quant_costs(model: nn.Module, input_shape: tuple[int, ...],
                which: Sequence[str] = QUANT_METRICS) -> dict[str, float]:
    """``bitops`` and/or ``model_bytes`` of ``model`` (see the module docstring)."""
    unknown = [m for m in which if m not in QUANT_METRICS]
    if unknown:
        raise ValueError(f"unknown quantization cost metric(s) {unknown}; valid: {list(QUANT_METRICS)}")
    from nasforge.space.quantnet import LAYER_TYPES

    rows = layer_costs(model, input_shape)
    layer_params = {id(p) for m in model.modules() if isinstance(m, LAYER_TYPES) for p in m.parameters(recurse=False)}
    other = sum(p.numel() for p in model.parameters() if id(p) not in layer_params)
    out = {"bitops": float(sum(r["bitops"] for r in rows)),
           "model_bytes": float(sum(r["bytes"] for r in rows) + 4 * other)}
    return {m: out[m] for m in which}


def _probe(model: nn.Module, units: list[Any], input_shape: tuple[int, ...]) -> dict[int, tuple[int, Tensor]]:
    """unit id -> (output positions per sample and output channel, input channels that are all zero)."""
    import torch

    found: dict[int, tuple[int, Tensor]] = {}

    def hook(unit: nn.Module, args: tuple[Tensor, ...], out: Tensor) -> None:
        if id(unit) in found:
            return
        x = args[0]
        linear = isinstance(getattr(unit, "layer", unit), torch.nn.Linear)
        channel_axis = x.dim() - 1 if linear else 1
        dims = [d for d in range(x.dim()) if d != channel_axis]
        zero = (x.detach().abs().amax(dim=dims) == 0) if dims else (x.detach().abs() == 0)
        out_axis = out.dim() - 1 if linear else 1
        positions = out[0].numel() // out.shape[out_axis] if out.dim() > 1 else 1
        found[id(unit)] = (int(positions), zero.cpu())

    hooks = [u.register_forward_hook(hook) for u in units]
    was_training = model.training
    model.eval()
    try:
        device = next((p.device for p in model.parameters()), torch.device("cpu"))
        gen = torch.Generator().manual_seed(0)
        x = example_input(model, input_shape, _PROBE_BATCH, random=True, generator=gen).to(device)  # token ids for an LM
        with torch.no_grad():
            model(x)
    finally:
        for h in hooks:
            h.remove()
        model.train(was_training)
    return found
