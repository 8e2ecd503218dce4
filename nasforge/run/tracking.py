"""Experiment tracking: the MLflow and TensorBoard loggers, search callbacks chosen by ``log_to``.

Both log every finished trial as it finishes and the selected model at the end, and continue
where they stopped when a run is resumed: on start they look up what the tracking store already
holds of this run and log the finished trials it lacks (so each trial is logged exactly once,
even after a crash between storing a trial and logging it). A store that cannot be opened stops
the run before its first trial (:class:`TrackerError`, and no run directory is left); one that
fails during the search is a warning: the search goes on, and ``nasforge resume RUN`` logs what
it missed.

**MLflow** (``log_to: {mlflow: {uri, experiment}}``; ``pip install 'nasforge[mlflow]'``): one
*parent run* per search (named after the run directory, tagged ``nasforge.run_dir``) whose
params are the run's configuration (dotted names: ``evaluator.settings.epochs``) and whose
metrics are, per trial, at ``step`` = the trial's number: every metric the trial reports,
``cost_seconds`` and ``best/<metric>`` (best so far of each objective over feasible, complete
trials). Under it, one *nested run per trial* (``trial <n>``) with the decisions as params, the
trial's metrics and tags ``nasforge.trial``, ``nasforge.arch`` (the architecture string),
``nasforge.status`` and ``nasforge.error``; a failed trial's run ends ``FAILED``. At the end the
parent gets the selected trial and architecture as tags, the final summary's numbers as
``final/<name>`` metrics, and ``best/summary.json``, ``best/arch.json``, ``pareto.csv``,
``trials.csv`` (the trial table) and ``report.html`` as artifacts. Default store:
``sqlite:///RUN/mlflow/mlflow.db`` with artifacts in ``RUN/mlflow/artifacts``
(``mlflow ui --backend-store-uri sqlite:///RUN/mlflow/mlflow.db``); with a ``uri`` of
``sqlite:///FILE.db`` a new experiment keeps its artifacts in ``FILE-artifacts/`` beside it; a
tracking server keeps them where it is configured to.

**TensorBoard** (``log_to: {tensorboard: {dir}}``; ``pip install 'nasforge[tensorboard]'``):
scalars ``trial/<metric>``, ``trial/cost_seconds`` and ``best/<metric>`` at step = trial number,
text ``trial/arch`` (architecture, status, error) per trial, the HParams view (decisions against
metrics, one sub-run ``trial-<n>`` per complete trial), and text ``selected`` / ``summary`` at
the end. Default folder: ``RUN/tensorboard``; a ``dir`` given holds one sub-folder per run
(named after the run directory), so ``tensorboard --logdir DIR`` compares runs.
"""

from __future__ import annotations

import json
import logging
import math
import re
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from nasforge.core.records import CACHED, COMPLETE, FAILED, FINISHED, Trial
from nasforge.experiment.selection import full_fidelity
from nasforge.run.callbacks import RunStart

log = logging.getLogger(__name__)

#: folders inside the run directory that hold the default stores
MLFLOW_DIR = "mlflow"
TENSORBOARD_DIR = "tensorboard"
#: MLflow's limit on a param's value
_PARAM_LIMIT = 6000
_TAG_LIMIT = 5000


def trackers(config: Any, run_dir: Path) -> list[Any]:
    """The loggers ``config.log_to`` asks for, as search callbacks (nothing imported yet)."""
    out: list[Any] = []
    log_to = getattr(config, "log_to", None)
    if log_to is None:
        return out
    if log_to.mlflow is not None:
        out.append(MlflowLogger(run_dir, log_to.mlflow.uri, log_to.mlflow.experiment))
    if log_to.tensorboard is not None:
        out.append(TensorBoardLogger(run_dir, log_to.tensorboard.dir))
    return out


def destinations(config: Any, run_dir: Path) -> list[str]:
    """Where each tracker of ``config.log_to`` writes, with the command that shows it."""
    out = []
    for tracker in trackers(config, run_dir):
        if isinstance(tracker, MlflowLogger):
            uri = tracker.tracking_uri()
            shown = f"mlflow ui --backend-store-uri {uri}" if uri.startswith("sqlite:") else "mlflow ui"
            out.append(f"MLflow {uri} ({shown})")
        else:
            out.append(f"TensorBoard {tracker.where()} (tensorboard --logdir {tracker.where()})")
    return out


@contextmanager
def _quiet_mlflow_setup() -> Iterator[None]:
    """MLflow announces creating and migrating a new store's tables at INFO: keep it quiet."""
    names = ("mlflow.store.db.utils", "alembic.runtime.migration")
    levels = {name: logging.getLogger(name).level for name in names}
    for name in names:
        logging.getLogger(name).setLevel(logging.WARNING)
    try:
        yield
    finally:
        for name, level in levels.items():
            logging.getLogger(name).setLevel(level)


