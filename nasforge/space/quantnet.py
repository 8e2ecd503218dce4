"""A network with per-layer-group quantization and structured channel pruning.

:func:`quantize_network` takes any ``nn.Module`` and wraps each of its compute layers
(``nn.Conv1d``/``Conv2d``/``Conv3d`` and ``nn.Linear`` that run in a forward pass) in a
:class:`QuantLayer`. Layers are numbered in the order a forward pass first calls them and split
into ``groups`` contiguous groups of (nearly) equal size: layer ``i`` of ``n`` is in group
``i * groups // n``. Each group has its own weight bits, activation bits and kept share of
channels.

A :class:`QuantLayer` fake-quantizes its input (per tensor, observed range) and its weight
(per output channel, symmetric), see :mod:`nasforge.space.fakequant`, and prunes output
channels: structured pruning by L1 importance (Li et al. 2017, "Pruning Filters for Efficient
ConvNets"): the ``round(keep * C)`` output channels (at least one) whose filters have the largest
L1 norm are kept, the others are *masked*, not removed: their weights and bias are multiplied by
zero, and a BatchNorm that directly normalises the layer's output is masked the same way
(:class:`MaskedNorm`), so a pruned channel is exactly zero after it. The network keeps its
shapes; the cost model (:mod:`nasforge.hardware.bitops`) counts only kept channels, and input
channels that pruning makes zero in the next layer. The last layer (the classifier) is never
pruned.

The network's modes: ``quantize`` (fake quantization on) and ``prune`` (masks on), both on after
building; :meth:`QuantizedNetwork.prune_by_l1` recomputes the masks from the current weights
(after training) and :meth:`QuantizedNetwork.calibrate` sets the activation ranges from a batch.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor, nn
from torch.nn import functional as F  # noqa: N812

from nasforge.space.fakequant import ActQuant, check_bits, fake_quant_weight

LAYER_TYPES = (nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.Linear)
NORM_TYPES = (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d)
#: group -> (weight bits, activation bits, kept share of output channels)
Policy = Callable[[int], tuple[int, int, float]]


class QuantLayer(nn.Module):
    """A conv or linear layer with fake-quantized input and weight and an output-channel mask."""

    def __init__(self, layer: nn.Module, group: int, weight_bits: int, act_bits: int, keep: float,
                 prunable: bool) -> None:
        super().__init__()
        if not 0 < keep <= 1:
            raise ValueError(f"keep must be in (0, 1], got {keep}")
        self.layer = layer
        self.group = group
        self.weight_bits = check_bits(weight_bits, "weight bits")
        self.act = ActQuant(act_bits)
        self.keep = float(keep)
        self.prunable = bool(prunable)
        self.quantize = True
        self.prune = True
        self.register_buffer("mask", torch.ones(self.out_channels, device=layer.weight.device))
        self._frozen: tuple[Tensor, Tensor | None] | None = None
        self.prune_by_l1()

    @property
    def act_bits(self) -> int:
        return self.act.bits

    @property
    def out_channels(self) -> int:
        return int(self.layer.weight.shape[0])

    @property
    def kept(self) -> int:
        """Output channels kept: ``max(1, round(keep * C))`` if prunable, else all ``C``."""
        return max(1, round(self.keep * self.out_channels)) if self.prunable else self.out_channels

    @torch.no_grad()
    def prune_by_l1(self) -> None:
        """Keep the :attr:`kept` output channels whose filters have the largest L1 norm."""
        self.mask.zero_()
        importance = self.layer.weight.detach().abs().flatten(1).sum(1)
        self.mask[torch.argsort(importance, descending=True, stable=True)[:self.kept]] = 1.0

    def _masked(self) -> bool:
        return self.prune and self.prunable and self.kept < self.out_channels

    def channel_mask(self, ndim: int) -> Tensor | None:
        """The mask shaped to multiply an output of ``ndim`` dims (channels on axis 1; None: no mask)."""
        if not self._masked():
            return None
        return self.mask.view(1, -1, *([1] * (ndim - 2))) if ndim > 1 else self.mask

    def effective_weights(self) -> tuple[Tensor, Tensor | None]:
        """Weight and bias as the forward pass uses them (masked, fake-quantized per the modes)."""
        weight, bias = self.layer.weight, self.layer.bias
        if self._masked():
            weight = weight * self.mask.view(-1, *([1] * (weight.dim() - 1)))
            bias = None if bias is None else bias * self.mask
        if self.quantize:
            weight = fake_quant_weight(weight, self.weight_bits)
        return weight, bias

    def freeze(self, frozen: bool = True) -> None:
        """Hold :meth:`effective_weights` as constants (for export: the graph gets the quantized
        weights and their scales as initializers instead of the ops computing them)."""
        if not frozen:
            self._frozen = None
            return
        with torch.no_grad():
            weight, bias = self.effective_weights()
            self._frozen = (weight.detach().clone(), None if bias is None else bias.detach().clone())

    def forward(self, x: Tensor) -> Tensor:
        layer = self.layer
        if self.quantize:
            x = self.act(x)
        if self._frozen is not None:
            weight, bias = self._frozen
            if self.quantize and self.weight_bits < 32:  # the int8 pair ONNX Runtime folds into an integer weight
                weight = fake_quant_weight(weight, self.weight_bits, constant=True)
        else:
            weight, bias = self.effective_weights()
        if isinstance(layer, nn.Linear):
            return F.linear(x, weight, bias)
        return layer._conv_forward(x, weight, bias)  # type: ignore[operator]

    def extra_repr(self) -> str:
        return f"group={self.group}, weight_bits={self.weight_bits}, keep={self.keep}, prunable={self.prunable}"


class MaskedNorm(nn.Module):
    """A BatchNorm that normalises a pruned layer's output, masked with that layer's channels."""

    def __init__(self, norm: nn.Module, source: QuantLayer) -> None:
        super().__init__()
        self.norm = norm
        object.__setattr__(self, "_source", source)  # a reference, not a submodule (no state twice)

    def forward(self, x: Tensor) -> Tensor:
        out = self.norm(x)
        mask = self._source.channel_mask(out.dim())
        return out if mask is None else out * mask


class QuantizedNetwork(nn.Module):
    """The wrapped network (``net``) and its :class:`QuantLayer` s, in forward order."""

    def __init__(self, net: nn.Module, layers: list[QuantLayer], groups: int) -> None:
        super().__init__()
        self.net = net
        self.groups = groups
        object.__setattr__(self, "_order", list(layers))

    def forward(self, x: Tensor) -> Tensor:
        return self.net(x)

    def quant_layers(self) -> list[QuantLayer]:
        """The wrapped layers in the order a forward pass first calls them."""
        return list(self._order)

    def set_mode(self, quantize: bool | None = None, prune: bool | None = None) -> QuantizedNetwork:
        """Turn fake quantization and/or the pruning masks on or off (``None``: unchanged)."""
        for layer in self._order:
            if quantize is not None:
                layer.quantize = quantize
            if prune is not None:
                layer.prune = prune
        return self

    def modes(self) -> tuple[bool, bool]:
        """``(quantize, prune)`` of the first layer (all layers share them via :meth:`set_mode`)."""
        first = self._order[0]
        return first.quantize, first.prune

    def prune_by_l1(self) -> None:
        """Recompute every layer's mask from its current weights."""
        for layer in self._order:
            layer.prune_by_l1()

    @torch.no_grad()
    def fold_masks(self) -> QuantizedNetwork:
        """Zero the pruned channels' weights and biases, and the affine parameters of the
        BatchNorms masked with them, in place, then turn the masks off: the same function as a
        plain network whose pruned channels are zero (what an exporter or runtime sees, without
        multiplications by masks). A masked BatchNorm without affine parameters keeps its mask.
        Fold a copy: the cost model (:mod:`nasforge.hardware.bitops`) tells pruned channels by
        running the network with its masks on and off."""
        norms = [m for m in self.net.modules() if isinstance(m, MaskedNorm)]
        if any(getattr(m.norm, "weight", None) is None or getattr(m.norm, "bias", None) is None for m in norms):
            return self
        for layer in self._order:
            mask = layer.channel_mask(2)
            if mask is None:
                continue
            flat = mask.flatten()
            layer.layer.weight.mul_(flat.view(-1, *([1] * (layer.layer.weight.dim() - 1))))
            if layer.layer.bias is not None:
                layer.layer.bias.mul_(flat)
        for m in norms:
            mask = m._source.channel_mask(2)
            if mask is not None:
                m.norm.weight.mul_(mask.flatten())
                m.norm.bias.mul_(mask.flatten())
        return self.set_mode(prune=False)

    @torch.no_grad()
    def calibrate(self, x: Tensor, batch_size: int = 256) -> None:
        """Set every activation range from ``x`` (eval mode; the range of all batches together)."""
        was_training = self.training
        self.eval()
        first = True
        hooks = [layer.act.register_forward_pre_hook(_observer(first_batch=lambda: first)) for layer in self._order]
        try:
            for start in range(0, len(x), batch_size):
                self.net(x[start:start + batch_size])
                first = False
        finally:
            for hook in hooks:
                hook.remove()
            self.train(was_training)

    def policy(self) -> list[dict[str, Any]]:
        """One row per layer: group, type, bits, kept/total output channels."""
        return [{"group": q.group, "layer": type(q.layer).__name__, "weight_bits": q.weight_bits,
                 "act_bits": q.act_bits, "kept": q.kept, "channels": q.out_channels} for q in self._order]


