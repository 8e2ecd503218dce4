"""``nasforge oneshot`` and ``nasforge supernet``: presets of ``nasforge search`` for one-shot
methods, which are strategies (``nasforge search --strategy darts -S epochs=10`` is the same run).

``oneshot --method M`` runs any one-shot method; ``supernet`` trains a weight-sharing supernet
(spos, sandwich, fairnas, random-ws, fewshot, fewshot-gm, ofa) and reports its ranking study (``ranking.csv``, ``correlations.csv``) with
the run. Both write an ordinary run directory (config.yaml, trials.db with the epochs, the lock,
checkpoint.pt, supernet.pt, best/, report.html) that ``nasforge resume``, ``show`` and
``report`` read."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from nasforge.cli import app
from nasforge.cli.common import Command, Device, SpaceSettings, fail, names_later, pairs

Lr = Annotated[float | None, typer.Option(help="weight learning rate (default 0.05)")]
BatchSize = Annotated[int | None, typer.Option(help="batch size (default 64)")]
Threads = Annotated[int | None, typer.Option(min=1, help="torch threads")]
Seed = Annotated[int, typer.Option(help="random seed")]
RunOut = Annotated[Path | None, typer.Option("--out", "-o", help="run directory (default: nasforge-runs/<date>-<time>)")]
MethodSettings = Annotated[list[str] | None, typer.Option(
    "--strategy-setting", "-S", help="one-shot method setting NAME=VALUE (repeatable), e.g. arch_lr=0.01; "
    "the method is the run's strategy")]


def _search(method: str, space: str, space_setting: list[str] | None, task: str, seed: int,
            setting: list[str] | None, out: Path | None, final_epochs: int, final_retrain: bool, device: str,
            **fixed: Any) -> None:
    from nasforge.run.config import ConfigError, load_config

    settings = {k: v for k, v in fixed.items() if v is not None}
    settings.update(pairs(setting, "--strategy-setting"))
    try:
        cfg = load_config(task=task, space=space, space_settings=pairs(space_setting, "--space-setting") or None,
                          strategy=method, strategy_settings=settings, seed=seed, final_retrain=final_retrain,
                          device=device,
                          evaluator={"name": "train", "settings": {"final_epochs": final_epochs}})
    except (ConfigError, ValueError) as exc:
        fail(exc)
    from nasforge.cli.search import _run, _start

    result = _run(lambda callbacks, on_epoch=None: _start(cfg, out, callbacks, on_epoch), cfg)
    correlations = Path(result.run_dir) / "correlations.csv"
    if correlations.is_file():
        import csv

        with open(correlations) as fh:
            for row in csv.DictReader(fh):
                typer.echo(f"{row['predictor']:>20} vs {row['target']:<13} [{row['bn_mode']}] kendall "
                           f"{float(row['kendall']):.3f}  spearman {float(row['spearman']):.3f}  "
                           f"top-10% precision {float(row['precision_top10pct']):.2f}  "
                           f"top-5 precision {float(row['precision_top5']):.2f}  "
                           f"top-10% kendall {float(row['kendall_top10pct']):.3f}  (n={row['n']})")


@app.command(cls=Command)
def oneshot(
    space: Annotated[str, typer.Option(help="search space, e.g. nb201 (macro for tanglenas)")] = "nb201",
    method: Annotated[str, typer.Option(help=names_later("nasforge.oneshot.base", "METHODS"))] = "darts",
    task: Annotated[str, typer.Option(help="task, e.g. cifar10")] = "cifar10",
    epochs: Annotated[int | None, typer.Option(min=1, help="search epochs (default 10)")] = None,
    lr: Lr = None,
    batch_size: BatchSize = None,
    threads: Threads = None,
    final_epochs: Annotated[int, typer.Option(min=1, help="epochs of the final retraining")] = 40,
    no_final_retrain: Annotated[bool, typer.Option(
        "--no-final-retrain", help="skip the final retraining of the derived architecture")] = False,
    seed: Seed = 0,
    device: Device = "auto",
    out: RunOut = None,
    space_setting: SpaceSettings = None,
    setting: MethodSettings = None,
) -> None:
    """Run a one-shot / differentiable method as a search (a run directory, resumable per epoch)."""
    _search(method, space, space_setting, task, seed, setting, out, final_epochs, not no_final_retrain, device,
            epochs=epochs,
            lr=lr, batch_size=batch_size, threads=threads)


@app.command(cls=Command)
def supernet(
    space: Annotated[str, typer.Option(help="space with a supernet: macro, mbconv, nb201, vit, gpt")] = "macro",
    task: Annotated[str, typer.Option(help="task, e.g. cifar10")] = "cifar10",
    method: Annotated[str, typer.Option(help="a weight-sharing method: spos (uniform single path), sandwich "
                                        "(OFA/BigNAS), fairnas (every option once a step), random-ws, fewshot, fewshot-gm (few-shot NAS), ofa "
                                        "(progressive shrinking)")] = "spos",
    epochs: Annotated[int, typer.Option(min=1, help="supernet training epochs")] = 5,
    rank_archs: Annotated[int, typer.Option(min=2, help="archs scored with inherited weights")] = 200,
    bn_mode: Annotated[list[str] | None, typer.Option(
        help="BN mode(s) for scoring: recalibrate, train, running (repeatable; first is ranking.csv)")] = None,
    lr: Lr = None,
    batch_size: BatchSize = None,
    threads: Threads = None,
    final_retrain: Annotated[bool, typer.Option(
        "--final-retrain", help="also retrain the best architecture of the inherited-weight search")] = False,
    seed: Seed = 0,
    device: Device = "auto",
    out: RunOut = None,
    space_setting: SpaceSettings = None,
    setting: MethodSettings = None,
) -> None:
    """Train a weight-sharing supernet; its ranking study (ranking.csv, correlations.csv) is part of the run."""
    from nasforge.oneshot.base import METHODS

    searching = [m for m in METHODS.list() if METHODS.get(m).searches]
    if method not in searching:
        fail(f"--method must be a weight-sharing method ({', '.join(searching)}), got {method!r}")
    _search(method, space, space_setting, task, seed, setting, out, 40, final_retrain, device, epochs=epochs, lr=lr,
            batch_size=batch_size, threads=threads, rank_archs=rank_archs,
            rank_bn_modes=list(bn_mode) if bn_mode else None, bn_mode=bn_mode[0] if bn_mode else None)
