"""Export of a trained quantized network: its QDQ ONNX model, tested in ONNX Runtime.

The file ``model.onnx`` holds the network's own quantization (:func:`nasforge.hardware.int8.export_qdq`);
ONNX Runtime runs it with integer kernels where it has them, so its results may differ from the
fake-quantized PyTorch network's at rounding boundaries. The test split is scored through ONNX
Runtime and the difference to PyTorch's accuracy is reported (in points: percentage points of
accuracy), with the share of test inputs on which both predict the same class; a difference
above :data:`ACCURACY_TOLERANCE_POINTS` is logged as a warning.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np
from torch import nn

from nasforge.core.atomic import atomic_path

log = logging.getLogger(__name__)

#: the largest ONNX Runtime - PyTorch accuracy difference (points) accepted without a warning
ACCURACY_TOLERANCE_POINTS = 0.5


def export_quantized(model: nn.Module, input_shape: tuple[int, ...], path: str | Path, x_test: np.ndarray,
                     y_test: np.ndarray) -> dict[str, Any]:
    """Write ``model`` (a trained, calibrated quantized network) as QDQ ONNX to ``path``, score
    both it (ONNX Runtime) and ``model`` (PyTorch) on the test split; return the comparison,
    the policy (one row per layer) and the costs at the network's bit-widths."""
    import torch

    from nasforge.hardware.bitops import quant_costs
    from nasforge.hardware.int8 import export_qdq, onnx_predict
    from nasforge.space.quantnet import find_quantized

    qnet = find_quantized(model)
    if qnet is None:
        raise ValueError("export_quantized needs a network of a quantized space")
    onnx_bytes = export_qdq(model, tuple(input_shape))
    onnx_logits = onnx_predict(onnx_bytes, x_test)
    model.eval()
    with torch.no_grad():
        torch_logits = np.concatenate([model(torch.from_numpy(np.ascontiguousarray(x_test[i:i + 512]))).numpy()
                                       for i in range(0, len(x_test), 512)])
    onnx_acc = float((onnx_logits.argmax(1) == y_test).mean())
    torch_acc = float((torch_logits.argmax(1) == y_test).mean())
    diff_points = 100.0 * (onnx_acc - torch_acc)
    if abs(diff_points) > ACCURACY_TOLERANCE_POINTS:
        log.warning("ONNX Runtime's INT8 test accuracy %.4f differs from the fake-quantized PyTorch network's "
                    "%.4f by %.2f points", onnx_acc, torch_acc, diff_points)
    with atomic_path(Path(path)) as tmp:
        Path(tmp).write_bytes(onnx_bytes)
    return {
        "onnx_format": "QDQ",
        "onnx_test_accuracy": onnx_acc,
        "pytorch_test_accuracy": torch_acc,
        "onnx_minus_pytorch_points": diff_points,
        "onnx_agreement": float((onnx_logits.argmax(1) == torch_logits.argmax(1)).mean()),
        "onnx_max_abs_diff": float(np.abs(onnx_logits - torch_logits).max()),
        "policy": qnet.policy(),
        **quant_costs(model, tuple(input_shape)),
    }
