"""Measured inference latency: PyTorch eager and ONNX Runtime, on CPU (or CUDA when present).

Backends: ``torch`` (eager), ``onnx`` (the float model in ONNX Runtime) and ``onnx_int8`` (the
model quantized to INT8 by ONNX Runtime's static quantizer, run with its integer kernels; a
quantized network keeps its 32-bit layers in float: :mod:`nasforge.hardware.int8`). A
network of a ``quant`` space runs pruned and in float in ``onnx``, with its layers of at most 8
bits in INT8 in ``onnx_int8``, and with simulated (fake) quantization in ``torch``.

Protocol: eval mode, ``torch.inference_mode``; a fixed input of ``batch_size`` samples;
``warmup`` untimed runs, then ``repeats`` timed runs (``time.perf_counter`` around one forward;
on CUDA after a synchronize); the garbage collector is paused while timing. The result is the
median and interquartile range in milliseconds.

Clock: ``wall`` (default) is elapsed time, the latency a user sees. ``cpu`` is the CPU time of
the calling thread (``time.thread_time``): with one thread on the CPU it equals the wall time
of an undisturbed run, but it does not count time the scheduler gives to other processes, so it
stays stable on a shared, loaded machine (there it is the better estimate of the latency of the
same code on an idle one; cache and memory-bandwidth contention still show). Threads are pinned for the measurement:
``torch.set_num_threads(threads)`` or ONNX Runtime's ``intra_op_num_threads`` (one inter-op
thread, sequential execution), and optionally the process's CPU affinity (``cpus``); the
previous settings are restored afterwards. ONNX Runtime on CUDA times host-to-device copies of
the input and output too.

Token models (a network with ``input_dtype = torch.int64``, e.g. ``gpt``) are timed on int64
token ids (:func:`nasforge.space.inputs.example_input`); ``seq_len`` times them on that many
tokens instead of the task's context length (HAT, Wang et al. 2020, measures at given sentence
lengths), and ``batch_size`` sequences at once.

ONNX: :func:`export_onnx` uses the dynamo exporter at its default opset; an ``opset`` below 18
(e.g. 17, the first with ``LayerNormalization``) uses the TorchScript exporter, which the
dynamo exporter falls back on no lower than 18. Attention (``scaled_dot_product_attention``)
exports at both as MatMul/Softmax subgraphs.
"""

from __future__ import annotations

import contextlib
import copy
import gc
import logging
import os
import time
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from nasforge.space.inputs import example_input, takes_tokens

if TYPE_CHECKING:
    from torch import nn

BACKENDS = ("torch", "onnx", "onnx_int8")


@dataclass(frozen=True)
class LatencySettings:
    """How to measure: backend (``torch`` | ``onnx`` | ``onnx_int8``), device (``cpu`` | ``cuda``), batch size,
    threads, warm-up and timed repeats, clock (``wall`` | ``cpu``, see the module docstring)
    and optional CPU cores to pin the process to."""

    backend: str = "torch"
    device: str = "cpu"
    batch_size: int = 1
    threads: int = 1
    warmup: int = 10
    repeats: int = 30
    clock: str = "wall"
    cpus: tuple[int, ...] | None = None
    seq_len: int | None = None

    def __post_init__(self) -> None:
        if self.backend not in BACKENDS:
            raise ValueError(f"latency backend {self.backend!r} unknown; valid: {', '.join(BACKENDS)}")
        if self.device not in ("cpu", "cuda"):
            raise ValueError(f"latency device must be 'cpu' or 'cuda', got {self.device!r}")
        for name in ("batch_size", "threads", "repeats"):
            if getattr(self, name) < 1:
                raise ValueError(f"latency setting {name} must be >= 1, got {getattr(self, name)}")
        if self.clock not in ("wall", "cpu"):
            raise ValueError(f"latency clock must be 'wall' or 'cpu', got {self.clock!r}")
        if self.clock == "cpu" and (self.device != "cpu" or self.threads != 1):
            raise ValueError("latency clock 'cpu' times the calling thread only; "
                             "it needs device='cpu' and threads=1")
        if self.warmup < 0:
            raise ValueError(f"latency setting warmup must be >= 0, got {self.warmup}")
        if self.seq_len is not None and (isinstance(self.seq_len, bool) or not isinstance(self.seq_len, int)
                                         or self.seq_len < 1):
            raise ValueError(f"latency setting seq_len must be a positive integer (tokens), got {self.seq_len!r}")

    def record(self) -> dict[str, object]:
        """The settings as a plain dict (for cache files), ``seq_len`` only when set."""
        from dataclasses import asdict

        out = asdict(self)
        if out["seq_len"] is None:
            del out["seq_len"]  # files written before the setting existed still match
        return out


