"""Read a CIFAR-10 python batch without running any code from the file.

The official batches are pickles (a dict of a uint8 ``b"data"`` array and a ``b"labels"`` list).
A pickle names the functions and classes that rebuild its objects, and a plain ``pickle.load``
calls whatever it names, so a crafted batch would run the attacker's code. :class:`CifarUnpickler`
admits only what the format holds: NumPy's ndarray reconstruction (``_reconstruct``,
``ndarray``, ``dtype``), ``bytes`` and the latin-1 ``_codecs.encode`` that protocol 2 uses for
bytes; every other global is refused with :class:`UnsafeFileError` before anything is called.

This is the only module of nasforge that unpickles a file (``docs/trust.md``).
"""

from __future__ import annotations

import codecs
import pickle
from pathlib import Path
from typing import Any

import numpy as np

from nasforge.task.task import TaskDataError


class UnsafeFileError(TaskDataError):
    """A data file that asks to run something its format never holds; nothing of it was run."""


def _latin1_encode(text: str, encoding: str = "utf-8", errors: str = "strict") -> bytes:
    """``_codecs.encode`` as protocol 2 uses it for ``bytes`` (latin-1 only)."""
    if not isinstance(text, str) or encoding.replace("-", "").replace("_", "").lower() != "latin1":
        raise pickle.UnpicklingError(f"_codecs.encode is admitted for latin-1 text only, got {encoding!r}")
    return codecs.encode(text, "latin-1", errors)


_RECONSTRUCT = np.empty(0).__reduce__()[0]  # numpy(._core|.core).multiarray._reconstruct, either NumPy

#: Python 2 module names (which protocols 0-2 write) as Python 3 spells them
_PY2_MODULES = {"__builtin__": "builtins", "copy_reg": "copyreg", "cPickle": "pickle"}

#: (module, name) -> the object it may resolve to
ALLOWED_GLOBALS: dict[tuple[str, str], Any] = {
    ("numpy.core.multiarray", "_reconstruct"): _RECONSTRUCT,
    ("numpy._core.multiarray", "_reconstruct"): _RECONSTRUCT,
    ("numpy", "ndarray"): np.ndarray,
    ("numpy", "dtype"): np.dtype,
    ("builtins", "bytes"): bytes,
    ("_codecs", "encode"): _latin1_encode,
}


class CifarUnpickler(pickle.Unpickler):
    """An unpickler that resolves only :data:`ALLOWED_GLOBALS`; ``path`` names the file in errors."""

    def __init__(self, file: Any, path: str | Path) -> None:
        super().__init__(file, encoding="bytes")
        self.path = path

    def find_class(self, module: str, name: str) -> Any:
        module = _PY2_MODULES.get(module, module)
        try:
            return ALLOWED_GLOBALS[(module, name)]
        except KeyError:
            raise UnsafeFileError(
                f"refusing to load {self.path}: it asks to run {f'{module}.{name}'!r}, which a CIFAR-10 "
                "batch never holds (only NumPy arrays, lists, dicts, bytes and strings are read)"
            ) from None

    def persistent_load(self, pid: Any) -> Any:
        raise UnsafeFileError(f"refusing to load {self.path}: it refers to an outside object, "
                              "which a CIFAR-10 batch never holds")


def load_cifar_pickle(path: str | Path) -> Any:
    """The object pickled in ``path``, read with :class:`CifarUnpickler` (bytes stay bytes)."""
    with open(path, "rb") as file:
        return CifarUnpickler(file, path).load()
