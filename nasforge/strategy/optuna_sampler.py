"""``optuna:SAMPLER``: any Optuna sampler as a strategy, through ``study.ask()`` / ``study.tell()``.

The strategy registry resolves every name with the ``optuna:`` prefix here (:func:`resolve`):

- ``optuna:GPSampler`` — a class of ``optuna.samplers`` (GPSampler, TPESampler, CmaEsSampler,
  NSGAIISampler, NSGAIIISampler, QMCSampler, BruteForceSampler, RandomSampler, ...);
- ``optuna:optuna.samplers.GPSampler`` — a dotted path ``package.module.Class``;
- ``optuna:my_pkg.samplers:MySampler`` — a class in the user's own module.

Only the module the name spells is imported, and only when the name is used (a plugin is the
user's explicit choice; see docs/trust.md). The class must subclass ``optuna.samplers.BaseSampler``.
The settings of such a strategy are the sampler constructor's keyword arguments, checked against
its signature, less ``seed`` (the run's seed) and ``constraints_func`` (the run's constraints,
given to samplers that take them), plus two of the adapter's: ``ordered`` (numeric decisions as
ordered integers, see :mod:`nasforge.strategy.optuna_params`) and ``max_repeats``.

Each architecture is one Optuna trial; a failed or non-finite result is told as
``TrialState.FAIL``; constraint violations reach the sampler's ``constraints_func`` through a user
attribute. The study lives in Optuna's in-memory storage and the sampler is seeded with the
run's seed, so the adapter is replayed like any other strategy on resume. A sampler that cannot
run several objectives, or that misses an optional package, is refused by ``setup``.

Samplers often propose an architecture seen before. Such a repeat is answered at once with the
known result and not returned by :meth:`ask` (a repeat is free and not a query). After
``max_repeats`` repeats in a row (default 2: a model-based sampler such as GPSampler tends to
propose its favourite again, at the cost of a model fit each time) the adapter proposes a random
unseen neighbour of the last repeated architecture (one decision changed), or a uniformly
random unseen architecture when it has none; the sampler learns that result like any other.
"""

from __future__ import annotations

import importlib
import importlib.util
import inspect
import math
import warnings
from collections.abc import Callable, Mapping
from typing import Any

from nasforge.core.registry import SettingsError, UnknownNameError, check_settings, parameter_hints
from nasforge.space.arch import Arch
from nasforge.strategy.base import Metrics, Strategy
from nasforge.strategy.optuna_params import OptunaParams

_VIOLATIONS = "nasforge_violations"
#: set by the adapter, never by the user
_FROM_RUN = ("seed", "constraints_func")
#: the adapter's own settings, beside the sampler's
_ADAPTER = {"ordered": (bool, False), "max_repeats": (int, 2)}
#: optional packages some of Optuna's samplers import only when they first sample
_REQUIRES = {"CmaEsSampler": "cmaes"}
_PROBE_TRIALS = 3


def _violations(trial: Any) -> list[float]:
    return list(trial.user_attrs.get(_VIOLATIONS, [0.0]))


# ----------------------------------------------------------------------------- resolution
def optuna_samplers() -> list[str]:
    """The concrete sampler classes of ``optuna.samplers``."""
    import optuna

    return sorted(name for name, obj in vars(optuna.samplers).items()
                  if inspect.isclass(obj) and issubclass(obj, optuna.samplers.BaseSampler)
                  and not inspect.isabstract(obj) and not name.startswith("Base"))


def sampler_class(spec: str) -> type:
    """The sampler class ``spec`` names (``Name``, ``pkg.mod.Name`` or ``pkg.mod:Name``).

    Raises :class:`UnknownNameError` naming what is wrong; imports only the module ``spec`` names.
    """
    import optuna

    spec = spec.strip()
    if ":" in spec:
        module, _, attr = spec.partition(":")
    elif "." in spec:
        module, _, attr = spec.rpartition(".")
    else:
        module, attr = "optuna.samplers", spec
    if not attr.isidentifier() or not all(part.isidentifier() for part in module.split(".")):
        raise UnknownNameError(f"strategy 'optuna:{spec}': expected optuna:SAMPLER (one of {', '.join(optuna_samplers())}), "
                               "optuna:package.module.Class or optuna:package.module:Class")
    try:
        found = importlib.import_module(module)
    except ImportError as exc:
        raise UnknownNameError(f"strategy 'optuna:{spec}': cannot import module {module!r}: {exc}") from None
    cls = getattr(found, attr, None)
    if cls is None:
        hint = f"; Optuna's samplers: {', '.join(optuna_samplers())}" if module == "optuna.samplers" else ""
        raise UnknownNameError(f"strategy 'optuna:{spec}': module {module!r} has no {attr!r}{hint}")
    if not (inspect.isclass(cls) and issubclass(cls, optuna.samplers.BaseSampler)):
        raise UnknownNameError(f"strategy 'optuna:{spec}': {module}.{attr} is not an Optuna sampler "
                               "(a subclass of optuna.samplers.BaseSampler)")
    return cls


