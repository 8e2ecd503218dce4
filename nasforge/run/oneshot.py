"""One-shot methods in a run directory, like every search (``nasforge search --strategy darts``).

A one-shot run trains the method's supernet epoch by epoch; after each epoch it writes
``checkpoint.pt`` (the method's whole state: supernet and architecture parameters, optimisers,
schedules, generators; tensors and plain values only, read back with ``weights_only=True``),
then records the epoch (derived arch, architecture probabilities, loss) in ``trials.db``'s
``epochs`` table. Then the run evaluates architectures as ordinary trials through the
experiment loop: the inherited-weight search of SPOS / sandwich / random-WS
(``search_strategy``, ``search_trials``), or the derived architecture of a gradient method. The
run's finalisation retrains the selected architecture from scratch (the train evaluator's
settings, ``final_epochs``) and the report shows the trajectory. ``supernet.pt`` is kept (it
can serve ``--evaluator supernet`` later); with ``rank_archs`` the run also writes the
supernet's ranking study (``ranking.csv``, ``correlations.csv``).

Everything trains and scores on the run's ``config.device`` (supernet and architecture
parameters, batches, BN recalibration, inherited-weight evaluation); ``checkpoint.pt`` and
``supernet.pt`` are read back with ``map_location="cpu"`` and moved there, so a run may resume on
another device.

A killed run resumes from its last completed epoch (``nasforge resume``): no completed epoch
or trial is lost or repeated, and the result equals an uninterrupted run's.
"""

from __future__ import annotations

import csv
import logging
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from nasforge.core.objectives import Objective
from nasforge.experiment.budget import Budget
from nasforge.experiment.experiment import Callback, Experiment
from nasforge.experiment.storage import Storage
from nasforge.oneshot.base import OneShotResult, OneShotSettings, get_method
from nasforge.strategy.base import get_strategy

log = logging.getLogger(__name__)

CHECKPOINT = "checkpoint.pt"
SUPERNET = "supernet.pt"
RANKING = "ranking.csv"
CORRELATIONS = "correlations.csv"
#: called after every completed epoch with (epoch record, epochs planned)
EpochCallback = Callable[[Any, int], None]


def inherited_trials(supernet: Any, task: Any, settings: OneShotSettings, strategy: Any,
                     storage: Storage | None = None, objectives: Sequence[Objective] = (),
                     constraints: Sequence[Any] = (), callbacks: Sequence[Callback] = (),
                     evaluator: Callable[[Any], Any] | None = None, device: str | None = None) -> list[Any]:
    """``settings.search_trials`` trials of ``strategy`` (a Strategy or a registered name) scored
    with weights inherited from ``supernet`` on ``device`` (default: the supernet's), through the
    experiment loop: on ``storage`` when given (they are the run's trials), else in memory.
    ``evaluator`` wraps the supernet evaluator (e.g. with the run's cost sources)."""
    from nasforge.oneshot.evaluator import SupernetEvaluator

    inherited = SupernetEvaluator(supernet, task, settings.bn_mode, settings.calib_batches,
                                  max(settings.batch_size, 64), settings.eval_images, settings.seed, device=device,
                                  eval_split=settings.eval_split)
    store = storage if storage is not None else Storage(":memory:")
    try:
        return Experiment(
            space=supernet.space, strategy=get_strategy(strategy) if isinstance(strategy, str) else strategy,
            evaluator=evaluator(inherited) if evaluator is not None else inherited, storage=store,
            objectives=list(objectives) or [Objective("val_accuracy")], constraints=list(constraints),
            budget=Budget(trials=settings.search_trials), seed=settings.seed, callbacks=list(callbacks)).run()
    finally:
        if storage is None:
            store.close()