class _BestSoFar:
    """Best value so far of each objective over complete, full-fidelity, feasible trials."""

    def __init__(self, config: Any) -> None:
        self.objectives = config.parsed_objectives()
        self.constraints = config.parsed_constraints()
        self.best: dict[str, float] = {}

    def update(self, trial: Trial) -> dict[str, float]:
        if trial.status == COMPLETE and full_fidelity(trial) and all(
                c.satisfied(trial.metrics) for c in self.constraints):
            for o in self.objectives:
                value = trial.metrics.get(o.metric)
                if value is None or not math.isfinite(float(value)):
                    continue
                if o.metric not in self.best or o.better(float(value), self.best[o.metric]):
                    self.best[o.metric] = float(value)
        return dict(self.best)


class TrackerError(RuntimeError):
    """A tracker that cannot be opened when the search starts (the search does not start)."""


class _Logger:
    """What both loggers share: best-so-far, the backfill of trials a store lacks, and failures.

    A store that cannot be opened stops the run before its first trial (:class:`TrackerError`);
    one that fails later is reported (a warning) and left for the rest of the session: the
    search goes on, and the next ``nasforge resume RUN`` logs the trials it missed.
    """

    name = "tracker"

    def __init__(self, run_dir: Path) -> None:
        self.run_dir = Path(run_dir)
        self._best: _BestSoFar | None = None
        self.space: Any = None
        self.failed = False

    def where(self) -> str:
        """The store written to, in words."""
        raise NotImplementedError

    def on_start(self, run: RunStart) -> None:
        self._best = _BestSoFar(run.config)
        self.space = run.space
        try:
            self._open(run)
            logged = self._logged()
        except Exception as exc:
            raise TrackerError(f"cannot log to {self.name} at {self.where()}: {type(exc).__name__}: {exc}") from exc
        earlier = sorted((t for t in run.trials if t.status in FINISHED), key=lambda t: t.told_seq or 0)
        for trial in earlier:
            best = self._best.update(trial)
            if trial.number not in logged:
                self._guard(self._log, trial, best)

    def on_trial(self, trial: Trial) -> None:
        if trial.status == CACHED or self._best is None:
            return
        self._guard(self._log, trial, self._best.update(trial))

    def on_end(self, result: Any) -> None:
        if self._best is not None:
            self._guard(self._end, result)

    def _guard(self, call: Any, *args: Any) -> None:
        """``call(*args)`` unless an earlier call failed; a failure is a warning, not the search's end."""
        if self.failed:
            return
        try:
            call(*args)
        except Exception as exc:
            self.failed = True
            log.warning("logging to %s at %s failed (%s: %s); the search goes on without it, and `nasforge resume "
                        "%s` logs what it missed", self.name, self.where(), type(exc).__name__, exc, self.run_dir)

    def _open(self, run: RunStart) -> None:
        raise NotImplementedError

    def _logged(self) -> set[int]:
        raise NotImplementedError

    def _log(self, trial: Trial, best: dict[str, float]) -> None:
        raise NotImplementedError

    def _end(self, result: Any) -> None:
        raise NotImplementedError


def _decisions(trial: Trial) -> dict[str, Any]:
    arch = trial.arch
    return arch.to_dict() if hasattr(arch, "to_dict") else dict(arch)


def _numbers(metrics: Any) -> dict[str, float]:
    """The numeric metrics as floats (a non-number is left out), under names a tracker accepts."""
    out = {}
    for name, value in dict(metrics).items():
        try:
            out[_key(name)] = float(value)
        except (TypeError, ValueError):
            continue
    return out


def _key(name: Any) -> str:
    """``name`` as an MLflow / TensorBoard key: letters, digits, ``_-./`` and spaces kept, any
    other character replaced by ``_``."""
    return re.sub(r"[^\w\-./ ]", "_", str(name))


