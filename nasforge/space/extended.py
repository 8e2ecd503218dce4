"""A base space plus extra decisions (recipe, fidelity, quantization...): the structure that the
``joint`` and ``quant`` spaces share. The base space's decisions keep their names, structure,
canonical form and sampler; the extras are always active and sampled uniformly."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from nasforge.space.arch import Arch
from nasforge.space.choice import Choice
from nasforge.space.space import Space


class ExtendedSpace(Space):
    """``base`` plus ``extras`` (choices whose names must not clash with the base's; ``what``
    names them in that error). Subclasses write their own key format and ``build``."""

    def __init__(self, base: Space, extras: Sequence[Choice], name: str, what: str) -> None:
        clash = {c.name for c in extras} & {c.name for c in base.choices}
        if clash:
            raise ValueError(f"decision(s) {sorted(clash)} of space {base.name!r} clash with {what} names")
        self.base = base
        self.extra_names = tuple(c.name for c in extras)
        super().__init__([*base.choices, *extras], name=name)

    # ---------------------------------------------------------------- split / join
    def base_arch(self, arch: Arch) -> Arch:
        """The base space's part of ``arch``, as an Arch of the base space."""
        return self.base.arch({c.name: arch[c.name] for c in self.base.choices})

    def join(self, base_arch: Arch, **extras: Any) -> Arch:
        """An arch of this space from a base arch and every extra decision."""
        return self.arch({**base_arch.to_dict(), **extras})

    def _split(self, values: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
        return {c.name: values[c.name] for c in self.base.choices}, {n: values[n] for n in self.extra_names}

    # ------------------------------------------------------------ structure hooks
    def active(self, values: Mapping[str, Any]) -> set[str]:
        return self.base.active(self._split(values)[0]) | set(self.extra_names)

    def canonical(self, values: Mapping[str, Any]) -> dict[str, Any]:
        base, extra = self._split(values)
        return {**self.base.canonical(base), **extra}

    def is_valid(self, values: Mapping[str, Any]) -> bool:
        return self.base.is_valid(self._split(values)[0])

    # -------------------------------------------------------------- operators
    def sample(self, rng: np.random.Generator) -> Arch:
        """The base space's own sampler, then uniform extra decisions."""
        base = self.base.sample(rng)
        extras = {n: self.choice(n).options[int(rng.integers(len(self.choice(n))))] for n in self.extra_names}
        return self.join(base, **extras)

    @property
    def encoding_size(self) -> int:
        return self.base.encoding_size + sum(len(self.choice(n)) for n in self.extra_names)

    def encode(self, arch: Arch) -> np.ndarray:
        """The base space's encoding, then the extra decisions one-hot."""
        parts = [self.base.encode(self.base_arch(arch))]
        for n in self.extra_names:
            one = np.zeros(len(self.choice(n)), dtype=np.float32)
            one[self.choice(n).index(arch[n])] = 1.0
            parts.append(one)
        return np.concatenate(parts).astype(np.float32)

    # ------------------------------------------------------ what the base offers
    @property
    def can_build(self) -> bool:
        return self.base.can_build

    @property
    def default_task(self) -> str | None:
        """The base space's default data."""
        return getattr(self.base, "default_task", None)

    @property
    def task_kind(self) -> str | None:
        """The kind of task the base's networks are for (``"sequence"`` for ``gpt``), if it says."""
        return getattr(self.base, "task_kind", None)

    @property
    def default_input_shape(self) -> tuple[int, ...] | None:
        return getattr(self.base, "default_input_shape", None)

    @property
    def default_num_classes(self) -> int:
        return getattr(self.base, "default_num_classes", 10)