def search_supernet(supernet: Any, task: Any, settings: OneShotSettings, strategy: str | None = None,
                    storage: Storage | None = None, objectives: Sequence[Objective] = (),
                    constraints: Sequence[Any] = (), callbacks: Sequence[Callback] = (),
                    evaluator: Callable[[Any], Any] | None = None,
                    device: str | None = None) -> tuple[Any, list[Any]]:
    """Run ``strategy`` (default ``settings.search_strategy``) over the supernet with inherited
    weights (:func:`inherited_trials`, on ``device``); returns (best arch, trials)."""
    trials = inherited_trials(supernet, task, settings, strategy or settings.search_strategy, storage, objectives,
                              constraints, callbacks, evaluator, device)
    done = [t for t in trials if t.status == "complete"]
    if not done:
        raise RuntimeError("no architecture could be evaluated on the supernet: "
                           + "; ".join(str(t.error) for t in trials[:3]))
    best = max(done, key=lambda t: (t.metrics.get("val_accuracy", float("-inf")), -t.number))
    return best.arch, trials


def train_method(method: str, space: Any, task: Any, settings: OneShotSettings | dict[str, Any],
                 device: str = "cpu") -> OneShotResult:
    """Run the one-shot ``method`` in memory on ``device`` (weight-sharing ones search with
    :func:`search_supernet`)."""
    values = settings.model_dump() if isinstance(settings, OneShotSettings) else dict(settings)
    return get_method(method, **values).train(space, task, search=search_supernet, device=device)


def run_oneshot(path: Path, config: Any, space: Any, task: Any, storage: Storage,
                callbacks: Sequence[Callback] = (), on_epoch: EpochCallback | None = None,
                cost_wrapper: Callable[[Any], Any] | None = None) -> list[Any]:
    """Train, checkpoint and evaluate the one-shot ``config.strategy`` in the run directory
    ``path`` (see the module docstring); returns the run's trials."""
    import torch

    from nasforge.experiment.clock import Clock
    from nasforge.oneshot.io import save_supernet

    method = get_method(config.strategy, **{**config.strategy_settings, "seed": config.seed})
    settings = method.settings
    state = method.begin(space, task, config.device)
    checkpoint = path / CHECKPOINT
    if checkpoint.is_file():
        state.load_state_dict(torch.load(checkpoint, map_location="cpu", weights_only=True))
        method.resume(state)
        log.info("resumed %s after epoch %d", config.strategy, state.epochs_done)
    clock = Clock(config.clock, float(storage.get_meta("elapsed_seconds", 0.0)))
    recorded = {e["epoch"] for e in storage.epochs()}
    for record in state.trajectory:  # a kill between checkpoint and record: the checkpoint wins
        if record.epoch not in recorded:
            storage.add_epoch(record.epoch, record.to_dict(), clock.now())
    while state.training():
        if config.budget.minutes is not None and clock.now() >= config.budget.minutes * 60:
            log.warning("the time budget ended training after %d of %d epochs", state.epochs_done, settings.epochs)
            break
        record = method.epoch(state)
        save_checkpoint(state.state_dict(), checkpoint)
        storage.add_epoch(record.epoch, record.to_dict(), clock.now())
        storage.set_meta("elapsed_seconds", clock.now())
        if on_epoch is not None:
            on_epoch(record, settings.epochs)
    if state.stopped is not None:
        log.info("%s stopped early after epoch %d: %s", config.strategy, state.epochs_done, state.stopped)
    save_supernet(state.supernet, path / SUPERNET)
    objectives, constraints = config.parsed_objectives(), config.parsed_constraints()

    def search(supernet: Any, task: Any, settings: OneShotSettings, strategy: str | None) -> tuple[Any, list[Any]]:
        return search_supernet(supernet, task, settings, strategy, storage, objectives, constraints, callbacks,
                               cost_wrapper, config.device)

    if method.searches:
        result = method.end(state, search)
    else:  # the derived architecture, scored with inherited weights as the run's one trial
        result = method.end(state)
        inherited_trials(state.supernet, task, settings.replace(search_trials=1),
                         get_strategy("given", archs=[result.arch.key]), storage, objectives, constraints, callbacks,
                         cost_wrapper, config.device)
    storage.set_meta("oneshot", {"method": result.method, "arch": result.arch.key,
                                 "search_seconds": result.search_seconds, "info": dict(result.info)})
    if settings.rank_archs:
        ranking_study(state.supernet, task, settings, path, config.device)
    return storage.trials(space.parse)


