"""Architecture encodings for predictor-guided strategies.

``encoder_for(space, "auto")`` returns a function ``archs -> float32 matrix``. ``onehot`` is the
space's own :meth:`~nasforge.space.space.Space.encode` (one block per decision); ``path`` is the
path encoding of White et al. 2021 (BANANAS) for cell spaces: one feature per input-to-output
path of the cell and sequence of operations on it, so cells that compute along the same paths
encode alike. ``auto`` concatenates the path and one-hot encodings where a space has a path
encoding (``nb201``) and is the one-hot encoding elsewhere.

Space-specific encodings live here, keyed by space name, because a strategy only knows the
Space; a space that grows its own path encoding can take this one's place.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from itertools import product

import numpy as np

from nasforge.space.arch import Arch
from nasforge.space.space import Space

Encoder = Callable[[Sequence[Arch]], np.ndarray]


def onehot(space: Space) -> Encoder:
    """The space's one-hot encoding, stacked."""

    def encode(archs: Sequence[Arch]) -> np.ndarray:
        if not archs:
            return np.zeros((0, space.encoding_size), dtype=np.float32)
        return np.stack([space.encode(a) for a in archs])

    return encode


def nb201_path(space: Space) -> Encoder:
    """Path encoding of the NAS-Bench-201 cell: 4 + 16 + 16 + 64 = 100 binary features.

    The cell's input-to-output paths are 0-3, 0-1-3, 0-2-3 and 0-1-2-3; a path is present when
    none of its edges is ``none``, and its feature says which operations it passes through.
    """
    ops = [o for o in space.choice("edge_1_0").options if o != "none"]
    paths = (("edge_3_0",), ("edge_1_0", "edge_3_1"), ("edge_2_0", "edge_3_2"),
             ("edge_1_0", "edge_2_1", "edge_3_2"))
    index: dict[tuple[int, tuple[str, ...]], int] = {}
    for p, edges in enumerate(paths):
        for seq in product(ops, repeat=len(edges)):
            index[(p, seq)] = len(index)

    def encode(archs: Sequence[Arch]) -> np.ndarray:
        out = np.zeros((len(archs), len(index)), dtype=np.float32)
        for row, arch in enumerate(archs):
            for p, edges in enumerate(paths):
                seq = tuple(arch[e] for e in edges)
                if "none" not in seq:
                    out[row, index[(p, seq)]] = 1.0
        return out

    return encode


PATH_ENCODINGS: dict[str, Callable[[Space], Encoder]] = {"nb201": nb201_path}


def encoder_for(space: Space, kind: str = "auto") -> Encoder:
    """An encoder of ``kind`` (``auto``, ``onehot``, ``path``, ``path+onehot``) for ``space``."""
    if kind == "onehot" or (kind == "auto" and space.name not in PATH_ENCODINGS):
        return onehot(space)
    if space.name not in PATH_ENCODINGS:
        raise ValueError(f"encoding {kind!r}: space {space.name!r} has no path encoding; "
                         f"spaces with one: {sorted(PATH_ENCODINGS)} (use 'onehot' or 'auto')")
    path = PATH_ENCODINGS[space.name](space)
    if kind == "path":
        return path
    if kind not in ("auto", "path+onehot"):
        raise ValueError(f"unknown encoding {kind!r}; choose auto, onehot, path or path+onehot")
    hot = onehot(space)
    return lambda archs: np.concatenate([path(archs), hot(archs)], axis=1)
