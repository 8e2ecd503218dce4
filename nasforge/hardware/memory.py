"""Peak activation memory of one inference forward pass, measured by tracking tensor lifetimes.

Method: the forward runs (eval mode, ``torch.no_grad``) under a ``TorchDispatchMode`` that sees
every tensor an operator returns. Each new storage is counted while any tensor viewing it is
alive (weak-reference finalizers report the frees); in-place results and views add nothing.
The peak of the live total, plus the input itself, is the peak activation memory of eager
PyTorch on that input. Parameters and buffers are not counted (see ``model_size_bytes``).
This is the quantity MCUNet-style memory constraints bound; runtimes that fuse or plan memory
(ONNX Runtime, TensorRT) can need less. It is device-independent: no allocator statistics.
"""

from __future__ import annotations

import weakref
from typing import TYPE_CHECKING, Any

import torch
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_flatten

from nasforge.space.inputs import example_input

if TYPE_CHECKING:
    from torch import nn


class _LiveTensors(TorchDispatchMode):
    def __init__(self, ignore: set[int]) -> None:
        super().__init__()
        self.ignore = ignore                # storages of parameters and buffers
        self.refs: dict[int, int] = {}      # storage pointer -> live tensors viewing it
        self.sizes: dict[int, int] = {}     # storage pointer -> bytes
        self.live = 0
        self.peak = 0
        self._seen: set[int] = set()        # ids of tensor objects already tracked

    def track(self, tensor: torch.Tensor) -> None:
        if id(tensor) in self._seen:
            return
        storage = tensor.untyped_storage()
        ptr = storage.data_ptr()
        if ptr in self.ignore:
            return
        self._seen.add(id(tensor))
        if ptr not in self.refs:
            self.refs[ptr] = 0
            self.sizes[ptr] = storage.nbytes()
            self.live += storage.nbytes()
            self.peak = max(self.peak, self.live)
        self.refs[ptr] += 1
        weakref.finalize(tensor, self._release, id(tensor), ptr)

    def _release(self, tensor_id: int, ptr: int) -> None:
        self._seen.discard(tensor_id)
        self.refs[ptr] -= 1
        if self.refs[ptr] == 0:
            del self.refs[ptr]
            self.live -= self.sizes.pop(ptr)

    def __torch_dispatch__(self, func: Any, types: Any, args: Any = (), kwargs: Any = None) -> Any:
        out = func(*args, **(kwargs or {}))
        for item in tree_flatten(out)[0]:
            if isinstance(item, torch.Tensor):
                self.track(item)
        return out


def peak_activation_bytes(model: nn.Module, input_shape: tuple[int, ...], batch_size: int = 1,
                          device: str = "cpu") -> int:
    """Peak bytes of live activations (input included, weights excluded) in one forward."""
    was_training = model.training
    model.eval()
    try:
        x = example_input(model, input_shape, batch_size, device=device)  # token ids for a language model
        weights = {t.untyped_storage().data_ptr() for t in (*model.parameters(), *model.buffers())}
        mode = _LiveTensors(weights)
        with torch.no_grad(), mode:
            mode.track(x)
            out = model(x)
            del out
        return int(mode.peak)
    finally:
        model.train(was_training)
