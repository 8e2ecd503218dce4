"""One small, strict registry type; one instance per noun (spaces, strategies, tasks, ...).

A registry maps a name to a class or factory (never an instance). Registering a name twice
raises, and looking up an unknown name raises an error that lists the valid names, so the CLI,
configs and contract tests all share one source of truth. ``create`` checks settings against
the factory's signature: unknown names and values of the wrong type are refused with a message
naming the setting, before anything is built.

A registry may also resolve whole families of names dynamically: ``prefixes`` maps a prefix
(``"optuna:"``) to a resolver named as ``"module:function"``, imported on first use, which turns
the rest of the name into a factory or raises :class:`UnknownNameError`. Such names are valid
everywhere a registered name is, but ``list()`` does not enumerate them (``patterns()`` describes
them for help texts and errors).
"""

from __future__ import annotations

import importlib
import inspect
import sys
import typing
from collections.abc import Callable, Mapping
from typing import Any, Generic, TypeVar

T = TypeVar("T")


class UnknownNameError(KeyError, ValueError):
    """Raised for a name that is not registered; its message lists the valid names."""

    def __str__(self) -> str:  # KeyError quotes its argument; we want a plain sentence.
        return str(self.args[0])


class SettingsError(ValueError):
    """Settings that a factory does not take, or values of the wrong type; the message names them."""


class Registry(Generic[T]):
    """A name -> factory mapping for one noun.

    ``modules`` lists modules imported on first lookup so that built-ins register themselves
    lazily (importing the CLI therefore does not import torch). ``aliases`` of a name resolve
    to it but are not listed.
    """

    def __init__(self, noun: str, modules: tuple[str, ...] = (),
                 prefixes: Mapping[str, tuple[str, str]] | None = None) -> None:
        self.noun = noun
        self._modules = modules
        self._loaded = False
        self._entries: dict[str, T] = {}
        self._aliases: dict[str, str] = {}
        #: prefix -> ("module:function" resolver, help pattern such as "optuna:SAMPLER")
        self._prefixes = dict(prefixes or {})
        self._resolved: dict[str, T] = {}

    def register(self, name: str, aliases: tuple[str, ...] = ()) -> Callable[[T], T]:
        """Decorator: ``@registry.register("name")`` on a class or factory function."""

        def decorator(obj: T) -> T:
            for key in (name, *aliases):
                if (key in self._entries and self._entries[key] is not obj) or \
                        (key in self._aliases and self._aliases[key] != name):
                    raise ValueError(f"{self.noun} {key!r} is already registered")
            self._entries[name] = obj
            self._aliases.update({alias: name for alias in aliases})
            return obj

        return decorator

    def _load(self) -> None:
        if not self._loaded:
            self._loaded = True
            for module in self._modules:
                importlib.import_module(module)

    def canonical(self, name: str) -> str:
        """The registered name that ``name`` (a name or an alias) stands for.

        A name with a dynamic prefix is resolved (so a bad one fails here) and returned as given.
        """
        self._load()
        if self._dynamic(name) is not None:
            return name
        name = self._aliases.get(name, name)
        if name not in self._entries:
            valid = ", ".join(sorted(self._entries)) or "(none)"
            more = "".join(f"; or {help_}" for _, help_ in self._prefixes.values())
            raise UnknownNameError(f"unknown {self.noun} {name!r}; valid: {valid}{more}")
        return name

    def get(self, name: str) -> T:
        """The factory registered as ``name``; unknown names list the valid ones."""
        name = self.canonical(name)
        return self._resolved[name] if name in self._resolved else self._entries[name]

    def is_dynamic(self, name: str) -> bool:
        """Whether ``name`` has a dynamically resolved prefix (whether or not it resolves)."""
        return isinstance(name, str) and any(name.startswith(p) for p in self._prefixes)

    def patterns(self) -> list[str]:
        """Help texts of the dynamically resolved name families (e.g. ``optuna:SAMPLER ...``)."""
        return [help_ for _, help_ in self._prefixes.values()]

    def _dynamic(self, name: str) -> T | None:
        """The factory of a name with a dynamic prefix (resolved once), or ``None`` for other names."""
        for prefix, (target, _) in self._prefixes.items():
            if isinstance(name, str) and name.startswith(prefix):
                if name not in self._resolved:
                    module, _, function = target.partition(":")
                    resolver = getattr(importlib.import_module(module), function)
                    self._resolved[name] = resolver(name[len(prefix):])
                return self._resolved[name]
        return None

    def check_settings(self, name: str, settings: Mapping[str, Any]) -> dict[str, Any]:
        """``settings`` checked against factory ``name``'s signature (see :func:`check_settings`)."""
        return check_settings(self.get(name), settings, f"{self.noun} {self.canonical(name)!r}")

    def create(self, name: str, **settings: Any) -> Any:
        """Call the factory ``name`` with ``settings``, checked first (see :func:`check_settings`)."""
        return self.get(name)(**self.check_settings(name, settings))

    def list(self) -> list[str]:
        """All registered names, sorted (aliases not included)."""
        self._load()
        return sorted(self._entries)

    def __contains__(self, name: object) -> bool:
        self._load()
        if isinstance(name, str) and self.is_dynamic(name):
            try:
                return self._dynamic(name) is not None
            except UnknownNameError:
                return False
        return name in self._entries or name in self._aliases


