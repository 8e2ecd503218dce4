"""Search callbacks: user code called after every trial and once at the end of a search.

The public protocol (``nasforge.search(..., callbacks=[...])``, ``nasforge.resume``, and the
built-in MLflow and TensorBoard loggers of :mod:`nasforge.run.tracking`). A callback is either

- a plain callable, called as ``fn(trial)`` after every finished trial; or
- an object with any of these methods (:class:`SearchCallback`), each optional:

  1. ``on_start(run: RunStart)`` once, when the run directory is locked and its storage open,
     before the first trial of this session (``run.trials`` holds the trials stored by earlier
     sessions of a resumed run; it is empty for a new run);
  2. ``on_trial(trial: Trial)`` after every trial that finishes in this session, in the order
     they finish: complete, failed and infeasible ones alike (a repeated proposal answered from
     an earlier trial is not a trial run, and is not passed). The trial is stored (committed)
     before it is passed;
  3. ``on_end(result: SearchResult)`` once, after the final retraining, export and report.

A resume that finds the run complete calls ``on_start`` and ``on_end`` only. An exception in a
callback stops the search like any other error (the trials finished so far are stored; ``nasforge
resume`` continues). Callbacks run in the process that drives the search, one at a time.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from nasforge.core.records import CACHED, Trial

if TYPE_CHECKING:
    from nasforge.run.config import SearchConfig
    from nasforge.space.space import Space

HOOKS = ("on_start", "on_trial", "on_end")


@dataclass(frozen=True)
class RunStart:
    """What a callback's ``on_start`` receives: the run directory, its configuration and space,
    the trials stored before this session, and whether this session resumes the run."""

    run_dir: Path
    config: SearchConfig
    space: Space
    trials: list[Trial] = field(default_factory=list)
    resumed: bool = False


class SearchCallback(Protocol):
    """An object called at the start, after every trial and at the end of a search. Every
    method is optional (the module docstring gives the order and what each receives)."""

    def on_start(self, run: RunStart) -> None: ...

    def on_trial(self, trial: Trial) -> None: ...

    def on_end(self, result: Any) -> None:
        """``result``: the :class:`~nasforge.run.runner.SearchResult`."""


class Callbacks:
    """The user's callbacks of one search, checked before anything runs."""

    def __init__(self, callbacks: Sequence[Any] | Any = ()) -> None:
        if callbacks is None:
            callbacks = []
        elif callable(callbacks) or any(hasattr(callbacks, h) for h in HOOKS):
            callbacks = [callbacks]  # one callback given without a list
        elif not isinstance(callbacks, list | tuple):
            raise TypeError(f"callbacks must be a list of callables or of objects with {'/'.join(HOOKS)} "
                            f"methods, got {type(callbacks).__name__}")
        for i, cb in enumerate(callbacks):
            if not callable(cb) and not any(callable(getattr(cb, h, None)) for h in HOOKS):
                raise TypeError(f"callbacks[{i}] ({type(cb).__name__}) is neither callable nor has any of "
                                f"the methods {', '.join(HOOKS)}")
        self.items = list(callbacks)

    def __bool__(self) -> bool:
        return bool(self.items)

    def start(self, run: RunStart) -> None:
        for cb in self.items:
            hook = _hook(cb, "on_start")
            if hook is not None:
                hook(run)

    def trial(self, _experiment: Any, trial: Trial) -> None:
        """The experiment's internal callback ``(experiment, trial)``: passes ``trial`` on."""
        if trial.status == CACHED:
            return
        for cb in self.items:
            hook = _hook(cb, "on_trial")
            if hook is not None:
                hook(trial)
            elif not any(hasattr(cb, h) for h in HOOKS):
                cb(trial)

    def end(self, result: Any) -> None:
        for cb in self.items:
            hook = _hook(cb, "on_end")
            if hook is not None:
                hook(result)


def _hook(cb: Any, name: str) -> Callable[..., Any] | None:
    hook = getattr(cb, name, None)
    return hook if callable(hook) else None
