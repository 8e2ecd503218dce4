"""Announcing the long phases of a run (loading data, final retraining, export, report) to
whatever progress display is active, the way a log record reaches whatever handler is set.

The run calls :func:`phase`; a display (:class:`~nasforge.run.progress.SearchProgress`) listens
by :func:`listening` while the run is inside it. With no display active, :func:`phase` does
nothing. The listener is a context variable, so runs in different threads or tasks keep apart.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar

#: ``listener(name, done, total)``: ``total`` is None for a phase without countable steps
Listener = Callable[[str, int, "int | None"], None]

_LISTENER: ContextVar[Listener | None] = ContextVar("nasforge_phase_listener", default=None)


def phase(name: str, done: int = 0, total: int | None = None) -> None:
    """Phase ``name`` has begun (``done`` = 0) or reached step ``done`` of ``total``."""
    listener = _LISTENER.get()
    if listener is not None:
        listener(name, done, total)


@contextmanager
def listening(listener: Listener) -> Iterator[None]:
    """Send the phases announced inside the ``with`` block to ``listener``."""
    token = _LISTENER.set(listener)
    try:
        yield
    finally:
        _LISTENER.reset(token)
