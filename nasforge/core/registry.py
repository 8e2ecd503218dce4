"""One small, strict registry type; one instance per noun (spaces, strategies, tasks, ...).

A registry maps a name to a class or factory (never an instance). Registering a name twice
raises, and looking up an unknown name raises an error that lists the valid names, so the CLI,
configs and contract tests all share one source of truth.
"""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Callable
from typing import Generic, TypeVar

T = TypeVar("T")


class UnknownNameError(KeyError):
    """Raised for a name that is not registered; its message lists the valid names."""

    def __str__(self) -> str:  # KeyError quotes its argument; we want a plain sentence.
        return str(self.args[0])


class Registry(Generic[T]):
    """A name -> factory mapping for one noun.

    ``modules`` lists modules imported on first lookup so that built-ins register themselves
    lazily (importing the CLI therefore does not import torch).
    """

    def __init__(self, noun: str, modules: tuple[str, ...] = ()) -> None:
        self.noun = noun
        self._modules = modules
        self._loaded = False
        self._entries: dict[str, T] = {}

    def register(self, name: str) -> Callable[[T], T]:
        """Decorator: ``@registry.register("name")`` on a class or factory function."""

        def decorator(obj: T) -> T:
            if name in self._entries and self._entries[name] is not obj:
                raise ValueError(f"{self.noun} {name!r} is already registered")
            self._entries[name] = obj
            return obj

        return decorator

    def _load(self) -> None:
        if not self._loaded:
            self._loaded = True
            for module in self._modules:
                importlib.import_module(module)

    def get(self, name: str) -> T:
        """The factory registered as ``name``; unknown names list the valid ones."""
        self._load()
        try:
            return self._entries[name]
        except KeyError:
            valid = ", ".join(sorted(self._entries)) or "(none)"
            raise UnknownNameError(f"unknown {self.noun} {name!r}; valid: {valid}") from None

    def create(self, name: str, **settings: object) -> object:
        """Call the factory ``name`` with ``settings``; unknown setting names are refused by name."""
        factory = self.get(name)
        target = factory.__init__ if inspect.isclass(factory) else factory
        params = inspect.signature(target).parameters
        if not any(p.kind is p.VAR_KEYWORD for p in params.values()):
            valid = [p for p in params if p not in ("self", "cls")]
            unknown = sorted(set(settings) - set(valid))
            if unknown:
                raise ValueError(f"{self.noun} {name!r} has no setting(s) {unknown}; settings: {valid}")
        return factory(**settings)

    def list(self) -> list[str]:
        """All registered names, sorted."""
        self._load()
        return sorted(self._entries)

    def __contains__(self, name: object) -> bool:
        self._load()
        return name in self._entries
