"""A strategy that proposes a fixed list of architectures, in order, then stops.

For loops whose architectures are chosen beforehand (``nasforge proxies`` scores a sample or a
file of keys), so that they too run on the one Experiment loop: ask -> evaluate -> tell -> store.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence

from nasforge.core.objectives import Constraint, Objective
from nasforge.core.services import Services
from nasforge.space.arch import Arch
from nasforge.space.space import Space
from nasforge.strategy.base import Strategy, register_strategy

_PREFIX = re.compile(r"[A-Za-z][\w.+-]*")


@register_strategy("given")
class GivenArchs(Strategy):
    """Proposes ``archs`` (architecture keys, with or without the space prefix) in the order
    given, each once (a repeated key is proposed at its first place), then ``None``; results
    are not used. Empty ``archs``: every architecture of the space, in enumeration order
    (enumerated as asked, so a large space costs nothing up front).

    The seed is not used: two runs propose the same list. ``setup`` refuses a key of another
    space or one that does not parse.
    """

    def __init__(self, archs: Sequence[str] = ()) -> None:
        self.archs = archs

    def setup(self, space: Space, objectives: Sequence[Objective], constraints: Sequence[Constraint] = (),
              seed: int = 0, services: Services | None = None) -> None:
        super().setup(space, objectives, constraints, seed, services)
        keys = [self.archs] if isinstance(self.archs, str) else list(self.archs)
        parsed = [self._parse(key) for key in keys]  # every key checked here, before any ask
        self._order: Iterator[Arch] = iter(parsed) if parsed else space.enumerate(limit=space.size)

    def _parse(self, key: str) -> Arch:
        if not isinstance(key, str):
            raise ValueError(f"strategy 'given': archs must be architecture keys (strings), got {key!r}")
        head, sep, _ = key.strip().partition(":")
        if sep and _PREFIX.fullmatch(head) and head != self.space.name:
            raise ValueError(f"strategy 'given': {key!r} is an architecture of space {head!r}, not of "
                             f"{self.space.name!r}")
        return self.space.parse(key.strip())

    def ask(self) -> Arch | None:
        """The next architecture of the list not yet proposed, or ``None`` at its end."""
        for arch in self._order:  # a repeated key is skipped
            if arch.key not in self.asked:
                self.asked.add(arch.key)
                return arch
        return None