def check_settings(factory: Callable[..., Any], settings: Mapping[str, Any], what: str) -> dict[str, Any]:
    """``settings`` validated against ``factory``'s keyword parameters.

    Unknown names are refused (unless the factory takes ``**kwargs``), and each value is
    validated against its parameter's type hint with Pydantic's lax rules (``"3"`` for an
    ``int`` is 3, a list for a ``tuple`` becomes a tuple; ``"abc"`` for an ``int`` is refused).
    Parameters whose hints cannot be resolved are passed through unchecked. Returns the
    (converted) settings; raises :class:`SettingsError` naming every bad setting.
    """
    target = factory.__init__ if inspect.isclass(factory) else factory
    params = {n: p for n, p in inspect.signature(target).parameters.items()
              if n not in ("self", "cls") and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)}
    open_ended = any(p.kind is p.VAR_KEYWORD for p in inspect.signature(target).parameters.values())
    unknown = sorted(set(settings) - set(params))
    if unknown and not open_ended:
        raise SettingsError(f"{what} has no setting(s) {unknown}; its settings: {list(params)}")
    hints = parameter_hints(target)
    out, errors = dict(settings), []
    for name, value in settings.items():
        hint = hints.get(name)
        if hint is None or hint is Any:
            continue
        problem, converted = _validate(hint, value)
        if problem is None:
            out[name] = converted
        else:
            errors.append(f"{name}={value!r}: {problem}")
    if errors:
        raise SettingsError(f"{what}: invalid setting(s): " + "; ".join(errors))
    return out


def parameter_hints(target: Callable[..., Any]) -> dict[str, Any]:
    """Type hints of ``target``'s parameters; those that do not resolve are left out."""
    try:
        return typing.get_type_hints(target)
    except Exception:  # noqa: BLE001 - a hint naming a TYPE_CHECKING-only import
        pass
    module = sys.modules.get(getattr(target, "__module__", ""), None)
    namespace = dict(vars(module)) if module else {}
    out = {}
    for name, annotation in getattr(target, "__annotations__", {}).items():
        holder = type("_Hint", (), {"__annotations__": {name: annotation}})
        try:  # one parameter at a time, so one unresolvable hint does not hide the others
            out[name] = typing.get_type_hints(holder, globalns=namespace)[name]
        except Exception:  # noqa: BLE001
            continue
    return out


def _validate(hint: Any, value: Any) -> tuple[str | None, Any]:
    from pydantic import ConfigDict, TypeAdapter, ValidationError

    try:
        adapter = TypeAdapter(hint, config=ConfigDict(arbitrary_types_allowed=True))
    except Exception:  # noqa: BLE001 - a hint pydantic cannot check: pass the value through
        return None, value
    try:
        return None, adapter.validate_python(value)
    except ValidationError as exc:
        first = exc.errors()[0]
        return first["msg"], value