def save_checkpoint(state: dict[str, Any], path: Path) -> None:
    """``torch.save`` ``state`` to ``path`` through a temporary file renamed over it."""
    import torch

    from nasforge.core.atomic import atomic_path

    with atomic_path(path) as tmp:
        torch.save(state, tmp)


# ------------------------------------------------------------------ ranking study
def write_ranking(path: Path, ranked: Sequence[Any]) -> None:
    """Write ``ranked`` (:class:`nasforge.oneshot.ranking.Ranked`) as a ranking CSV: arch key,
    supernet accuracy, true accuracy (empty without a table), FLOPs, supernet loss."""
    with open(path, "w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["arch", "supernet_accuracy", "true_accuracy", "flops", "supernet_loss"])
        for r in ranked:
            writer.writerow([r.arch.key, f"{r.supernet_accuracy:.6f}",
                             "" if r.true_accuracy != r.true_accuracy else f"{r.true_accuracy:.4f}",
                             f"{r.flops:.0f}", f"{r.supernet_loss:.6f}"])


def read_ranking(path: Path, space: Any, truth: Mapping[str, float] | None = None) -> list[Any]:
    """The :class:`nasforge.oneshot.ranking.Ranked` archs of a ranking CSV that
    :func:`write_ranking` wrote (files without the loss column, from before it existed, give NaN
    losses); ``truth`` (arch key -> accuracy), when given, keeps only the archs it has and
    replaces their true accuracy."""
    from nasforge.oneshot.ranking import Ranked

    def number(text: str | None) -> float:
        return float(text) if text else float("nan")

    with open(path, newline="") as fh:
        rows = [r for r in csv.DictReader(fh) if truth is None or r["arch"] in truth]
    return [Ranked(space.parse(r["arch"]), float(r["supernet_accuracy"]),
                   truth[r["arch"]] if truth is not None else number(r["true_accuracy"]), float(r["flops"]),
                   number(r.get("supernet_loss"))) for r in rows]


def ranking_study(supernet: Any, task: Any, settings: OneShotSettings, out: Path,
                  device: str | None = None) -> list[dict[str, Any]]:
    """Score ``settings.rank_archs`` random archs (drawn with ``rank_seed``, default the run's seed)
    with inherited weights (on ``device``, default the
    supernet's) under each BN mode
    (``rank_bn_modes``, default ``bn_mode``); write ``ranking.csv`` (``ranking-<mode>.csv`` for
    further modes) and ``correlations.csv`` (Kendall/Spearman, top-10% and top-5 precision and
    Kendall within the true top 10%, of the supernet, of FLOPs, of both, and of the supernet's
    scores smoothed by ``rank_smoothing`` (alone and with FLOPs) against the benchmark's truth
    where one exists; :mod:`nasforge.oneshot.ranking`); returns the rows."""
    from nasforge.oneshot.evaluator import SupernetEvaluator
    from nasforge.oneshot.ranking import COLUMNS, rank_archs, study_correlations

    archs = supernet.space.sample_distinct(settings.rank_archs,
                                           settings.seed if settings.rank_seed is None else settings.rank_seed)
    rows: list[dict[str, Any]] = []
    for i, mode in enumerate(settings.rank_bn_modes or (settings.bn_mode,)):
        evaluator = SupernetEvaluator(supernet, task, mode, settings.calib_batches, 128, settings.eval_images,
                                      settings.seed, device=device, eval_split=settings.eval_split)
        ranked = rank_archs(evaluator, archs, supernet.space, supernet.shape)
        name = RANKING if i == 0 else f"ranking-{mode}.csv"
        write_ranking(out / name, ranked)
        rows += [{**row, "bn_mode": mode}
                 for row in study_correlations(ranked, supernet.space, settings.rank_smoothing)]
    with open(out / CORRELATIONS, "w", newline="") as fh:
        names = [c for c in COLUMNS if c != "n"]
        writer = csv.DictWriter(fh, fieldnames=[names[0], names[1], "bn_mode", *names[2:], "n"])
        writer.writeheader()
        for row in rows:
            writer.writerow({k: (f"{v:.4f}" if isinstance(v, float) else v) for k, v in row.items()})
    return rows