@dataclass(frozen=True)
class LatencyStats:
    """Median and interquartile range (ms) of the timed runs, with the raw samples."""

    median_ms: float
    iqr_ms: float
    samples_ms: tuple[float, ...] = field(repr=False)


def measure_latency(model: nn.Module, input_shape: tuple[int, ...],
                    settings: LatencySettings | None = None) -> LatencyStats:
    """Time one forward of ``model`` on ``(batch_size, *input_shape)`` inputs (in eval mode; the
    model is moved to ``settings.device``, its training flag is restored afterwards)."""
    import torch

    s = settings or LatencySettings()
    if s.device == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("latency device 'cuda' asked for, but torch sees no CUDA device")
    if s.seq_len is not None:
        if not takes_tokens(model):
            raise ValueError(f"latency setting seq_len={s.seq_len} is for token models (e.g. space 'gpt'); this "
                             f"network takes float inputs shaped {tuple(input_shape)}")
        input_shape = (s.seq_len,)
    was_training = model.training
    try:
        with _pinned(s):
            if s.backend == "torch":
                run = _torch_runner(model, input_shape, s)
            elif s.backend == "onnx":
                run = _onnx_runner(model, input_shape, s)
            else:
                run = _onnx_int8_runner(model, input_shape, s)
            return _time(run, s)
    finally:
        model.train(was_training)


def export_onnx(model: nn.Module, input_shape: tuple[int, ...], batch_size: int = 1,
                opset: int | None = None) -> bytes:
    """The model as ONNX bytes (``torch.onnx.export`` in eval mode: the dynamo exporter at
    ``opset`` (default: its own), the TorchScript exporter for an ``opset`` below 18)."""
    import io

    import torch

    if opset is not None and (isinstance(opset, bool) or not isinstance(opset, int) or opset < 13):
        raise ValueError(f"ONNX opset must be an integer >= 13, got {opset!r}")

    was_training = model.training
    model.eval()
    x = example_input(model, input_shape, batch_size)  # token ids for a language model
    onnx_log = logging.getLogger("torch.onnx")
    level = onnx_log.level
    onnx_log.setLevel(logging.ERROR)  # the exporter logs about optional torchvision ops
    try:
        with (open(os.devnull, "w") as sink, contextlib.redirect_stdout(sink),
              warnings.catch_warnings()):
            warnings.simplefilter("ignore")
            if opset is not None and opset < 18:
                buffer = io.BytesIO()
                torch.onnx.export(model, (x,), buffer, dynamo=False, opset_version=opset)
                return buffer.getvalue()
            program = torch.onnx.export(model, (x,), dynamo=True, verbose=False,
                                        **({"opset_version": opset} if opset is not None else {}))
    finally:
        onnx_log.setLevel(level)
        model.train(was_training)
    return program.model_proto.SerializeToString()


