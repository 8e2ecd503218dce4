"""Export a trained model: state dict, architecture JSON and ONNX (checked in ONNX Runtime).

Both files are written atomically (a temporary file renamed over the target once complete and,
for ONNX, checked), so an interrupted or failed export never leaves a partial file.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from torch import nn

from nasforge.core.atomic import atomic_path

ONNX_TOLERANCE = 1e-4


class ExportMismatchError(RuntimeError):
    """ONNX Runtime's predictions differ from PyTorch's beyond the tolerance."""


def export_onnx(model: nn.Module, input_shape: Sequence[int], path: str | Path,
                check_inputs: np.ndarray | None = None) -> float:
    """Write ``model`` as ONNX (dynamic batch) and check it in ONNX Runtime.

    Returns the largest absolute difference between ONNX Runtime's and PyTorch's outputs on
    ``check_inputs`` (default: 16 random inputs; token ids for a language model); raises
    :class:`ExportMismatchError` above ``1e-4``.
    """
    import onnxruntime as ort

    from nasforge.space.inputs import example_input, takes_tokens

    model = model.eval()
    example = example_input(model, tuple(input_shape))  # token ids for a language model
    with atomic_path(Path(path)) as tmp:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            torch.onnx.export(model, (example,), str(tmp), input_names=["input"], output_names=["logits"],
                              dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}}, dynamo=False)
        if check_inputs is None:
            check_inputs = (example_input(model, tuple(input_shape), 16, random=True,
                                          generator=torch.Generator().manual_seed(0)).numpy() if takes_tokens(model)
                            else np.random.default_rng(0).standard_normal((16, *input_shape)).astype(np.float32))
        session = ort.InferenceSession(str(tmp), providers=["CPUExecutionProvider"])
        got = session.run(None, {"input": check_inputs})[0]
        with torch.no_grad():
            want = model(torch.from_numpy(check_inputs)).numpy()
        diff = float(np.abs(got - want).max())
        if diff > ONNX_TOLERANCE:
            raise ExportMismatchError(f"ONNX Runtime output differs from PyTorch by {diff:.2e} (> {ONNX_TOLERANCE})")
    return diff


def save_state_dict(model: nn.Module, path: str | Path) -> None:
    """Save the model's weights (``torch.save`` of its state dict), atomically."""
    with atomic_path(Path(path)) as tmp:
        torch.save(model.state_dict(), tmp)
