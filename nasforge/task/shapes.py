"""Input layouts: how raw arrays become channels-first ``(N, C, L)`` or ``(N, C, H, W)``.

Inference rule (``infer_layout``), used when no layout is given:

- ``(N, L)``            -> ``NL``:   a 1-D signal, becomes ``(N, 1, L)``;
- ``(N, 1, L)``         -> ``NCL``:  already a one-channel signal, kept;
- ``(N, H, W)``, H > 1  -> ``NHW``:  a grey image, becomes ``(N, 1, H, W)``;
- ``(N, H, W, C)`` with C in {1, 3} and H, W > 4 -> ``NHWC``: transposed to ``(N, C, H, W)``;
- any other 4-D shape   -> ``NCHW``: kept.

Multi-channel 1-D signals ``(N, C, L)`` with C > 1 read as images under this rule; pass
``layout="NCL"`` for them.
"""

from __future__ import annotations

import numpy as np

LAYOUTS: dict[str, int] = {"NL": 2, "NCL": 3, "NHW": 3, "NCHW": 4, "NHWC": 4}


def infer_layout(shape: tuple[int, ...]) -> str:
    """The layout of an input array of ``shape`` by the module's rule; ValueError if none fits."""
    if len(shape) == 2:
        return "NL"
    if len(shape) == 3:
        return "NCL" if shape[1] == 1 else "NHW"
    if len(shape) == 4:
        return "NHWC" if shape[3] in (1, 3) and shape[1] > 4 and shape[2] > 4 else "NCHW"
    raise ValueError(
        f"has shape {shape}; expected (N, L), (N, C, L), (N, H, W), (N, C, H, W) or (N, H, W, C)"
    )


def to_channels_first(x: np.ndarray, layout: str) -> np.ndarray:
    """A view of ``x`` (laid out as ``layout``) with the channel axis at 1."""
    if layout not in LAYOUTS:
        raise ValueError(f"unknown layout {layout!r}; valid: {', '.join(LAYOUTS)}")
    if x.ndim != LAYOUTS[layout]:
        raise ValueError(f"has shape {x.shape}; layout {layout} needs {LAYOUTS[layout]} dimensions")
    if layout in ("NL", "NHW"):
        return x[:, None]
    if layout == "NHWC":
        return x.transpose(0, 3, 1, 2)
    return x
