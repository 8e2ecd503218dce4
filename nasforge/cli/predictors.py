"""``nasforge predictors``: the performance-predictor table on a tabular benchmark."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from nasforge.cli import app
from nasforge.cli.common import Command, fail, names, names_later, registry_names

_BENCHMARKS = registry_names("nasforge.estimate.benchmarks", "BENCHMARKS")
#: PREDICTORS' modules import torch: their names are filled in when --help is shown
_PREDICTORS = names_later("nasforge.estimate.predictors", "PREDICTORS")


def _sizes(text: str) -> list[int]:
    try:
        sizes = [int(s) for s in names(text)]
    except ValueError:
        fail(f"--train-sizes: expected comma-separated integers like 10,20,50, got {text!r}")
    if not sizes or min(sizes) < 2:
        fail(f"--train-sizes: every size must be >= 2, got {text!r}")
    return sizes


@app.command(cls=Command)
def predictors(
    benchmark: Annotated[str, typer.Option(help=f"tabular benchmark, one of: {_BENCHMARKS}")] = "nb201-cifar10",
    train_sizes: Annotated[str, typer.Option(help="comma-separated training-set sizes (each >= 2)")] = (
        "10,20,50,100,200"),
    seeds: Annotated[int, typer.Option(min=1, help="repetitions (seeds 0..N-1)")] = 10,
    out: Annotated[Path, typer.Option("--out", "-o", help="output folder for predictors.csv and predictors.png")] = (
        Path("predictors-out")),
    predictor: Annotated[str, typer.Option("--predictors", help=f"comma-separated predictors: {_PREDICTORS}")] = (
        "gbdt,rf,gp,mlp,resid_gp"),
    features: Annotated[str, typer.Option(help="onehot+stats (encoding + free statistics), onehot, or auto+stats "
                                                 "(+ the path encoding where the space has one)")] = (
        "onehot+stats"),
    test_size: Annotated[int, typer.Option(min=10, help="held-out archs ranked per seed")] = 1000,
    pool_size: Annotated[int, typer.Option(min=10, help="unlabeled archs for pretraining")] = 5000,
    no_pretrain: Annotated[bool, typer.Option("--no-pretrain", help="skip the pretrained variants")] = False,
    workers: Annotated[int, typer.Option(min=1, help="processes (one seed each)")] = 1,
) -> None:
    """Kendall tau / Spearman rho of predictors vs training size, with and without pretraining
    (White et al. 2021's table; FBNetV3's pretraining on free statistics)."""
    from nasforge.core.registry import UnknownNameError
    from nasforge.estimate.benchmarks import get_benchmark
    from nasforge.estimate.predictors import PREDICTORS
    from nasforge.estimate.predictors.study import FEATURES, run_study, summarise, write_study

    sizes, chosen = _sizes(train_sizes), names(predictor)
    if features not in FEATURES:
        fail(f"--features must be one of: {', '.join(FEATURES)}; got {features!r}")
    if not chosen:
        fail(f"--predictors: give at least one of: {', '.join(PREDICTORS.list())}")
    try:
        for name in chosen:
            PREDICTORS.get(name)
    except UnknownNameError as exc:
        fail(f"--predictors: {exc}")
    try:
        get_benchmark(benchmark).path()
    except UnknownNameError as exc:
        fail(f"--benchmark: {exc}")
    except FileNotFoundError as exc:
        fail(exc)

    try:
        rows = run_study(benchmark, sizes, seeds, chosen, test_size, pool_size, not no_pretrain, features, workers,
                         on_seed=lambda s: typer.echo(f"seed {s} done", err=True))
    except (ValueError, FileNotFoundError) as exc:
        fail(exc)
    paths = write_study(rows, out, f"{benchmark} ({features}, {seeds} seeds)")
    from rich.console import Console
    from rich.table import Table

    table = Table("predictor", "train size", "kendall", "spearman", "seconds", title=benchmark)
    for r in summarise(rows):
        table.add_row(str(r["predictor"]), str(r["train_size"]), f"{r['kendall']:.3f}", f"{r['spearman']:.3f}",
                      f"{r['seconds']:.2f}")
    Console().print(table)
    typer.echo(f"wrote {paths['csv']} and {paths['plot']}")
