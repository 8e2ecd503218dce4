"""``nasforge supernet`` (train a weight-sharing supernet and measure its ranking) and
``nasforge oneshot`` (run a differentiable or one-shot method)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from nasforge.cli import app

_SUPERNET_METHODS = ("spos", "sandwich")


def _fail(exc: Exception) -> None:
    typer.secho(f"error: {exc}", fg="red", err=True)
    raise typer.Exit(2)


def _pairs(items: list[str] | None, option: str) -> dict[str, Any]:
    import yaml

    out: dict[str, Any] = {}
    for item in items or []:
        name, sep, value = item.partition("=")
        if not sep or not name.strip():
            raise typer.BadParameter(f"expected NAME=VALUE, got {item!r}", param_hint=option)
        parsed = yaml.safe_load(value)
        out[name.strip()] = tuple(parsed) if isinstance(parsed, list) else parsed
    return out


def _setup(space: str, space_setting: list[str] | None, task: str, seed: int, setting: list[str] | None,
           **fixed: Any):
    from nasforge.oneshot.base import OneShotSettings
    from nasforge.space.registry import get_space
    from nasforge.task import load_task

    values = {k: v for k, v in fixed.items() if v is not None}
    values.update(_pairs(setting, "--setting"))
    settings = OneShotSettings.from_mapping({**values, "seed": seed})
    space_obj = get_space(space, **_pairs(space_setting, "--space-setting"))
    return space_obj, load_task(task, seed=seed), settings


SpaceSetting = Annotated[list[str] | None, typer.Option(
    "--space-setting", "-P", help="space constructor argument NAME=VALUE, e.g. stem=8 (repeatable)")]
Setting = Annotated[list[str] | None, typer.Option(
    "--setting", "-S", help="one-shot setting NAME=VALUE, e.g. bn_affine=false (repeatable)")]


@app.command()
def supernet(
    space: Annotated[str, typer.Option(help="space with a supernet: macro, mbconv, nb201")] = "macro",
    task: Annotated[str, typer.Option(help="task, e.g. cifar10")] = "cifar10",
    method: Annotated[str, typer.Option(help="spos (uniform single path) or sandwich (OFA/BigNAS)")] = "spos",
    epochs: Annotated[int, typer.Option(help="supernet training epochs")] = 5,
    rank_archs: Annotated[int, typer.Option(help="archs scored with inherited weights")] = 200,
    out: Annotated[Path, typer.Option(help="output folder")] = Path("supernet-run"),
    bn_mode: Annotated[list[str] | None, typer.Option(
        help="BN mode(s) for scoring: recalibrate, train, running (repeatable; first is ranking.csv)")] = None,
    lr: Annotated[float | None, typer.Option(help="weight learning rate")] = None,
    batch_size: Annotated[int | None, typer.Option(help="batch size")] = None,
    seed: Annotated[int, typer.Option(help="random seed")] = 0,
    threads: Annotated[int | None, typer.Option(help="torch threads")] = None,
    space_setting: SpaceSetting = None,
    setting: Setting = None,
) -> None:
    """Train a supernet, score archs with inherited weights, write ranking.csv and correlations.csv."""
    if method not in _SUPERNET_METHODS:
        _fail(ValueError(f"--method must be one of {_SUPERNET_METHODS}, got {method!r}"))
    from nasforge.run.oneshot import supernet_ranking

    try:
        space_obj, task_obj, settings = _setup(space, space_setting, task, seed, setting, epochs=epochs,
                                               lr=lr, batch_size=batch_size, threads=threads,
                                               sampling="uniform" if method == "spos" else "sandwich")
        summary = supernet_ranking(space_obj, task_obj, settings, rank_archs, out, bn_mode)
    except (ValueError, KeyError, FileNotFoundError) as exc:
        _fail(exc)
    for row in summary["correlations"]:
        typer.echo(f"{row['predictor']:>15} vs {row['target']:<13} [{row['bn_mode']}] "
                   f"kendall {row['kendall']:.3f}  spearman {row['spearman']:.3f}  (n={row['n']})")
    typer.echo(f"trained {summary['train_seconds']:.0f} s; results in {out}")


@app.command()
def oneshot(
    space: Annotated[str, typer.Option(help="search space, e.g. nb201 (macro for tanglenas)")] = "nb201",
    method: Annotated[str, typer.Option(
        help="darts, darts2, gdas, fbnet, pcdarts, darts-pt, proxyless, tanglenas, spos, sandwich, random-ws")] = "darts",
    task: Annotated[str, typer.Option(help="task, e.g. cifar10")] = "cifar10",
    epochs: Annotated[int, typer.Option(help="search epochs")] = 10,
    out: Annotated[Path, typer.Option(help="output folder")] = Path("oneshot-run"),
    lr: Annotated[float | None, typer.Option(help="weight learning rate")] = None,
    batch_size: Annotated[int | None, typer.Option(help="batch size")] = None,
    seed: Annotated[int, typer.Option(help="random seed")] = 0,
    threads: Annotated[int | None, typer.Option(help="torch threads")] = None,
    space_setting: SpaceSetting = None,
    setting: Setting = None,
) -> None:
    """Run a one-shot / differentiable method; write result.json and trajectory.csv."""
    from nasforge.oneshot.base import METHODS
    from nasforge.run.oneshot import method_run

    try:
        METHODS.get(method)
        space_obj, task_obj, settings = _setup(space, space_setting, task, seed, setting, epochs=epochs,
                                               lr=lr, batch_size=batch_size, threads=threads)
        summary = method_run(method, space_obj, task_obj, settings, out)
    except (ValueError, KeyError, FileNotFoundError) as exc:
        _fail(exc)
    truth = summary["true_accuracy"]
    typer.echo(f"derived: {summary['arch']}")
    typer.echo(f"search {summary['search_seconds']:.0f} s; true accuracy "
               f"{'n/a' if truth is None else f'{truth:.2f}'}; results in {out}")
