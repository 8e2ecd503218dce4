"""Space: named choices, the operators search strategies use, and a model builder.

A space never trains or evaluates anything. Strategies use ``sample``, ``mutate``,
``neighbours``, ``encode`` and ``enumerate``; evaluators use ``build(arch, task)``.

Subclasses may override:
- ``format_body`` / ``parse_body`` for a readable key (e.g. the NAS-Bench-201 string),
- ``active`` for conditional decisions (decisions that do not matter for an arch are reset to
  their first option by ``canonical``, so equivalent archs share one key),
- ``canonical`` for other equivalences, ``is_valid`` for constraints among decisions,
- ``build`` for the network.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterator, Mapping, Sequence
from itertools import product
from typing import TYPE_CHECKING, Any

import numpy as np

from nasforge.space.arch import Arch
from nasforge.space.choice import Choice

if TYPE_CHECKING:  # torch stays out of import time
    from torch import nn

BuildFn = Callable[[Arch, Any], "nn.Module"]

_MAX_SAMPLE_TRIES = 1000


class Space:
    """A search space: an ordered set of :class:`Choice` and a model builder.

    ``Space({"width": [8, 16], "depth": [1, 2]}, build=fn, name="mine")`` defines a space in
    one line; ``fn(arch, task)`` returns an ``nn.Module`` for ``task.input_shape`` and
    ``task.num_classes``.
    """

    name: str = "custom"

    def __init__(
        self,
        choices: Mapping[str, Sequence[Any]] | Sequence[Choice],
        build: BuildFn | None = None,
        name: str | None = None,
    ) -> None:
        if isinstance(choices, Mapping):
            items = [Choice(k, v) for k, v in choices.items()]
        else:
            items = list(choices)
        if not items:
            raise ValueError("a space needs at least one choice (this one is empty)")
        names = [c.name for c in items]
        if len(set(names)) != len(names):
            raise ValueError(f"a space has repeated choice names: {names}")
        self.choices: tuple[Choice, ...] = tuple(items)
        self._by_name = {c.name: c for c in items}
        self._build_fn = build
        if name is not None:
            self.name = name
        if ":" in self.name:
            raise ValueError(f"space name {self.name!r} must not contain ':'")

    # ----------------------------------------------------------------- values and keys
    def choice(self, name: str) -> Choice:
        """The choice called ``name``."""
        try:
            return self._by_name[name]
        except KeyError:
            raise KeyError(f"space {self.name!r} has no decision {name!r}; decisions: {list(self._by_name)}") from None

    def arch(self, values: Mapping[str, Any]) -> Arch:
        """Validate ``values`` (every decision, nothing else) and return the canonical Arch."""
        unknown = set(values) - set(self._by_name)
        if unknown:
            raise ValueError(f"space {self.name!r} has no decision(s) {sorted(unknown)}; decisions: {list(self._by_name)}")
        missing = [c.name for c in self.choices if c.name not in values]
        if missing:
            raise ValueError(f"space {self.name!r}: missing value(s) for {missing}")
        clean = {c.name: c.options[c.index(values[c.name])] for c in self.choices}
        clean = self.canonical(clean)
        if not self.is_valid(clean):
            raise ValueError(f"{clean} is not a valid architecture of space {self.name!r}")
        return Arch(self.name, clean, self.format_body(clean))

    def parse(self, key: str) -> Arch:
        """The Arch for a key, with or without the ``"<space>:"`` prefix."""
        prefix = f"{self.name}:"
        body = key[len(prefix):] if key.startswith(prefix) else key
        try:
            values = self.parse_body(body)
        except (ValueError, KeyError, IndexError) as exc:
            raise ValueError(f"{key!r} is not an architecture key of space {self.name!r}: {exc}") from None
        return self.arch(values)

    def from_json(self, text: str) -> Arch:
        """Inverse of :meth:`Arch.to_json`."""
        data = json.loads(text)
        if data.get("space") != self.name:
            raise ValueError(f"arch JSON is for space {data.get('space')!r}, not {self.name!r}")
        return self.arch(data["values"])

    def format_body(self, values: Mapping[str, Any]) -> str:
        """Readable key body; default ``name=value,...`` in choice order."""
        return ",".join(f"{c.name}={values[c.name]}" for c in self.choices)

    def parse_body(self, body: str) -> dict[str, Any]:
        """Inverse of :meth:`format_body`."""
        values: dict[str, Any] = {}
        for part in body.split(","):
            name, sep, text = part.partition("=")
            if not sep:
                raise ValueError(f"expected name=value, got {part!r}")
            values[name] = self.choice(name).options[self.choice(name).index(text)]
        return values

    # ------------------------------------------------------------------ structure hooks
    def active(self, values: Mapping[str, Any]) -> set[str]:
        """Decisions that matter for these values (default: all)."""
        return set(self._by_name)

    def canonical(self, values: Mapping[str, Any]) -> dict[str, Any]:
        """Equivalent values in canonical form: inactive decisions take their first option."""
        active = self.active(values)
        return {c.name: (values[c.name] if c.name in active else c.options[0]) for c in self.choices}

    def is_valid(self, values: Mapping[str, Any]) -> bool:
        """Whether the (canonical) values form a legal architecture (default: always)."""
        return True

    # --------------------------------------------------------------- search operators
    @property
    def size(self) -> int:
        """Number of distinct decision combinations (an upper bound on distinct archs)."""
        return math.prod(len(c) for c in self.choices)

    def sample(self, rng: np.random.Generator) -> Arch:
        """A uniformly random architecture (uniform over decisions, then canonicalised)."""
        for _ in range(_MAX_SAMPLE_TRIES):
            values = {c.name: c.options[int(rng.integers(len(c)))] for c in self.choices}
            values = self.canonical(values)
            if self.is_valid(values):
                return Arch(self.name, values, self.format_body(values))
        raise RuntimeError(f"space {self.name!r}: no valid architecture in {_MAX_SAMPLE_TRIES} samples")

    def sample_distinct(self, n: int, rng: np.random.Generator | int = 0) -> list[Arch]:
        """Up to ``n`` distinct architectures drawn uniformly (fewer if the space is smaller)."""
        rng = np.random.default_rng(rng) if isinstance(rng, int) else rng
        seen: dict[str, Arch] = {}
        for _ in range(100 * n):
            arch = self.sample(rng)
            seen.setdefault(arch.key, arch)
            if len(seen) == n:
                break
        return list(seen.values())

    def mutate(self, arch: Arch, rng: np.random.Generator) -> Arch:
        """Change one active decision to a different option (a random one-edit neighbour)."""
        options = self.neighbours(arch)
        if not options:
            return arch
        return options[int(rng.integers(len(options)))]

    def neighbours(self, arch: Arch) -> list[Arch]:
        """All distinct valid archs one decision away, in a deterministic order."""
        seen = {arch.key}
        out: list[Arch] = []
        base = arch.to_dict()
        for name in (c.name for c in self.choices if c.name in self.active(base)):
            for opt in self.choice(name).options:
                if opt == base[name]:
                    continue
                values = self.canonical({**base, name: opt})
                if not self.is_valid(values):
                    continue
                other = Arch(self.name, values, self.format_body(values))
                if other.key not in seen:
                    seen.add(other.key)
                    out.append(other)
        return out

    def enumerate(self, limit: int = 1_000_000) -> Iterator[Arch]:
        """Every distinct architecture (refuses spaces larger than ``limit`` combinations)."""
        if self.size > limit:
            raise ValueError(f"space {self.name!r} has {self.size} combinations, more than limit={limit}")
        seen: set[str] = set()
        for combo in product(*(c.options for c in self.choices)):
            values = self.canonical(dict(zip((c.name for c in self.choices), combo, strict=True)))
            if not self.is_valid(values):
                continue
            arch = Arch(self.name, values, self.format_body(values))
            if arch.key not in seen:
                seen.add(arch.key)
                yield arch

    @property
    def encoding_size(self) -> int:
        """Length of :meth:`encode`'s vector."""
        return sum(len(c) for c in self.choices)

    def encode(self, arch: Arch) -> np.ndarray:
        """One-hot encoding, concatenated over choices in order (float32)."""
        vec = np.zeros(self.encoding_size, dtype=np.float32)
        offset = 0
        for c in self.choices:
            vec[offset + c.index(arch[c.name])] = 1.0
            offset += len(c)
        return vec

    # ---------------------------------------------------------------------- the model
    def build(self, arch: Arch, task: Any) -> nn.Module:
        """The ``nn.Module`` for ``arch`` on ``task`` (input_shape, num_classes)."""
        if self._build_fn is None:
            raise NotImplementedError(f"space {self.name!r} has no model builder")
        return self._build_fn(arch, task)

    @property
    def can_build(self) -> bool:
        """Whether :meth:`build` is available (tabular-only spaces may not build)."""
        return self._build_fn is not None or type(self).build is not Space.build

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r}, choices={len(self.choices)}, size={self.size})"