def _sampler_parameters(cls: type) -> dict[str, inspect.Parameter]:
    return {n: p for n, p in inspect.signature(cls.__init__).parameters.items()
            if n != "self" and p.kind is not p.VAR_POSITIONAL}


def resolve(spec: str) -> Callable[..., OptunaSampler]:
    """The factory of strategy ``optuna:<spec>``: its keyword arguments are the sampler's settings
    (checked against the sampler's signature by the registry) and the adapter's own."""
    cls = sampler_class(spec)
    params = _sampler_parameters(cls)
    clash = sorted(set(params) & set(_ADAPTER))
    if clash:
        raise UnknownNameError(f"strategy 'optuna:{spec}': the sampler's setting(s) {clash} clash with the "
                               "adapter's own; wrap the sampler in a class that renames them")
    hints = parameter_hints(cls.__init__)
    signature, annotations = [], {}
    for name, param in params.items():
        if name in _FROM_RUN:
            continue
        kind = param.VAR_KEYWORD if param.kind is param.VAR_KEYWORD else param.KEYWORD_ONLY
        signature.append(param.replace(kind=kind, annotation=inspect.Parameter.empty))
        if name in hints:
            annotations[name] = hints[name]
    for name, (hint, default) in _ADAPTER.items():
        signature.append(inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=default))
        annotations[name] = hint
    signature.sort(key=lambda p: p.kind is p.VAR_KEYWORD)  # **kwargs last

    def factory(**settings: Any) -> OptunaSampler:
        adapter = {k: settings.pop(k) for k in list(settings) if k in _ADAPTER}
        return OptunaSampler(sampler=spec, settings=settings, **adapter)

    factory.__signature__ = inspect.Signature(signature)  # type: ignore[attr-defined]
    factory.__annotations__ = annotations
    factory.__name__ = factory.__qualname__ = f"optuna:{spec}"
    return factory


