"""Joint architecture-recipe spaces and fidelity decisions (FBNetV3, Dai et al. 2021, "FBNetV3:
Joint Architecture-Recipe Search using Predictor Pretraining").

:class:`JointSpace` wraps any space and adds decisions that are not architecture: training-recipe
choices (:data:`RECIPE_CHOICES`: lr, weight_decay, epochs, batch_size, label_smoothing, mixup,
dropout, ema) and, optionally, one *fidelity* decision (``epochs`` or ``data_fraction``) for
multi-fidelity strategies. Every strategy therefore searches recipes with no special case, and
a successive-halving strategy asks for the same architecture at a higher fidelity simply by
changing one decision.

The key body is the base space's body, ``#``, then the extra decisions:
``conv1d+joint:c8k3s1|plain|batch|relu#lr=0.01,ema=0.99,epochs=9``. The training evaluator reads
the extra decisions through :meth:`JointSpace.recipe_overrides` (they are
:class:`~nasforge.estimate.trainer.Recipe` fields) and reports :meth:`fidelity_fraction` as the
metric ``fidelity``, which run selection uses to keep only full-fidelity trials.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from nasforge.space.arch import Arch
from nasforge.space.choice import Choice
from nasforge.space.extended import ExtendedSpace
from nasforge.space.registry import get_space, register_space
from nasforge.space.space import Space

#: Default options of each recipe decision (names are ``Recipe`` fields). ``mixup`` is the Beta
#: parameter alpha, ``ema`` the averaging decay; 0 turns either off.
RECIPE_CHOICES: dict[str, tuple[Any, ...]] = {
    "lr": (0.001, 0.003, 0.01, 0.03),
    "weight_decay": (0.0, 0.0001, 0.001, 0.01, 0.1),
    "epochs": (5, 10, 15, 20),
    "batch_size": (32, 64, 128, 256),
    "label_smoothing": (0.0, 0.05, 0.1, 0.2),
    "mixup": (0.0, 0.2, 0.4),
    "dropout": (0.0, 0.1, 0.2, 0.3),
    "ema": (0.0, 0.99, 0.999),
}
FIDELITIES = ("epochs", "data_fraction")
SEPARATOR = "#"


@register_space("joint")
class JointSpace(ExtendedSpace):
    """``base`` (a Space or registered name) plus recipe and fidelity decisions.

    ``recipe``: names from :data:`RECIPE_CHOICES` (their default options), a mapping name ->
    options, or ``()`` for none; default: all of them. ``fidelity``: ``None`` or a one-item
    mapping ``{"epochs": [1, 3, 9]}`` / ``{"data_fraction": [0.25, 0.5, 1.0]}`` with increasing
    options; the last is full fidelity (1.0 for ``data_fraction``; a default recipe then leaves out
    that decision).
    """

    def __init__(self, base: Space | str = "conv1d", recipe: Sequence[str] | Mapping[str, Sequence[Any]] | None = None,
                 fidelity: Mapping[str, Sequence[Any]] | None = None, base_settings: Mapping[str, Any] | None = None,
                 name: str | None = None) -> None:
        base = base if isinstance(base, Space) else get_space(base, **dict(base_settings or {}))
        sequence = getattr(base, "task_kind", None) == "sequence"  # token ids cannot be mixed (mixup)
        if recipe is None:  # every recipe decision, but the fidelity's own is the fidelity's
            recipe = {k: v for k, v in RECIPE_CHOICES.items() if k not in (fidelity or {})
                      and not (sequence and k == "mixup")}
        recipe_map = _recipe_options(recipe)
        if sequence and any(v != 0 for v in recipe_map.get("mixup", ())):
            raise ValueError(f"joint: space {base.name!r} trains on token sequences, which mixup would corrupt; "
                             "leave 'mixup' out of the recipe decisions")
        extras = [Choice(n, opts) for n, opts in recipe_map.items()]
        self.fidelity: str | None = None
        if fidelity:
            if len(fidelity) != 1:
                raise ValueError(f"fidelity: give one decision, e.g. {{'epochs': [1, 3, 9]}}; got {dict(fidelity)}")
            (fid, options), = fidelity.items()
            if fid not in FIDELITIES:
                raise ValueError(f"fidelity {fid!r} is not one of {list(FIDELITIES)}")
            if fid in recipe_map:
                raise ValueError(f"{fid!r} cannot be both a recipe decision and the fidelity")
            options = tuple(options)
            if len(options) < 1 or list(options) != sorted(set(options)) or not all(o > 0 for o in options):
                raise ValueError(f"fidelity {fid!r}: options must be positive and increasing, got {list(options)}")
            if fid == "data_fraction" and options[-1] != 1:  # the top rung is what the final retrain uses
                raise ValueError(f"fidelity 'data_fraction': the last option must be 1.0 (full data), got {list(options)}")
            extras.append(Choice(fid, options))
            self.fidelity = fid
        self.recipe_names = tuple(recipe_map)
        super().__init__(base, extras, name or f"{base.name}+joint", "recipe/fidelity")

    def recipe_overrides(self, arch: Arch) -> dict[str, Any]:
        """Recipe fields set by ``arch`` (its recipe decisions and its fidelity)."""
        return {n: arch[n] for n in self.extra_names}

    @property
    def fidelity_options(self) -> tuple[Any, ...]:
        return self.choice(self.fidelity).options if self.fidelity else ()

    def fidelity_fraction(self, arch: Arch) -> float | None:
        """``arch``'s fidelity relative to the highest (1.0 = full); ``None`` without a fidelity."""
        if self.fidelity is None:
            return None
        return float(arch[self.fidelity]) / float(self.fidelity_options[-1])

    # ------------------------------------------------------------ structure hooks
    def format_body(self, values: Mapping[str, Any]) -> str:
        base, extra = self._split(values)
        return self.base.format_body(base) + SEPARATOR + ",".join(f"{n}={v}" for n, v in extra.items())

    def parse_body(self, body: str) -> dict[str, Any]:
        head, sep, tail = body.rpartition(SEPARATOR)
        if not sep:
            raise ValueError(f"expected '<{self.base.name} body>{SEPARATOR}name=value,...', got {body!r}")
        values = self.base.parse_body(head)
        for part in tail.split(",") if tail else []:
            key, eq, text = part.partition("=")
            if not eq or key not in self.extra_names:
                raise ValueError(f"expected one of {list(self.extra_names)} as name=value, got {part!r}")
            values[key] = self.choice(key).options[self.choice(key).index(text)]
        return values

    def build(self, arch: Arch, task: Any):  # -> nn.Module
        return self.base.build(self.base_arch(arch), task)


def _recipe_options(recipe: Sequence[str] | Mapping[str, Sequence[Any]]) -> dict[str, tuple[Any, ...]]:
    if isinstance(recipe, str):
        raise TypeError(f"recipe: give a list of names or a mapping name -> options, not the string {recipe!r}")
    items = recipe.items() if isinstance(recipe, Mapping) else ((n, RECIPE_CHOICES.get(n)) for n in recipe)
    out: dict[str, tuple[Any, ...]] = {}
    for name, options in items:
        if name not in RECIPE_CHOICES:
            raise ValueError(f"unknown recipe decision {name!r}; valid: {list(RECIPE_CHOICES)}")
        out[name] = tuple(options)  # type: ignore[arg-type]
    return out