def onnx_session(onnx_bytes: bytes, threads: int = 1, device: str = "cpu",
                 disabled_optimizers: tuple[str, ...] = ()) -> object:
    """An ONNX Runtime session with pinned threads (``intra_op_num_threads``), without the graph
    optimizers named in ``disabled_optimizers``."""
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = 1
    opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    providers = ["CPUExecutionProvider"]
    if device == "cuda":
        if "CUDAExecutionProvider" not in ort.get_available_providers():
            raise RuntimeError("ONNX Runtime has no CUDAExecutionProvider (install onnxruntime-gpu)")
        providers.insert(0, "CUDAExecutionProvider")
    return ort.InferenceSession(onnx_bytes, opts, providers=providers, disabled_optimizers=list(disabled_optimizers))


def _torch_runner(model: nn.Module, input_shape: tuple[int, ...],
                  s: LatencySettings) -> Callable[[], object]:
    import torch

    model = model.eval().to(s.device)
    gen = torch.Generator(device=s.device).manual_seed(0)  # a fixed input; the caller's stream is untouched
    x = example_input(model, input_shape, s.batch_size, random=True, device=s.device, generator=gen)
    sync = torch.cuda.synchronize if s.device == "cuda" else (lambda: None)

    def run() -> object:
        with torch.inference_mode():
            out = model(x)
        sync()
        return out

    return run


def _onnx_runner(model: nn.Module, input_shape: tuple[int, ...],
                 s: LatencySettings) -> Callable[[], object]:
    from nasforge.space.quantnet import find_quantized

    quantized = find_quantized(model)
    if quantized is not None:  # the float network (masks on): the fake quantization is for training
        model = copy.deepcopy(model)
        quantized = find_quantized(model)
        quantized.set_mode(quantize=False, prune=True).fold_masks()  # type: ignore[union-attr]
    session = onnx_session(export_onnx(model.cpu(), input_shape, s.batch_size), s.threads, s.device)
    name = session.get_inputs()[0].name  # type: ignore[attr-defined]
    x = (example_input(model, input_shape, s.batch_size).numpy() if takes_tokens(model) else
         np.random.default_rng(0).standard_normal((s.batch_size, *input_shape)).astype(np.float32))
    return lambda: session.run(None, {name: x})  # type: ignore[attr-defined]


def _onnx_int8_runner(model: nn.Module, input_shape: tuple[int, ...],
                      s: LatencySettings) -> Callable[[], object]:
    from nasforge.hardware.int8 import KEEP_FLOAT, int8_onnx

    session = onnx_session(int8_onnx(model.cpu(), input_shape), s.threads, s.device, KEEP_FLOAT)
    name = session.get_inputs()[0].name  # type: ignore[attr-defined]
    x = np.random.default_rng(0).standard_normal((s.batch_size, *input_shape)).astype(np.float32)
    return lambda: session.run(None, {name: x})  # type: ignore[attr-defined]


def _time(run: Callable[[], object], s: LatencySettings) -> LatencyStats:
    for _ in range(s.warmup):
        run()
    clock = time.thread_time if s.clock == "cpu" else time.perf_counter
    samples = np.empty(s.repeats)
    gc_was_enabled = gc.isenabled()
    gc.disable()
    try:
        for i in range(s.repeats):
            start = clock()
            run()
            samples[i] = (clock() - start) * 1e3
    finally:
        if gc_was_enabled:
            gc.enable()
    q25, q50, q75 = np.percentile(samples, [25, 50, 75])
    return LatencyStats(float(q50), float(q75 - q25), tuple(float(v) for v in samples))


@contextlib.contextmanager
def _pinned(s: LatencySettings) -> Iterator[None]:
    import torch

    threads = torch.get_num_threads()
    affinity = os.sched_getaffinity(0) if s.cpus is not None and hasattr(os, "sched_getaffinity") else None
    torch.set_num_threads(s.threads)
    if affinity is not None:
        os.sched_setaffinity(0, s.cpus)
    try:
        yield
    finally:
        torch.set_num_threads(threads)
        if affinity is not None:
            os.sched_setaffinity(0, affinity)
