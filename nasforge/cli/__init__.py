"""The ``nasforge`` command line: a thin layer that parses, calls the library and prints.

Each command group lives in its own module and registers itself on ``app``. Command modules
import torch and the heavy parts of nasforge inside the command functions, so that
``nasforge --help`` stays instant.
"""

from __future__ import annotations

import importlib

import typer

app = typer.Typer(
    name="nasforge",
    help="Neural architecture search on PyTorch.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["--help", "-h"]},
)

# One line per command module; each calls ``@app.command()`` at import.
_COMMAND_MODULES = (
    "nasforge.cli.search",
    "nasforge.cli.hardware",
    "nasforge.cli.predictors",
    "nasforge.cli.fbnetv3",
    "nasforge.cli.proxies",
    "nasforge.cli.oneshot",
    "nasforge.cli.lm",
    "nasforge.cli.bench",
    "nasforge.cli.optuna",
    "nasforge.cli.report",
)

for _module in _COMMAND_MODULES:
    importlib.import_module(_module)


def _version(value: bool) -> None:
    if value:
        from nasforge import __version__

        typer.echo(f"nasforge {__version__}")
        raise typer.Exit()


@app.callback()
def _main(version: bool = typer.Option(False, "--version", help="print the version and exit",
                                       callback=_version, is_eager=True)) -> None:
    """Neural architecture search on PyTorch."""


def main() -> None:
    """Entry point of the ``nasforge`` script."""
    app()
