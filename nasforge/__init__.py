"""nasforge: neural architecture search on PyTorch.

``nasforge.search(...)`` runs a search; ``nasforge.Space`` defines a custom space. Heavy parts
(torch) are imported only when used: ``import nasforge`` imports nothing else of the package, and
``dir(nasforge)`` lists the public API (``__all__``) before any of it is loaded.
"""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"

__all__ = ["search", "resume", "load_run", "export_optuna", "Space", "Choice", "Arch", "get_space", "load_task", "task_from_arrays",
           "Task", "SearchResult", "ConfigError", "__version__"]


def __dir__() -> list[str]:
    """The public API (:data:`__all__`, loaded on first use) and the module's dunder attributes."""
    return sorted({*(n for n in globals() if n.startswith("__")), *__all__})


def __getattr__(name: str) -> Any:
    if name == "search":
        from nasforge.api import search

        return search
    if name in ("resume", "load_run", "export_optuna"):
        import nasforge.api as api

        return getattr(api, name)
    if name in ("Space", "Choice", "Arch", "get_space"):
        import nasforge.space as space

        return getattr(space, name)
    if name in ("load_task", "task_from_arrays", "Task"):
        import nasforge.task as task

        return getattr(task, name)
    if name == "SearchResult":
        from nasforge.run.runner import SearchResult

        return SearchResult
    if name == "ConfigError":
        from nasforge.run.config import ConfigError

        return ConfigError
    raise AttributeError(f"module 'nasforge' has no attribute {name!r}")
