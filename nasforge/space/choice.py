"""A named decision with a finite, ordered list of options."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

Scalar = str | int | float | bool


@dataclass(frozen=True)
class Choice:
    """One decision of a space, e.g. ``Choice("kernel_0", (3, 5, 7))``.

    Options are JSON scalars (str, int, float, bool), unique, and kept in the given order;
    the order defines the one-hot encoding and the canonical "first option".
    """

    name: str
    options: tuple[Scalar, ...]

    def __init__(self, name: str, options: Sequence[Any]) -> None:
        if not name or not isinstance(name, str):
            raise ValueError(f"a choice needs a non-empty string name, got {name!r}")
        opts = tuple(options)
        if not opts:
            raise ValueError(f"choice {name!r} has no options")
        for opt in opts:
            if not isinstance(opt, str | int | float | bool):
                raise TypeError(
                    f"choice {name!r}: option {opt!r} is a {type(opt).__name__}; "
                    "options must be str, int, float or bool"
                )
        if len(set(map(_typed, opts))) != len(opts):
            raise ValueError(f"choice {name!r} has repeated options: {opts}")
        object.__setattr__(self, "name", name)
        object.__setattr__(self, "options", opts)

    def __len__(self) -> int:
        return len(self.options)

    def index(self, value: Any) -> int:
        """Position of ``value`` among the options; a clear error if it is not one."""
        for i, opt in enumerate(self.options):
            if _typed(opt) == _typed(value):
                return i
        # Accept a value given as text (from a key or the CLI) when it names an option.
        for i, opt in enumerate(self.options):
            if str(opt) == str(value):
                return i
        raise ValueError(f"{value!r} is not an option of {self.name!r}; options: {list(self.options)}")


def _typed(value: Any) -> tuple[str, Any]:
    # Keeps True and 1 apart, which plain equality would merge.
    return (type(value).__name__, value)
