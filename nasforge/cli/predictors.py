"""``nasforge predictors``: the performance-predictor table on a tabular benchmark."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from nasforge.cli import app


@app.command()
def predictors(
    benchmark: Annotated[str, typer.Option(help="tabular benchmark, e.g. nb201-cifar10 or macro")] = "nb201-cifar10",
    train_sizes: Annotated[str, typer.Option(help="comma-separated training-set sizes")] = "10,20,50,100,200",
    seeds: Annotated[int, typer.Option(min=1, help="repetitions (seeds 0..N-1)")] = 10,
    out: Annotated[Path, typer.Option(help="output folder for predictors.csv and predictors.png")] = Path(
        "predictors-out"),
    predictor: Annotated[str, typer.Option("--predictors", help="comma-separated predictors")] = "gbdt,rf,gp,mlp",
    features: Annotated[str, typer.Option(help="onehot+stats (encoding + log params/FLOPs) or onehot")] = (
        "onehot+stats"),
    test_size: Annotated[int, typer.Option(min=10, help="held-out archs ranked per seed")] = 1000,
    pool_size: Annotated[int, typer.Option(min=10, help="unlabeled archs for pretraining")] = 5000,
    no_pretrain: Annotated[bool, typer.Option("--no-pretrain", help="skip the pretrained variants")] = False,
    workers: Annotated[int, typer.Option(min=1, help="processes (one seed each)")] = 1,
) -> None:
    """Kendall tau / Spearman rho of predictors vs training size, with and without pretraining
    (White et al. 2021's table; FBNetV3's pretraining on free statistics)."""
    from nasforge.core.registry import UnknownNameError
    from nasforge.estimate.predictors.study import FEATURES, run_study, summarise, write_study

    try:
        sizes = [int(s) for s in train_sizes.split(",") if s.strip()]
        names = [p.strip() for p in predictor.split(",") if p.strip()]
        if not sizes or min(sizes) < 2:
            raise ValueError(f"--train-sizes needs sizes >= 2, got {train_sizes!r}")
        if features not in FEATURES:
            raise ValueError(f"--features must be one of {list(FEATURES)}, got {features!r}")
        from nasforge.estimate.predictors import PREDICTORS

        for name in names:
            PREDICTORS.get(name)
        from nasforge.estimate.benchmarks import get_benchmark

        get_benchmark(benchmark).path()
        rows = run_study(benchmark, sizes, seeds, names, test_size, pool_size, not no_pretrain, features, workers,
                         on_seed=lambda s: typer.echo(f"seed {s} done", err=True))
    except (ValueError, UnknownNameError, FileNotFoundError) as exc:
        typer.secho(f"error: {exc}", fg="red", err=True)
        raise typer.Exit(2) from None
    paths = write_study(rows, out, f"{benchmark} ({features}, {seeds} seeds)")
    from rich.console import Console
    from rich.table import Table

    table = Table("predictor", "train size", "kendall", "spearman", "seconds", title=benchmark)
    for r in summarise(rows):
        table.add_row(str(r["predictor"]), str(r["train_size"]), f"{r['kendall']:.3f}", f"{r['spearman']:.3f}",
                      f"{r['seconds']:.2f}")
    Console().print(table)
    typer.echo(f"wrote {paths['csv']} and {paths['plot']}")
