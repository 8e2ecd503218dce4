"""``nasforge fbnetv3``: joint architecture-recipe search with a pretrained predictor, and one
(architecture, recipe) per resource budget (FBNetV3, Dai et al. 2021)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from nasforge.cli import app


@app.command()
def fbnetv3(
    task: Annotated[str, typer.Option(help="mnist1d (default), digits, cifar10, npz:PATH")] = "mnist1d",
    space: Annotated[str, typer.Option(help="architecture space, e.g. conv1d")] = "conv1d",
    recipe: Annotated[str, typer.Option(help="comma-separated recipe decisions ('' = default recipe only)")] = (
        "lr,weight_decay,label_smoothing,mixup,dropout,ema"),
    budgets: Annotated[str, typer.Option(help="comma-separated bounds on the resource, e.g. 2000,5000,20000")] = (
        "2000,5000,20000"),
    resource: Annotated[str, typer.Option(help="params, flops or latency_ms (CPU inference latency, from a "
                                               "latency predictor fitted on measured architectures)")] = "params",
    latency_samples: Annotated[int, typer.Option(min=2, help="with --resource latency_ms: architectures measured "
                                                             "to fit the latency predictor")] = 100,
    epochs: Annotated[int, typer.Option(min=1, help="training epochs per trial")] = 8,
    initial: Annotated[int, typer.Option(min=2, help="Sobol trials before the predictor")] = 12,
    batch: Annotated[int, typer.Option(min=1, help="trials per predictor-picked batch")] = 6,
    rounds: Annotated[int | None, typer.Option(min=0, help="predictor-picked batches (default 2; with "
                                                            "--train-seconds: as many as the budget allows)")] = None,
    train_seconds: Annotated[float | None, typer.Option(help="stop starting trials once they have used this "
                                                             "many seconds of evaluation (build, train, validate): "
                                                             "an equal-compute budget")] = None,
    clock: Annotated[str, typer.Option(help="what --train-seconds counts: wall (default) or cpu (this "
                                            "process's CPU time, unaffected by other load)")] = "wall",
    pool_size: Annotated[int, typer.Option(min=10, help="Sobol candidates (pretraining pool)")] = 500,
    neighbours: Annotated[int, typer.Option(min=0, help="one-edit neighbours of each of the 4 best trials' "
                                                        "architectures ranked with the pool each round")] = 24,
    predictor: Annotated[str, typer.Option(help="mlp (default), gbdt, rf, gp")] = "mlp",
    seed: Annotated[int, typer.Option(help="random seed")] = 0,
    out: Annotated[Path | None, typer.Option(help="write trials.csv and family.json here")] = None,
) -> None:
    """Sobol sample under the largest budget, train, fit the pretrained predictor, train its
    picks; then a predictor-scored evolutionary search per budget, each result retrained."""
    import torch

    from nasforge.estimate.predictors.fbnetv3 import FBNetV3Search, holdout_accuracy
    from nasforge.estimate.predictors.stats import FreeStats
    from nasforge.estimate.recipe import Recipe
    from nasforge.estimate.train import TrainingEvaluator
    from nasforge.space.arch import Arch
    from nasforge.space.joint import JointSpace
    from nasforge.task import load_task

    torch.set_num_threads(1)
    try:
        if resource not in ("params", "flops", "latency_ms"):
            raise ValueError(f"--resource must be params, flops or latency_ms, got {resource!r}")
        bounds = sorted(float(b) for b in budgets.split(",") if b.strip())
        if not bounds:
            raise ValueError("--budgets needs at least one bound")
        joint = JointSpace(space, recipe=[r.strip() for r in recipe.split(",") if r.strip()])
        data = load_task(task, seed=seed)
        evaluator = TrainingEvaluator(joint, data, Recipe(epochs=epochs, seed=seed, shift=-1), threads=1, seed=seed)
        cost_model, measure = None, None
        if resource == "latency_ms":
            from nasforge.hardware.cost import MeasuredLatency
            from nasforge.hardware.predictor import fit_latency_predictor

            typer.echo(f"measuring {latency_samples} architectures to fit the latency predictor", err=True)
            latency = fit_latency_predictor(joint.base, data.input_shape, data.num_classes, latency_samples, seed=seed)
            measured = MeasuredLatency().setup(joint.base, data.input_shape, data.num_classes)

            def cost_model(arch: Arch) -> float:  # the recipe does not change the network
                return latency.predict(joint.base_arch(arch))

            def measure(arch: Arch) -> float:
                return measured.predict(joint.base_arch(arch))
        search = FBNetV3Search(joint, evaluator, FreeStats(joint, data.input_shape, data.num_classes), bounds[-1],
                               resource, initial=initial, batch=batch, pool_size=pool_size,
                               rounds=2 if rounds is None and train_seconds is None else rounds,
                               train_seconds=train_seconds, neighbours=neighbours, clock=clock,
                               predictor=predictor, seed=seed, cost_model=cost_model,
                               on_trial=lambda m: typer.echo(f"{m.arch.key}  val "
                                                             f"{(m.metrics or {}).get('val_accuracy', 'failed')}",
                                                             err=True))
        result = search.run(bounds)
    except (ValueError, KeyError, FileNotFoundError, RuntimeError) as exc:
        typer.secho(f"error: {exc}", fg="red", err=True)
        raise typer.Exit(2) from None
    typer.echo(f"search: {len(result.measured)} trials in {result.search_seconds:.0f} s; "
               f"constraint family from the predictor in {result.family_seconds:.1f} s")
    family = []
    for member in result.family:
        check = holdout_accuracy(evaluator, member.arch)
        if measure is not None:  # the predictor's latency, checked against a measurement
            check["measured_latency_ms"] = measure(member.arch)
        family.append({"budget": member.budget, "arch": member.arch.key, "predicted_val": member.predicted,
                       resource: member.cost, **check})
        checked = f", measured {check['measured_latency_ms']:.3g} ms" if measure is not None else ""
        typer.echo(f"{resource} <= {member.budget:g}: {member.arch.key}  ({resource} {member.cost:g}{checked}, "
                   f"predicted val {member.predicted:.4f}, test {check['test_accuracy']:.4f})")
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
        (out / "family.json").write_text(json.dumps(family, indent=2) + "\n")
        with (out / "trials.csv").open("w") as fh:
            fh.write(f"arch,{resource},val_accuracy,seconds\n")
            for m in result.measured:
                fh.write(f"\"{m.arch.key}\",{m.cost},{(m.metrics or {}).get('val_accuracy', '')},{m.seconds:.2f}\n")
        typer.echo(f"wrote {out / 'family.json'}")
