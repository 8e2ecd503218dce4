"""``nasforge fbnetv3``: a preset of ``nasforge search`` for FBNetV3's joint architecture-recipe
search (Dai et al. 2021): a joint space (``--space`` plus the ``--recipe`` decisions), the
``fbnetv3`` strategy, a bound on the resource, and one (architecture, recipe) per budget
retrained at the end (``best/family.json``). Everything else is an ordinary run directory:
``nasforge show``, ``report`` and ``resume`` work on it."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from nasforge.cli import app
from nasforge.cli.common import Command, Device, fail, names

RESOURCES = ("params", "flops", "latency_ms")


@app.command(cls=Command)
def fbnetv3(
    task: Annotated[str, typer.Option(help="mnist1d, digits, cifar10, npz:PATH")] = "mnist1d",
    space: Annotated[str, typer.Option(help="architecture space, e.g. conv1d")] = "conv1d",
    recipe: Annotated[str, typer.Option(help="comma-separated recipe decisions ('' = default recipe only)")] = (
        "lr,weight_decay,label_smoothing,mixup,dropout,ema"),
    budgets: Annotated[str, typer.Option(help="comma-separated bounds on the resource, e.g. 2000,5000,20000")] = (
        "2000,5000,20000"),
    resource: Annotated[str, typer.Option(help="params, flops or latency_ms (inference latency on --device, from a "
                                               "latency predictor fitted on measured architectures)")] = "params",
    latency_samples: Annotated[int, typer.Option(min=2, help="with --resource latency_ms: architectures measured "
                                                             "to fit the latency predictor")] = 100,
    epochs: Annotated[int, typer.Option(min=1, help="training epochs per trial")] = 8,
    final_epochs: Annotated[int, typer.Option(min=1, help="epochs of each family member's retraining")] = 40,
    initial: Annotated[int, typer.Option(min=2, help="Sobol trials before the predictor")] = 12,
    batch: Annotated[int, typer.Option(min=1, help="trials per predictor-picked batch")] = 6,
    rounds: Annotated[int | None, typer.Option(min=0, help="predictor-picked batches (default 2; with "
                                                            "--train-seconds: as many as the budget allows)")] = None,
    train_seconds: Annotated[float | None, typer.Option(help="budget in seconds on the run's clock (build, "
                                                             "train, validate each trial): an equal-compute "
                                                             "budget")] = None,
    clock: Annotated[str, typer.Option(help="what --train-seconds counts: wall or cpu (CPU time, unaffected "
                                            "by other load)")] = "wall",
    pool_size: Annotated[int, typer.Option(min=10, help="Sobol candidates (pretraining pool)")] = 500,
    neighbours: Annotated[int, typer.Option(min=0, help="one-edit neighbours of each of the 4 best trials' "
                                                        "architectures ranked with the pool each round")] = 24,
    predictor: Annotated[str, typer.Option(help="mlp, gbdt, rf, gp")] = "mlp",
    seed: Annotated[int, typer.Option(help="random seed")] = 0,
    device: Device = "auto",
    out: Annotated[Path | None, typer.Option("--out", "-o", help="run directory (default: "
                                             "nasforge-runs/<date>-<time>)")] = None,
) -> None:
    """FBNetV3 joint architecture-recipe search; then one (architecture, recipe) per budget, each retrained."""
    from nasforge.run.config import ConfigError, load_config

    try:
        if resource not in RESOURCES:
            raise ValueError(f"--resource must be params, flops or latency_ms, got {resource!r}")
        if clock not in ("wall", "cpu"):
            raise ValueError(f"--clock must be wall or cpu, got {clock!r}")
        try:
            bounds = sorted(float(b) for b in names(budgets))
        except ValueError:
            raise ValueError(f"--budgets: expected numbers separated by commas, got {budgets!r}") from None
        if not bounds or any(b <= 0 for b in bounds):
            raise ValueError("--budgets needs at least one positive bound")
        if train_seconds is not None and not train_seconds > 0:
            raise ValueError(f"--train-seconds must be > 0, got {train_seconds}")
        if train_seconds is not None:  # as many rounds as the seconds allow, unless --rounds caps them
            budget = {"trials": initial + batch * rounds if rounds is not None else None,
                      "minutes": train_seconds / 60}
        else:
            budget = {"trials": initial + batch * (2 if rounds is None else rounds), "minutes": None}
        cfg = load_config(
            task=task, space="joint", space_settings={"base": space, "recipe": names(recipe)},
            strategy="fbnetv3",
            strategy_settings={"resource": resource, "budgets": bounds, "initial": initial, "batch": batch,
                               "pool_size": pool_size, "neighbours": neighbours, "predictor": predictor},
            evaluator={"name": "train", "settings": {"epochs": epochs, "final_epochs": final_epochs, "shift": -1}},
            objectives=["val_accuracy:max", f"{resource}:min"], constraints=[f"{resource}<={bounds[-1]:g}"],
            latency={"source": "predictor", "samples": latency_samples}, clock=clock, budget=budget, seed=seed,
            device=device)
    except (ConfigError, ValueError) as exc:
        fail(exc)
    from nasforge.cli.search import _run, _start

    result = _run(lambda callbacks, on_epoch=None: _start(cfg, out, callbacks, on_epoch), cfg)
    _print_family(cfg, result.run_dir)


def _print_family(cfg, folder: Path) -> None:
    import json

    path = Path(folder) / "best" / "family.json"
    if not path.is_file():
        return
    resource = cfg.strategy_settings["resource"]
    for member in json.loads(path.read_text()):
        result = member["result"]
        typer.echo(f"{resource} <= {member['budget']:g}: {member['arch']}  ({resource} {member[resource]:.4g}, "
                   f"measured {result.get(f'measured_{resource}', float('nan')):.4g}; predicted val "
                   f"{member['predicted']:.4f}, test {result.get('test_accuracy', float('nan')):.4f})")
    typer.echo(f"wrote {path}")
