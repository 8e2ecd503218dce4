"""Block decomposition of a network: what per-block cost models (latency tables) need.

A :class:`BlockSpace` builds its network as the chain of its :class:`BlockSpec` s (stem,
searchable blocks, head), so ``space.build(arch, task)`` runs exactly ``space.blocks(arch, task)``
in order. A spec is a cheap value: its ``signature`` names the block configuration *and* its
input shape, so two archs sharing a block share its profiled latency, FLOPs and parameters
(the FBNet / OFA lookup-table idea: Wu et al. 2019, Cai et al. 2020). The module itself is made
only on ``spec.build()``, so listing blocks imports no torch and allocates nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from typing import TYPE_CHECKING, Any

from nasforge.space.arch import Arch
from nasforge.space.space import Space

if TYPE_CHECKING:
    from torch import nn


@dataclass(frozen=True)
class BlockSpec:
    """One block of a network: signature, input/output shape (no batch), and a factory."""

    signature: str
    input_shape: tuple[int, ...]
    output_shape: tuple[int, ...]
    factory: Callable[[], nn.Module] = field(compare=False, repr=False)

    def build(self) -> nn.Module:
        """A fresh module for this block."""
        return self.factory()


def lazy(layer: str, *args: Any, **kwargs: Any) -> Callable[[], nn.Module]:
    """A factory for ``nasforge.space.layers.<layer>(*args, **kwargs)`` that imports torch
    only when called."""
    return partial(_construct, layer, args, kwargs)


def _construct(layer: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> nn.Module:
    from nasforge.space import layers

    return getattr(layers, layer)(*args, **kwargs)


def conv_out(size: int, kernel: int, stride: int) -> int:
    """Spatial output size of a convolution with ``padding = kernel // 2``."""
    return (size + 2 * (kernel // 2) - kernel) // stride + 1


def task_shape(task: Any, space: str) -> tuple[tuple[int, int, int], int]:
    """``(C, H, W)`` and the class count of a task (anything with ``input_shape``, ``num_classes``)."""
    shape = tuple(int(s) for s in task.input_shape)
    if len(shape) != 3:
        raise ValueError(f"space {space!r} builds image networks for (C, H, W) inputs; "
                         f"the task's input_shape is {shape}")
    classes = int(task.num_classes)
    if classes < 1:
        raise ValueError(f"space {space!r}: num_classes must be >= 1, got {classes}")
    return (shape[0], shape[1], shape[2]), classes


class BlockSpace(Space):
    """A space whose networks are chains of blocks; subclasses implement :meth:`blocks`."""

    #: Input shape and class count used when none is given (CIFAR-10).
    default_input_shape: tuple[int, ...] = (3, 32, 32)
    default_num_classes: int = 10
    #: the data a run of this space uses when it names none
    default_task: str = "cifar10"

    def blocks(self, arch: Arch, task: Any) -> list[BlockSpec]:
        """The blocks of ``arch``'s network for ``task``, in execution order."""
        raise NotImplementedError

    def build(self, arch: Arch, task: Any) -> nn.Module:
        """The network: :class:`~nasforge.space.layers.BlockNet` of :meth:`blocks`."""
        from nasforge.space.layers import BlockNet

        return BlockNet(*(spec.build() for spec in self.blocks(arch, task)))

    def _check(self, arch: Arch) -> None:
        if arch.space != self.name:
            raise ValueError(f"{arch.key!r} is an architecture of space {arch.space!r}, "
                             f"not {self.name!r}")
