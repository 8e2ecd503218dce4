"""The registry of built-in spaces: ``get_space("conv1d")``."""

from __future__ import annotations

from typing import Any

from nasforge.core.registry import Registry
from nasforge.space.space import Space

SPACES: Registry[type[Space]] = Registry(
    "space",
    modules=(
        "nasforge.space.conv1d",
        "nasforge.space.nb201",
        "nasforge.space.macro",
        "nasforge.space.mbconv",
        "nasforge.space.joint",
        "nasforge.space.quant",
        "nasforge.space.gpt",
        "nasforge.space.vit",
        "nasforge.space.hf_lm",
    ),
)

register_space = SPACES.register


def get_space(name: str, **kwargs: Any) -> Space:
    """A new instance of the registered space ``name``."""
    return SPACES.get(name)(**kwargs)
