"""Supernet: one network whose weights every architecture of a space shares.

Contract (all supernets): ``supernet(x, arch)`` runs the single path of ``arch``;
``supernet.extract(arch)`` returns ``space.build(arch, task)`` — the standalone network — with
weights (and BN running statistics) copied from the supernet, and it computes exactly what
``supernet(x, arch)`` computes; ``extremes()`` gives the largest and the smallest arch (for the
sandwich rule). Supernets with architecture parameters also implement ``forward(x)`` without an
arch (the relaxed supernet), ``arch_parameters()``, ``arch_weights()`` and ``derive()``.

``build_supernet(space, task)`` picks the class registered for the space's name.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from nasforge.core.registry import Registry
from nasforge.space.arch import Arch
from nasforge.space.blocks import BlockSpace


class Supernet(nn.Module):
    """Base class; see the module docstring."""

    #: what one-shot methods can ask of this supernet: ``paths`` (single-path forward, every
    #: supernet), ``mixed-op`` (every candidate operation run and mixed), ``entangled`` (candidates
    #: mixed in weight space), and the relaxation modes it implements (``softmax``, ``gumbel``...)
    capabilities: frozenset[str] = frozenset({"paths"})

    def __init__(self, space: BlockSpace, task: Any) -> None:
        super().__init__()
        from nasforge.hardware.metrics import TaskShape

        self.space = space
        self.shape = TaskShape(tuple(int(s) for s in task.input_shape), int(task.num_classes))
        self.generator: torch.Generator | None = None  # set by a method for seeded sampling
        self.config: dict[str, Any] = {}  # constructor settings beyond (space, task), for saving

    def forward(self, x: Tensor, arch: Arch | None = None) -> Tensor:
        raise NotImplementedError

    def extract(self, arch: Arch) -> nn.Module:
        raise NotImplementedError

    def extremes(self) -> tuple[Arch, Arch]:
        raise NotImplementedError

    def arch_parameters(self) -> list[nn.Parameter]:
        """Architecture parameters (empty for pure weight-sharing supernets)."""
        return []

    def weight_parameters(self) -> list[nn.Parameter]:
        """All parameters that are not architecture parameters."""
        arch = {id(p) for p in self.arch_parameters()}
        return [p for p in self.parameters() if id(p) not in arch]

    def arch_weights(self) -> dict[str, list[float]]:
        """Per decision, the probabilities of its options (empty without arch parameters)."""
        return {}

    def derive(self) -> Arch:
        raise NotImplementedError(f"{type(self).__name__} has no architecture parameters")

    def _check(self, arch: Arch) -> None:
        if arch.space != self.space.name:
            raise ValueError(f"{arch.key!r} is not an architecture of space {self.space.name!r}")


class PathNet(nn.Module):
    """The single path of ``arch`` through (a copy of) ``supernet`` as a module: what
    ``supernet(x, arch)`` computes, for supernets whose subnets cannot be extracted at full width
    (a partial-channel supernet). Its BN statistics are the copy's own."""

    def __init__(self, supernet: Supernet, arch: Arch) -> None:
        super().__init__()
        import copy

        self.supernet = copy.deepcopy(supernet)
        self.arch = arch

    def forward(self, x: Tensor) -> Tensor:
        return self.supernet(x, self.arch)


def copy_state(src: nn.Module, dst: nn.Module) -> None:
    """Copy every entry of ``src``'s state dict into ``dst``'s (same names and shapes).

    ``dst`` may have extra BN affine parameters when ``src`` has none (affine off); they keep
    their identity initialisation, which computes the same thing.
    """
    target = dst.state_dict()
    source = src.state_dict()
    for name, value in source.items():
        if name not in target or target[name].shape != value.shape:
            raise ValueError(f"cannot copy {name} {tuple(value.shape)} into {type(dst).__name__}")
        target[name].copy_(value)
    norms = {f"{name}." for name, m in dst.named_modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)}
    extra = [n for n in target if n not in source
             and not (n.endswith((".weight", ".bias")) and n.rsplit(".", 1)[0] + "." in norms)]
    if extra:
        raise ValueError(f"{type(dst).__name__} has state {extra} that the supernet lacks")


SUPERNETS: Registry[Any] = Registry(
    "supernet",
    modules=("nasforge.oneshot.nb201", "nasforge.oneshot.macro", "nasforge.oneshot.mbconv",
             "nasforge.oneshot.transformer_supernet"),
)
register_supernet = SUPERNETS.register


def build_supernet(space: BlockSpace, task: Any, **kwargs: Any) -> Supernet:
    """The supernet of ``space`` for ``task`` (anything with ``input_shape``, ``num_classes``)."""
    return SUPERNETS.get(space.name)(space, task, **kwargs)
