"""Spaces, choices and architectures."""

from nasforge.space.arch import Arch
from nasforge.space.choice import Choice
from nasforge.space.registry import SPACES, get_space, register_space
from nasforge.space.space import Space

__all__ = ["Arch", "Choice", "Space", "SPACES", "get_space", "register_space"]
