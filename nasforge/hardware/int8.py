"""Integer (QDQ) ONNX models that ONNX Runtime runs: export and INT8 latency.

- A network of ``nasforge.space.quant`` (:class:`~nasforge.space.quantnet.QuantizedNetwork`)
  exports its own fake quantization as QuantizeLinear/DequantizeLinear pairs
  (:func:`export_qdq`): int8 weights per output channel, uint8 activations per tensor, at its
  calibrated ranges; 32-bit layers stay float; a ``b < 8``-bit grid is held exactly in the 8-bit
  container (a clamp before each activation pair keeps the ``b``-bit range). ONNX Runtime fuses
  the pairs into integer kernels where its CPU provider has them (``QLinearConv``,
  ``QLinearMatMul``); it has no kernels below 8 bits, so 4-bit layers run, and are timed, as INT8.
- Any other network is quantized uniformly to INT8 by ONNX Runtime's own static quantizer
  (``onnxruntime.quantization.quantize_static``, QDQ format, per-channel int8 weights, uint8
  activations, MinMax calibration) on calibration inputs (:func:`int8_onnx`).

:func:`int8_onnx` is what the latency backend ``onnx_int8`` times
(:mod:`nasforge.hardware.latency`): an uncalibrated quantized network (an untrained one, in a
search's cost sources) is calibrated on a copy with standard-normal inputs first, since latency
does not depend on the values.
"""

from __future__ import annotations

import contextlib
import copy
import io
import logging
import os
import tempfile
import warnings
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from torch import nn

OPSET = 17
CALIBRATION_SAMPLES = 32


def export_qdq(model: nn.Module, input_shape: tuple[int, ...]) -> bytes:
    """``model`` (holding a calibrated :class:`QuantizedNetwork`) as QDQ ONNX bytes with a dynamic
    batch axis (input ``input``, output ``logits``); eval mode, fake quantization and masks on."""
    import torch

    from nasforge.space.quantnet import find_quantized

    qnet = find_quantized(model)
    if qnet is None:
        raise ValueError(f"{type(model).__name__} holds no QuantizedNetwork (build it from a 'quant' space)")
    missing = [i for i, q in enumerate(qnet.quant_layers()) if q.act_bits < 32 and not bool(q.act.observed)]
    if missing:
        raise ValueError(f"activation ranges of layer(s) {missing} were never observed: calibrate the network "
                         "(QuantizedNetwork.calibrate) or train it first")
    was_training, modes = model.training, qnet.modes()
    qnet.set_mode(quantize=True, prune=True)
    model.eval()
    for layer in qnet.quant_layers():
        layer.freeze()
    buffer = io.BytesIO()
    try:
        with _quiet():
            torch.onnx.export(model, (torch.zeros((1, *input_shape)),), buffer, input_names=["input"],
                              output_names=["logits"], dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}},
                              opset_version=OPSET, dynamo=False)
    finally:
        for layer in qnet.quant_layers():
            layer.freeze(False)
        qnet.set_mode(*modes)
        model.train(was_training)
    return buffer.getvalue()


def int8_onnx(model: nn.Module, input_shape: tuple[int, ...], calibration: np.ndarray | None = None) -> bytes:
    """INT8 QDQ ONNX bytes of ``model`` (see the module docstring). ``calibration``: inputs for
    activation ranges where they are needed (default: standard-normal samples)."""
    import torch

    from nasforge.space.quantnet import find_quantized

    if calibration is None:
        calibration = np.random.default_rng(0).standard_normal((CALIBRATION_SAMPLES, *input_shape)).astype(np.float32)
    qnet = find_quantized(model)
    if qnet is not None:
        if any(q.act_bits < 32 and not bool(q.act.observed) for q in qnet.quant_layers()):
            model = copy.deepcopy(model).cpu()
            found = find_quantized(model)
            assert found is not None
            found.calibrate(torch.from_numpy(calibration))
        return export_qdq(model, input_shape)
    return _ort_static_int8(model, input_shape, calibration)


def _ort_static_int8(model: nn.Module, input_shape: tuple[int, ...], calibration: np.ndarray) -> bytes:
    import torch
    from onnxruntime.quantization import (
        CalibrationDataReader,
        QuantFormat,
        QuantType,
        quantize_static,
    )

    class Reader(CalibrationDataReader):
        def __init__(self) -> None:
            self.batches = iter([{"input": calibration[i:i + 8]} for i in range(0, len(calibration), 8)])

        def get_next(self) -> dict[str, np.ndarray] | None:
            return next(self.batches, None)

    was_training = model.training
    model.eval()
    try:
        with tempfile.TemporaryDirectory(prefix="nasforge-int8-") as folder:
            float_path, int8_path = Path(folder) / "float.onnx", Path(folder) / "int8.onnx"
            with _quiet():
                torch.onnx.export(model.cpu(), (torch.zeros((1, *input_shape)),), str(float_path),
                                  input_names=["input"], output_names=["logits"],
                                  dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}},
                                  opset_version=OPSET, dynamo=False)
                quantize_static(str(float_path), str(int8_path), Reader(), quant_format=QuantFormat.QDQ,
                                per_channel=True, weight_type=QuantType.QInt8, activation_type=QuantType.QUInt8)
            return int8_path.read_bytes()
    finally:
        model.train(was_training)


def onnx_predict(onnx_bytes: bytes, x: np.ndarray, batch_size: int = 256, threads: int = 1) -> np.ndarray:
    """Logits of the ONNX model on ``x`` through ONNX Runtime (CPU), in batches."""
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = 1
    session = ort.InferenceSession(onnx_bytes, opts, providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name  # type: ignore[attr-defined]
    parts = [session.run(None, {name: np.ascontiguousarray(x[i:i + batch_size], dtype=np.float32)})[0]  # type: ignore[attr-defined]
             for i in range(0, len(x), batch_size)]
    return np.concatenate(parts)


@contextlib.contextmanager
def _quiet():
    """Silence the exporters' and quantizer's warnings and prints."""
    names = ("torch.onnx", "root")
    levels = [logging.getLogger(n).level for n in names]
    for n in names:
        logging.getLogger(n).setLevel(logging.ERROR)
    try:
        with (open(os.devnull, "w") as sink, contextlib.redirect_stdout(sink), warnings.catch_warnings()):
            warnings.simplefilter("ignore")
            yield
    finally:
        for n, level in zip(names, levels, strict=True):
            logging.getLogger(n).setLevel(level)
