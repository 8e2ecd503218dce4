"""Arch: one point of a space, an immutable mapping decision -> value with a canonical key."""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from typing import Any


class Arch(Mapping[str, Any]):
    """An immutable, hashable architecture.

    ``key`` is ``"<space>:<body>"``, where the body is the space's own readable string (for
    NAS-Bench-201 the benchmark's architecture string). Equality, hashing, deduplication and
    storage all use the key. Build an Arch through its space (``space.arch(values)``,
    ``space.parse(key)``) so the values are validated and canonical.
    """

    __slots__ = ("_space", "_values", "_body")

    def __init__(self, space: str, values: Mapping[str, Any], body: str) -> None:
        object.__setattr__(self, "_space", space)
        object.__setattr__(self, "_values", dict(values))
        object.__setattr__(self, "_body", body)

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError("Arch is immutable")

    @property
    def space(self) -> str:
        """Name of the space this arch belongs to."""
        return self._space

    @property
    def body(self) -> str:
        """The space-specific part of the key (e.g. the NAS-Bench-201 string)."""
        return self._body

    @property
    def key(self) -> str:
        """Canonical string key ``"<space>:<body>"``."""
        return f"{self._space}:{self._body}"

    def __getitem__(self, name: str) -> Any:
        return self._values[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._values)

    def __len__(self) -> int:
        return len(self._values)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Arch) and other.key == self.key

    def __hash__(self) -> int:
        return hash(self.key)

    def __repr__(self) -> str:
        return f"Arch({self.key!r})"

    def to_dict(self) -> dict[str, Any]:
        """A plain dict of the decisions."""
        return dict(self._values)

    def to_json(self) -> str:
        """JSON text ``{"space": ..., "key": ..., "values": {...}}``; see ``Space.from_json``."""
        return json.dumps({"space": self.space, "key": self.key, "values": self._values}, sort_keys=True)