def _observer(first_batch: Callable[[], bool]) -> Callable[[nn.Module, tuple[Tensor, ...]], None]:
    def hook(module: nn.Module, args: tuple[Tensor, ...]) -> None:
        act: ActQuant = module  # type: ignore[assignment]
        if first_batch():
            act.observe(args[0], reset=True)
        else:
            act.lo.copy_(torch.minimum(act.lo, args[0].min()))
            act.hi.copy_(torch.maximum(act.hi, args[0].max()))
    return hook


def find_quantized(model: nn.Module) -> QuantizedNetwork | None:
    """The :class:`QuantizedNetwork` in ``model`` (itself or a submodule), or ``None``."""
    return next((m for m in model.modules() if isinstance(m, QuantizedNetwork)), None)


def quantize_network(model: nn.Module, input_shape: tuple[int, ...], groups: int, policy: Policy) -> QuantizedNetwork:
    """Wrap ``model``'s compute layers (see the module docstring); ``policy(group)`` gives each
    group's ``(weight bits, activation bits, keep)``. ``model`` is changed in place and becomes
    the result's ``net``."""
    if groups < 1:
        raise ValueError(f"groups must be >= 1, got {groups}")
    order, norm_source = _probe(model, input_shape)
    if not order:
        raise ValueError(f"{type(model).__name__} has no Conv or Linear layer to quantize")
    wrapped: dict[int, nn.Module] = {}
    layers: list[QuantLayer] = []
    for i, layer in enumerate(order):
        group = i * groups // len(order)
        weight_bits, act_bits, keep = policy(group)
        q = QuantLayer(layer, group, weight_bits, act_bits, keep, prunable=i < len(order) - 1)
        wrapped[id(layer)] = q
        layers.append(q)
    for norm_id, (norm, layer) in norm_source.items():
        wrapped[norm_id] = MaskedNorm(norm, wrapped[id(layer)])  # type: ignore[arg-type]
    for parent in [model, *model.modules()]:
        for name, child in list(parent._modules.items()):
            if child is not None and id(child) in wrapped and wrapped[id(child)] is not parent:
                parent._modules[name] = wrapped[id(child)]
    net: nn.Module = wrapped.get(id(model), model)
    return QuantizedNetwork(net, layers, groups)