# ------------------------------------------------------------------------------- adapter
class OptunaSampler(Strategy):
    """An Optuna sampler (named by ``sampler``, built with ``settings``) as a strategy."""

    #: after ``max_repeats`` repeats, try an unseen neighbour of the last one before a random arch
    neighbour_fallback = True

    def __init__(self, sampler: str = "TPESampler", settings: Mapping[str, Any] | None = None,
                 ordered: bool = False, max_repeats: int = 2) -> None:
        self.sampler = sampler
        self.settings = settings
        self.ordered = ordered
        self.max_repeats = max_repeats

    def _sampler_spec(self) -> tuple[str, dict[str, Any]]:
        """The sampler's name and constructor settings (subclasses fix them from their own)."""
        return self.sampler, dict(self.settings or {})

    def setup(self, *args: Any, **kwargs: Any) -> None:
        super().setup(*args, **kwargs)
        import optuna

        optuna.logging.set_verbosity(optuna.logging.WARNING)
        spec, settings = self._sampler_spec()
        name = f"optuna:{spec}"
        cls = sampler_class(spec)
        try:
            settings = check_settings(resolve(spec), settings, f"strategy {name!r}")
        except SettingsError as exc:
            raise ValueError(str(exc)) from None
        package = _REQUIRES.get(cls.__name__) if cls.__module__.startswith("optuna.") else None
        if package and importlib.util.find_spec(package) is None:
            raise ValueError(f"strategy {name!r} needs the package {package!r}: pip install {package} "
                             "(or nasforge[optuna])")
        self._params = OptunaParams(self.space, ordered=self.ordered)
        self._dists = self._params.distributions
        directions = ["maximize" if o.direction == "max" else "minimize" for o in self.objectives]
        if len(directions) > 1:
            self._probe(name, cls, settings, directions)
        self._study = optuna.create_study(directions=directions, sampler=self._make(cls, settings))
        self._pending: dict[str, list[Any]] = {}  # arch key -> Optuna trials awaiting its result
        self._known: dict[str, Metrics] = {}

    def _make(self, cls: type, settings: Mapping[str, Any]) -> Any:
        params = _sampler_parameters(cls)
        kwargs = dict(settings)
        if "seed" in params:
            kwargs["seed"] = self.seed
        if self.constraints and "constraints_func" in params:
            kwargs["constraints_func"] = _violations
        if "warn_independent_sampling" in params:  # the adapter's fixed distributions make this noise
            kwargs.setdefault("warn_independent_sampling", False)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # options flagged "experimental"
            try:
                return cls(**kwargs)
            except (TypeError, ValueError) as exc:  # e.g. a required setting missing, a value refused
                raise ValueError(f"strategy 'optuna:{self._sampler_spec()[0]}': cannot build the sampler: {exc}") \
                    from None

    def _probe(self, name: str, cls: type, settings: Mapping[str, Any], directions: list[str]) -> None:
        """Refuse a sampler that cannot run several objectives, on a throwaway study, before the run."""
        import optuna

        study = optuna.create_study(directions=directions, sampler=self._make(cls, settings))
        try:
            for _ in range(_PROBE_TRIALS):
                study.tell(study.ask(self._dists), [0.0] * len(directions))
        except Exception as exc:  # noqa: BLE001 - whatever the sampler raises, say so before the run
            raise ValueError(f"strategy {name!r} cannot search {len(directions)} objectives: {exc}") from None

    def ask(self) -> Arch | None:
        repeated: Arch | None = None
        for _ in range(max(1, self.max_repeats)):
            trial = self._study.ask(self._dists)
            try:
                arch = self.space.arch(self._params.values(trial.params))
            except ValueError:  # a combination the space does not allow
                self._finish(trial, None)
                continue
            if arch.key in self._known:
                self._finish(trial, self._known[arch.key])
            elif arch.key in self.asked:  # outstanding: answer it when the result comes
                self._pending[arch.key].append(trial)
            else:
                self._pending[arch.key] = [trial]
                self.asked.add(arch.key)
                return arch
            repeated = arch
        arch = self._unseen_neighbour(repeated) if self.neighbour_fallback and repeated is not None else None
        if arch is None:
            arch = self._unique(lambda: self.space.sample(self.rng))
        if arch is not None:
            self.asked.add(arch.key)
            self._pending.setdefault(arch.key, [])
        return arch

    def _observe(self, arch: Arch, metrics: Metrics) -> None:
        self._known[arch.key] = metrics
        trials = self._pending.pop(arch.key, [])
        if not trials:  # proposed outside Optuna (fallback, or a replayed foreign trial)
            self._add(arch, metrics)
        for trial in trials:
            self._finish(trial, metrics)

    # ------------------------------------------------------------------ helpers
    def _unseen_neighbour(self, arch: Arch) -> Arch | None:
        unseen = [a for a in self.space.neighbours(arch) if a.key not in self.asked]
        return unseen[int(self.rng.integers(len(unseen)))] if unseen else None

    def _values(self, metrics: Metrics) -> list[float] | None:
        if metrics is None:
            return None
        values = [metrics.get(o.metric) for o in self.objectives]
        if any(v is None or not math.isfinite(float(v)) for v in values):
            return None
        return [float(v) for v in values]  # type: ignore[arg-type]

    def _violation_list(self, metrics: Metrics) -> list[float]:
        return [min(c.violation(metrics or {}), 1e12) for c in self.constraints] or [0.0]

    def _finish(self, trial: Any, metrics: Metrics) -> None:
        from optuna.trial import TrialState

        values = self._values(metrics)
        if values is None:
            self._study.tell(trial, state=TrialState.FAIL)
            return
        if self.constraints:
            trial.set_user_attr(_VIOLATIONS, self._violation_list(metrics))
        self._study.tell(trial, values)

    def _add(self, arch: Arch, metrics: Metrics) -> None:
        from optuna.trial import TrialState, create_trial

        values = self._values(metrics)
        params = self._params.params(arch.to_dict())
        if values is None:
            trial = create_trial(state=TrialState.FAIL, params=params, distributions=self._dists)
        else:
            trial = create_trial(values=values, params=params, distributions=self._dists,
                                 user_attrs={_VIOLATIONS: self._violation_list(metrics)})
        self._study.add_trial(trial)
