"""Random search: uniform samples without repeats (Li & Talwalkar 2019's baseline)."""

from __future__ import annotations

from nasforge.strategy.base import Strategy, register_strategy


@register_strategy("random")
class RandomSearch(Strategy):
    """Uniformly random architectures, never the same one twice."""

    def __init__(self) -> None:
        pass