def _probe(model: nn.Module, input_shape: tuple[int, ...]) -> tuple[list[nn.Module], dict[int, tuple[nn.Module, nn.Module]]]:
    """Compute layers in first-call order, and each BatchNorm whose input is a layer's output."""
    order: list[nn.Module] = []
    outputs: dict[int, nn.Module] = {}
    keep_alive: list[Tensor] = []
    norm_source: dict[int, tuple[nn.Module, nn.Module]] = {}

    def on_layer(module: nn.Module, args: Any, out: Any) -> None:
        if all(m is not module for m in order):
            order.append(module)
        if isinstance(out, Tensor):
            outputs[id(out)] = module
            keep_alive.append(out)

    def on_norm(module: nn.Module, args: Any) -> None:
        source = outputs.get(id(args[0])) if args and isinstance(args[0], Tensor) else None
        if source is not None and id(module) not in norm_source:
            norm_source[id(module)] = (module, source)

    hooks = [m.register_forward_hook(on_layer) for m in model.modules() if isinstance(m, LAYER_TYPES)]
    hooks += [m.register_forward_pre_hook(on_norm) for m in model.modules() if isinstance(m, NORM_TYPES)]
    was_training = model.training
    model.eval()
    try:
        device = next((p.device for p in model.parameters()), torch.device("cpu"))
        with torch.no_grad(), torch.random.fork_rng(devices=[]):
            model(torch.zeros((2, *input_shape), device=device))
    finally:
        for hook in hooks:
            hook.remove()
        model.train(was_training)
    return order, norm_source