def _flatten(data: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in data.items():
        if isinstance(value, dict) and value:
            out.update(_flatten(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("nasforge")
    except PackageNotFoundError:
        return "unknown"


def table_csv(trials: list[Trial], config: Any, space: Any = None) -> str:
    """The trial table (:func:`~nasforge.report.table.trial_table`) of a run as CSV text."""
    import csv
    import io

    from nasforge.report.table import trial_table

    decisions = [c.name for c in space.choices] if space is not None and hasattr(space, "choices") else None
    table = trial_table(trials, config.parsed_objectives(), config.parsed_constraints(), decisions)
    buf = io.StringIO(newline="")
    writer = csv.writer(buf)
    writer.writerow(table.columns)
    writer.writerows(table.rows)
    return buf.getvalue()


# --------------------------------------------------------------------------------------- MLflow


class MlflowLogger(_Logger):
    """Logs a search to MLflow: a parent run with per-trial metrics, a nested run per trial (see
    the module docstring). ``uri``: a tracking URI (default: an SQLite store in ``RUN/mlflow``)."""

    name = "MLflow"

    def __init__(self, run_dir: Path, uri: str | None = None, experiment: str = "nasforge") -> None:
        super().__init__(run_dir)
        self.uri, self.experiment = uri, experiment
        self.client: Any = None
        self.parent_id: str | None = None
        self.experiment_id: str | None = None

    def where(self) -> str:
        return self.tracking_uri()

    def tracking_uri(self) -> str:
        """The store this logger writes to."""
        if self.uri:
            return self.uri
        return "sqlite:///" + str((self.run_dir / MLFLOW_DIR / "mlflow.db").absolute())

    def _open(self, run: RunStart) -> None:
        from mlflow import MlflowClient

        artifacts = None  # where a new experiment keeps its artifacts: a server or file store decides
        if not self.uri:
            (self.run_dir / MLFLOW_DIR).mkdir(parents=True, exist_ok=True)
            artifacts = (self.run_dir / MLFLOW_DIR / "artifacts").absolute().as_uri()
        elif self.uri.startswith("sqlite:///"):  # beside the database (MLflow's default is ./mlruns of the cwd)
            db = Path(self.uri.removeprefix("sqlite:///")).absolute()
            artifacts = db.with_name(db.stem + "-artifacts").as_uri()
        with _quiet_mlflow_setup():  # a new store's tables are made when the client opens it
            self.client = MlflowClient(tracking_uri=self.tracking_uri())
            found = self.client.get_experiment_by_name(self.experiment)
        self.experiment_id = found.experiment_id if found is not None else self.client.create_experiment(
            self.experiment, artifact_location=artifacts)
        parent = self._find_parent()
        params = _flatten(run.config.model_dump(mode="json", exclude={"log_to"}))
        if parent is None:
            created = self.client.create_run(self.experiment_id, run_name=self.run_dir.name, tags={
                "nasforge.role": "search", "nasforge.run_dir": str(self.run_dir.absolute()),
                "nasforge.version": _version(), "nasforge.space": run.config.space,
                "nasforge.strategy": run.config.strategy})
            self.parent_id = created.info.run_id
            known: dict[str, str] = {}
        else:
            self.parent_id = parent.info.run_id
            known = dict(parent.data.params)
            self.client.update_run(self.parent_id, status="RUNNING")
        from mlflow.entities import Param

        fresh = [Param(_key(k), _text(v, _PARAM_LIMIT)) for k, v in params.items() if _key(k) not in known]
        for i in range(0, len(fresh), 100):  # MLflow takes at most 100 params per batch
            self.client.log_batch(self.parent_id, params=fresh[i:i + 100])

    def _find_parent(self) -> Any:
        name = self.run_dir.name
        where = "tags.`nasforge.role` = 'search'" + ("" if "'" in name else f" AND attributes.run_name = '{name}'")
        target = str(self.run_dir.absolute())
        token = None
        while True:
            page = self.client.search_runs([self.experiment_id], where, page_token=token)
            for r in page:
                if r.data.tags.get("nasforge.run_dir") == target:
                    return r
            token = page.token
            if not token:
                return None

    def _logged(self) -> set[int]:
        out: set[int] = set()
        token = None
        while True:
            page = self.client.search_runs([self.experiment_id], f"tags.`mlflow.parentRunId` = '{self.parent_id}'",
                                           page_token=token)
            out.update(int(r.data.tags["nasforge.trial"]) for r in page if "nasforge.trial" in r.data.tags)
            token = page.token
            if not token:
                return out

    def _log(self, trial: Trial, best: dict[str, float]) -> None:
        import time

        from mlflow.entities import Metric, Param

        stamp = int(time.time() * 1000)
        metrics = {**_numbers(trial.metrics), "cost_seconds": float(trial.cost_seconds)}
        child = self.client.create_run(self.experiment_id, run_name=f"trial {trial.number}", tags={
            "mlflow.parentRunId": self.parent_id, "nasforge.role": "trial", "nasforge.trial": str(trial.number),
            "nasforge.arch": _text(trial.arch.key, _TAG_LIMIT), "nasforge.status": str(trial.status),
            "nasforge.error": _text(trial.error or "", _TAG_LIMIT)})
        child_id = child.info.run_id
        self.client.log_batch(child_id, metrics=[Metric(k, v, stamp, 0) for k, v in metrics.items()],
                              params=[Param(_key(k), _text(v, _PARAM_LIMIT)) for k, v in _decisions(trial).items()])
        self.client.set_terminated(child_id, "FAILED" if trial.status == FAILED else "FINISHED")
        step = [Metric(k, v, stamp, trial.number) for k, v in metrics.items()]
        step += [Metric(f"best/{_key(k)}", v, stamp, trial.number) for k, v in best.items()]
        self.client.log_batch(self.parent_id, metrics=step)

    def _end(self, result: Any) -> None:
        from mlflow.entities import Metric, RunTag

        tags = [RunTag("nasforge.trials", str(len(result.trials)))]
        if result.best is not None:
            tags += [RunTag("nasforge.selected_trial", str(result.best.number)),
                     RunTag("nasforge.selected_arch", _text(result.best.arch.key, _TAG_LIMIT))]
        summary = result.summary or {}
        numbers = {**{k: v for k, v in summary.items() if k != "trial"},
                   **{f"truth/{k}": v for k, v in (summary.get("truth") or {}).items()}}
        metrics = [Metric(f"final/{_key(k)}", float(v), 0, 0) for k, v in numbers.items()
                   if isinstance(v, int | float) and not isinstance(v, bool)]
        self.client.log_batch(self.parent_id, metrics=metrics, tags=tags)
        if result.summary is not None:
            self.client.log_dict(self.parent_id, result.summary, "best/summary.json")
        for name in ("best/arch.json", "pareto.csv", "report.html"):
            path = Path(result.run_dir) / name
            if path.is_file():
                self.client.log_artifact(self.parent_id, str(path), str(Path(name).parent).strip(".") or None)
        with tempfile.TemporaryDirectory() as tmp:
            table = Path(tmp) / "trials.csv"
            table.write_text(table_csv(result.trials, result.config, self.space))
            self.client.log_artifact(self.parent_id, str(table))
        self.client.set_terminated(self.parent_id, "FINISHED")


def _text(value: Any, limit: int) -> str:
    text = value if isinstance(value, str) else json.dumps(value) if isinstance(value, list | dict) else str(value)
    return text if len(text) <= limit else text[:limit - 3] + "..."


# ---------------------------------------------------------------------------------- TensorBoard


class TensorBoardLogger(_Logger):
    """Logs a search as TensorBoard event files (see the module docstring). ``folder``: a parent
    folder for many runs (default: ``RUN/tensorboard``, this run's own)."""

    name = "TensorBoard"

    def __init__(self, run_dir: Path, folder: str | Path | None = None) -> None:
        super().__init__(run_dir)
        self.logdir = Path(run_dir) / TENSORBOARD_DIR if folder is None else Path(folder) / Path(run_dir).name
        self.writer: Any = None

    def where(self) -> str:
        return str(self.logdir)

    def _open(self, run: RunStart) -> None:
        from torch.utils.tensorboard import SummaryWriter

        self.logdir.mkdir(parents=True, exist_ok=True)
        self.writer = SummaryWriter(str(self.logdir))

    def _logged(self) -> set[int]:
        from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

        events = EventAccumulator(str(self.logdir), size_guidance={"scalars": 0})
        events.Reload()
        if "trial/cost_seconds" not in events.Tags().get("scalars", []):
            return set()
        return {int(e.step) for e in events.Scalars("trial/cost_seconds")}

    def _log(self, trial: Trial, best: dict[str, float]) -> None:
        w, n = self.writer, trial.number
        metrics = _numbers(trial.metrics)
        for name, value in metrics.items():
            w.add_scalar(f"trial/{name}", value, n)
        w.add_scalar("trial/cost_seconds", float(trial.cost_seconds), n)
        for name, value in best.items():
            w.add_scalar(f"best/{_key(name)}", value, n)
        text = f"`{trial.arch.key}` ({trial.status})" + (f": {trial.error}" if trial.error else "")
        w.add_text("trial/arch", text, n)
        if trial.status == COMPLETE and metrics:
            hparams = {_key(k): v if isinstance(v, bool | int | float | str) else str(v)
                       for k, v in _decisions(trial).items()}
            w.add_hparams(hparams, {f"hparam/{k}": v for k, v in metrics.items()}, run_name=f"trial-{n}",
                          global_step=n)
        w.flush()

    def _end(self, result: Any) -> None:
        if result.best is not None:
            self.writer.add_text("selected", f"trial {result.best.number}: `{result.best.arch.key}`")
        if result.summary is not None:
            body = json.dumps(result.summary, indent=2, default=str)
            self.writer.add_text("summary", "\n".join("    " + line for line in body.splitlines()))
        self.writer.close()
