"""``nasforge cost`` (one arch: params, FLOPs, memory, latency) and ``nasforge latency``
(measure sampled archs, fit and score the latency table and predictor)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from nasforge.cli import app
from nasforge.cli.common import Command, Device, fail, registry_names

_SPACES = registry_names("nasforge.space.registry", "SPACES")


def _shape(text: str | None) -> tuple[int, ...] | None:
    if text is None:
        return None
    try:
        shape = tuple(int(part) for part in text.split(","))
    except ValueError:
        fail(f"--input-shape: expected comma-separated integers like 3,32,32, got {text!r}")
    if any(n < 1 for n in shape):
        fail(f"--input-shape: every size must be >= 1, got {text!r}")
    return shape


def _settings(device: str, **kwargs: Any) -> Any:
    """Latency settings, checked before anything is built or measured.

    ``auto`` is resolved (:func:`~nasforge.run.config.resolve_device`); ``cuda:N`` makes CUDA
    device N the current one and measures on ``cuda``.
    """
    from nasforge.hardware.latency import LatencySettings
    from nasforge.run.config import resolve_device

    try:
        device = resolve_device(device)
    except ValueError as exc:
        fail(f"--device: {exc}")
    try:
        settings = LatencySettings(device=device.partition(":")[0], **kwargs)
    except ValueError as exc:
        fail(exc)
    if ":" in device:
        import torch

        torch.cuda.set_device(int(device.partition(":")[2]))
    return settings


def _space(name: str, blocks: bool = False) -> Any:
    from nasforge.core.registry import UnknownNameError
    from nasforge.space import get_space
    from nasforge.space.blocks import BlockSpace

    try:
        space = get_space(name)
    except UnknownNameError as exc:
        fail(f"--space: {exc}")
    if blocks and not isinstance(space, BlockSpace):
        from nasforge.space.registry import SPACES

        # a space that needs settings to exist (hf-lm: a checkpoint) is made of no blocks
        valid = ", ".join(n for n in SPACES.list() if issubclass(SPACES.get(n), BlockSpace))
        fail(f"--space: the latency table needs a space made of blocks; {name!r} is not (valid: {valid})")
    return space


Shape = Annotated[str | None, typer.Option(help="input shape C,H,W (default: the space's, e.g. 3,32,32)")]
Classes = Annotated[int | None, typer.Option("--classes", min=1, help="number of classes (default: 10)")]
Backend = Annotated[str, typer.Option(help="torch (eager), onnx (ONNX Runtime) or onnx_int8 (INT8 in ONNX Runtime)")]
Threads = Annotated[int, typer.Option(min=1, help="torch threads, pinned while measuring")]
Batch = Annotated[int, typer.Option(min=1, help="batch size for memory and latency")]
Clock = Annotated[str, typer.Option(help="wall (elapsed) or cpu (thread CPU time; steadier on a busy machine; "
                                         "needs --device cpu --threads 1)")]


@app.command(cls=Command)
def cost(
    space: Annotated[str, typer.Option(help=f"search space, one of: {_SPACES}")],
    arch: Annotated[str, typer.Option(help="architecture key, with or without the 'space:' prefix")],
    classes: Classes = None,
    input_shape: Shape = None,
    latency: Annotated[bool, typer.Option("--latency", help="also measure latency")] = False,
    backend: Backend = "torch",
    device: Device = "auto",
    threads: Threads = 1,
    batch_size: Batch = 1,
    clock: Clock = "wall",
    json_out: Annotated[bool, typer.Option("--json", help="print JSON")] = False,
) -> None:
    """How big and how fast is one architecture: params, FLOPs, memory, model size, BitOps, latency."""
    from nasforge.core.registry import UnknownNameError
    from nasforge.hardware.cost import CostModel
    from nasforge.hardware.metrics import hardware_metrics

    shape = _shape(input_shape)
    settings = _settings(device, backend=backend, threads=threads, batch_size=batch_size, clock=clock)
    sp = _space(space)
    try:
        parsed = sp.parse(arch)
    except (UnknownNameError, ValueError, TypeError) as exc:
        fail(f"--arch: {exc}")
    try:
        bound = CostModel().setup(sp, shape, classes)
        model = bound.build(parsed)
        which = ["params", "flops", "macs", "memory_mb", "size_mb", "bitops", "model_bytes"]
        if latency:
            which += ["latency_ms", "latency_iqr_ms"]
        metrics = hardware_metrics(model, bound.shape_.input_shape, which, batch_size,
                                   settings if latency else None)
    except (UnknownNameError, ValueError, TypeError, RuntimeError) as exc:
        fail(exc)
    record = {"space": sp.name, "arch": parsed.key, "input_shape": list(bound.shape_.input_shape),
              "num_classes": bound.shape_.num_classes, "batch_size": batch_size, **metrics}
    for name in ("params", "flops", "macs", "bitops", "model_bytes"):
        record[name] = int(record[name])
    if latency:
        record["latency"] = {"backend": backend, "device": settings.device, "threads": threads,
                             "clock": clock}
    if json_out:
        typer.echo(json.dumps(record, indent=2))
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(title=parsed.key, show_header=False)
    for name, value in record.items():
        table.add_row(name, f"{value:,.4g}" if isinstance(value, float) else str(value))
    Console().print(table)


@app.command(cls=Command)
def latency(
    space: Annotated[str, typer.Option(help="search space made of blocks: macro, mbconv, nb201, vit")],
    out: Annotated[Path, typer.Option("--out", "-o", help="folder for measurements.csv and accuracy.csv")],
    samples: Annotated[int, typer.Option(min=4, help="number of distinct archs to measure (at least 2 to fit "
                                                    "and 2 held out)")] = 300,
    seed: Annotated[int, typer.Option(help="seed of the sample and the split")] = 0,
    train_fraction: Annotated[float, typer.Option(help="share of archs the estimators are fitted on, in (0, 1)")] = (
        0.7),
    rounds: Annotated[int, typer.Option(min=1, help="interleaved measurement rounds per arch")] = 10,
    repeats: Annotated[int, typer.Option(min=1, help="timed runs per arch (over all rounds)")] = 30,
    warmup: Annotated[int, typer.Option(min=0, help="untimed runs before each timing")] = 10,
    classes: Classes = None,
    input_shape: Shape = None,
    backend: Backend = "torch",
    device: Device = "auto",
    threads: Threads = 1,
    batch_size: Batch = 1,
    clock: Clock = "wall",
) -> None:
    """Measure sampled archs, fit the latency table and predictor on a split, score them."""
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn
    from rich.table import Table

    from nasforge.core.registry import UnknownNameError
    from nasforge.hardware.study import latency_study, write_study

    if not 0.0 < train_fraction < 1.0:
        fail(f"--train-fraction must be in (0, 1), got {train_fraction}")
    shape = _shape(input_shape)
    settings = _settings(device, backend=backend, threads=threads, batch_size=batch_size,
                         clock=clock, repeats=repeats, warmup=warmup)
    sp = _space(space, blocks=True)
    columns = ("[progress.description]{task.description}", BarColumn(), MofNCompleteColumn(),
               TimeRemainingColumn())
    with Progress(*columns, transient=False) as bar:
        tasks: dict[str, Any] = {}

        def tell(stage: str, done: int, total: int) -> None:
            if stage not in tasks:
                tasks[stage] = bar.add_task(stage, total=total)
            bar.update(tasks[stage], completed=done)

        try:
            result = latency_study(sp, samples, settings, rounds, train_fraction,
                                   seed, shape, classes, progress=tell)
        except (UnknownNameError, ValueError, TypeError, RuntimeError) as exc:
            fail(exc)
    paths = write_study(result, out)
    table = Table("estimator", "n_train", "n_test", "Kendall tau", "within ±10%", "MAPE",
                  title=f"{space}: held-out latency estimates")
    for row in result.accuracy:
        table.add_row(row["estimator"], str(row["n_train"]), str(row["n_test"]),
                      f"{row['kendall_tau']:.3f}", f"{row['within_10pct']:.1%}", f"{row['mape']:.1%}")
    Console().print(table)
    typer.echo(f"wrote {paths[0]} and {paths[1]}")
