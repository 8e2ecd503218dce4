"""A spy on ``.to(device)`` for tests of device handling without a GPU.

The device under test is ``cpu:0``: torch accepts it, and ``.to("cpu:0")`` returns a copy where
``.to("cpu")`` returns the tensor itself, so the spy tells whether a tensor or module was really
sent to the device handed down (results must still equal the plain CPU ones exactly).
"""

from __future__ import annotations

from typing import Any

import pytest
import torch
from torch import nn

DEVICE = "cpu:0"


class DeviceSpy:
    """Tensors and modules that ``.to(DEVICE)`` produced or moved, and (with ``watch``) the first
    input of every forward call of a module of that class."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, watch: type[nn.Module] | None = None) -> None:
        self.tensors: dict[int, torch.Tensor] = {}  # strong references: ids stay unique
        self.modules: list[nn.Module] = []
        self.inputs: list[torch.Tensor] = []
        tensor_to, module_to = torch.Tensor.to, nn.Module.to

        def tensor_spy(t: torch.Tensor, *args: Any, **kwargs: Any) -> torch.Tensor:
            out = tensor_to(t, *args, **kwargs)
            if _target(args, kwargs) == DEVICE:
                self.tensors[id(out)] = out
            return out

        def module_spy(m: nn.Module, *args: Any, **kwargs: Any) -> nn.Module:
            if _target(args, kwargs) == DEVICE:
                self.modules.append(m)
            return module_to(m, *args, **kwargs)

        monkeypatch.setattr(torch.Tensor, "to", tensor_spy)
        monkeypatch.setattr(nn.Module, "to", module_spy)
        self._handle = None
        if watch is not None:
            self._handle = nn.modules.module.register_module_forward_pre_hook(
                lambda m, inputs: self.inputs.append(inputs[0]) if isinstance(m, watch) else None)

    def moved(self, t: torch.Tensor) -> bool:
        """Whether ``t`` (or the tensor it is a view of) came out of ``.to(DEVICE)``."""
        return any(c is not None and self.tensors.get(id(c)) is c for c in (t, t._base))

    def close(self) -> None:
        if self._handle is not None:
            self._handle.remove()


def _target(args: tuple[Any, ...], kwargs: dict[str, Any]) -> str | None:
    target = kwargs.get("device", args[0] if args else None)
    return str(target) if isinstance(target, (str, torch.device)) else None
