"""The grammar every ``nasforge`` command shares: the same option names for the same things,
NAME=VALUE settings parsed one way, and one way to fail.

- ``--out`` (``-o``): the output folder (``search`` also accepts ``--run-dir``);
- ``--objective METRIC:max|min`` and ``--constraint 'METRIC<=N'``, repeatable;
- ``-S NAME=VALUE``: a strategy (or one-shot method) setting; ``-E``: an evaluator setting;
  ``-P``: a space setting; values are YAML (``-S hidden=[16,16]``, ``-E proxies=synflow,nwot``);
- ``--seed``, ``--device`` (auto, cpu, cuda, cuda:N; ``auto``, the default of every command that
  trains or measures, is the GPU when torch sees one, else the CPU: :func:`~nasforge.run.config.resolve_device`),
  ``--threads`` (torch threads per evaluation);
- bare boolean flags (``--early-stopping``, ``--csv``); every ``--help`` shows defaults.

A wrong value ends with ``error: ...`` on standard error and exit code 2, never a traceback;
commands declared ``@app.command(cls=Command)`` also end so for what the parser itself refuses
(a wrong type, a number out of range, an unknown option).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer
from typer.core import TyperCommand

try:  # recent typer carries its own copy of click
    from typer._click.exceptions import UsageError
except ImportError:  # pragma: no cover - older typer on click
    from click.exceptions import UsageError


def fail(exc: Exception | str) -> NoReturn:
    """Print ``error: <message>`` in red on standard error and exit with code 2."""
    typer.secho(f"error: {exc}", fg="red", err=True)
    raise typer.Exit(2)


def pairs(items: list[str] | None, option: str) -> dict[str, Any]:
    """``NAME=VALUE`` items as a dict; values parsed as YAML (``3`` -> 3, ``[1,2]`` -> a list).

    A malformed item ends the command with a message naming ``option``.
    """
    import yaml

    from nasforge.core.safe_yaml import safe_yaml

    out: dict[str, Any] = {}
    for item in items or []:
        name, sep, value = item.partition("=")
        name = name.strip()
        if not sep or not name:
            fail(f"{option}: expected NAME=VALUE, got {item!r}")
        try:
            out[name] = safe_yaml(value) if value.strip() else ""
        except yaml.YAMLError:
            out[name] = value  # not YAML: the plain text
        except ValueError as exc:  # an alias bomb or a nesting too deep
            fail(f"{option}: the value of {name} {exc}")
    return out


def names(text: str | None) -> list[str]:
    """A comma-separated list of names, stripped, empties dropped."""
    return [t.strip() for t in (text or "").split(",") if t.strip()]


def registry_names(registry_path: str, attribute: str) -> str:
    """The registered names of a registry as ``a, b, c`` (for help texts; no torch is imported),
    then its dynamically resolved families (e.g. ``optuna:SAMPLER ...``)."""
    import importlib

    try:
        registry = getattr(importlib.import_module(registry_path), attribute)
        return ", ".join([*registry.list(), *getattr(registry, "patterns", list)()])
    except Exception:  # noqa: BLE001 - help must render even if a plugin module is broken
        return "see the docs"


Out = Annotated[Path | None, typer.Option("--out", "-o", help="output folder")]
Seed = Annotated[int, typer.Option(help="random seed of everything the command draws")]
#: ``--device``; commands resolve it with :func:`nasforge.run.config.resolve_device` (default ``auto``)
Device = Annotated[str, typer.Option(help="auto (the GPU when torch sees one, else the CPU), cpu, cuda or cuda:N")]
Threads = Annotated[int | None, typer.Option(min=1, help="torch threads per evaluation")]
Objectives = Annotated[list[str] | None, typer.Option(
    "--objective", help="METRIC:max|min (repeatable; comma-separated also accepted)")]
Constraints = Annotated[list[str] | None, typer.Option("--constraint", help="e.g. 'params<=20000' (repeatable)")]
StrategySettings = Annotated[list[str] | None, typer.Option(
    "--strategy-setting", "-S", help="strategy setting NAME=VALUE (repeatable), e.g. population_size=20")]
EvaluatorSettings = Annotated[list[str] | None, typer.Option(
    "--evaluator-setting", "-E", help="evaluator setting NAME=VALUE (repeatable), e.g. epochs=5, proxies=synflow,nwot")]
SpaceSettings = Annotated[list[str] | None, typer.Option(
    "--space-setting", "-P", help="space setting NAME=VALUE (repeatable), e.g. channels=8")]


def objective_list(items: list[str] | None) -> list[str] | None:
    """Repeated ``--objective`` values, each of which may itself be comma-separated."""
    if not items:
        return None
    return [name for item in items for name in names(item)]


_LATER = re.compile(r"<names of ([\w.]+):(\w+)>")


def names_later(registry_path: str, attribute: str) -> str:
    """A help-text placeholder for :func:`registry_names`, filled in only when ``--help`` is shown.

    For registries whose modules import torch (predictors, proxies, one-shot methods), so that
    importing the CLI stays free of torch. Only commands declared with ``cls=Command`` fill it in.
    """
    return f"<names of {registry_path}:{attribute}>"


class Command(TyperCommand):
    """A command of the shared grammar.

    A value the parser refuses (a wrong type, a number out of range, an unknown or missing
    option) ends with ``error: ...`` and exit code 2, like every other wrong value; help texts
    may name a registry with :func:`names_later`; bare flags show no value type. Use as
    ``@app.command(cls=Command)``.
    """

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        try:
            return super().parse_args(ctx, args)
        except UsageError as exc:
            fail(exc.format_message())

    def format_help(self, ctx: Any, formatter: Any) -> None:
        def fill(text: str | None) -> str | None:
            return _LATER.sub(lambda m: registry_names(m[1], m[2]), text) if text else text

        self.help = fill(self.help)
        for param in self.get_params(ctx):
            if isinstance(getattr(param, "help", None), str):
                param.help = fill(param.help)
            if getattr(param, "is_flag", False) and param.metavar is None:
                param.metavar = ""  # a bare flag takes no value: show no type for it
        super().format_help(ctx, formatter)
