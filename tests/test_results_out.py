"""Results out of nasforge: search callbacks, the MLflow and TensorBoard loggers (read back from
their stores), the trial table (CSV and DataFrame) and a run read with ``nasforge.load_run``."""

from __future__ import annotations

import csv
import io
import math
import re
import sqlite3
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

import nasforge
from nasforge import Space, task_from_arrays
from nasforge.cli import app
from nasforge.run.config import ConfigError
from nasforge.run.runner import SearchInterrupted

runner = CliRunner()
TABULAR = dict(space="nb201", strategy="random", evaluator="tabular")


class Recorder:
    """A callback object recording every call."""

    def __init__(self, stop_after: int | None = None) -> None:
        self.calls: list[tuple] = []
        self.stop_after = stop_after

    def on_start(self, run):
        self.calls.append(("start", [t.number for t in run.trials], run.resumed))

    def on_trial(self, trial):
        self.calls.append(("trial", trial.number, trial.status))
        if self.stop_after is not None and sum(c[0] == "trial" for c in self.calls) == self.stop_after:
            raise KeyboardInterrupt  # as Ctrl-C would, after this trial is stored

    def on_end(self, result):
        self.calls.append(("end", len(result.trials)))


class _Broken(torch.nn.Module):
    def forward(self, x):
        return x * float("nan")


def _toy():
    """A tiny task and a space whose ``broken`` option outputs NaN (its trials fail: NaN loss)."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal((120, 6)).astype(np.float32)
    y = (x[:, 0] > 0).astype(np.int64)

    def build(arch, task):
        return torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(6, arch["width"]), torch.nn.ReLU(),
                                   torch.nn.Linear(arch["width"], task.num_classes),
                                   *([_Broken()] if arch["broken"] else []))

    space = Space({"width": [2, 4, 8], "broken": [False, True]}, build=build, name="toy")
    return task_from_arrays(x, y, name="toy"), space


def test_callbacks_see_every_trial_once_in_order_and_the_end(tmp_path):
    task, space = _toy()
    obj, plain = Recorder(), []
    result = nasforge.search(task, space, "random", trials=6, run_dir=tmp_path / "r", final_retrain=False,
                             evaluator={"epochs": 1, "batch_size": 64}, objectives=["val_accuracy:max"],
                             callbacks=[obj, plain.append])
    numbers = [t.number for t in result.trials]
    assert obj.calls[0] == ("start", [], False)
    assert obj.calls[1:-1] == [("trial", t.number, t.status) for t in result.trials]
    assert obj.calls[-1] == ("end", 6)
    assert [t.number for t in plain] == numbers == sorted(numbers)
    assert {t.status for t in plain} == {"complete", "failed"}  # failed trials are passed too
    assert all(t.error for t in plain if t.status == "failed")


def test_callbacks_on_resume_see_the_rest(tmp_path):
    run = tmp_path / "r"
    first = Recorder(stop_after=3)
    with pytest.raises(SearchInterrupted):
        nasforge.search(**TABULAR, trials=7, run_dir=run, callbacks=[first])
    assert [c[1] for c in first.calls if c[0] == "trial"] == [1, 2, 3]
    second = Recorder()
    result = nasforge.resume(run, callbacks=[second])
    assert second.calls[0] == ("start", [1, 2, 3], True)
    assert [c[1] for c in second.calls if c[0] == "trial"] == [4, 5, 6, 7]
    assert second.calls[-1] == ("end", 7) and len(result.trials) == 7
    again = Recorder()
    assert nasforge.resume(run, callbacks=[again]).already_complete
    assert again.calls == [("start", [1, 2, 3, 4, 5, 6, 7], True), ("end", 7)]


@pytest.mark.parametrize("bad, message", [(42, "callbacks must be a list"), ([object()], "callbacks[0] (object)")])
def test_a_bad_callback_is_refused_before_anything_runs(tmp_path, bad, message):
    with pytest.raises(TypeError) as err:
        nasforge.search(**TABULAR, trials=2, run_dir=tmp_path / "r", callbacks=bad)
    assert message in str(err.value)
    assert not (tmp_path / "r").exists()


# ------------------------------------------------------------------------------------ trackers


@pytest.fixture(scope="module")
def tracked(tmp_path_factory):
    """A tabular run logged to MLflow and TensorBoard, interrupted after 3 trials before the
    loggers saw the third, then resumed: each logger must hold every trial exactly once."""
    run = tmp_path_factory.mktemp("tracked") / "run"
    with pytest.raises(SearchInterrupted):
        nasforge.search(**TABULAR, trials=6, run_dir=run, log_to=["mlflow", "tensorboard"],
                        objectives=["accuracy:max"], callbacks=[Recorder(stop_after=3)])
    result = nasforge.resume(run)
    assert len(result.trials) == 6
    return run, result


def _close(a: float, b: float) -> bool:
    return math.isclose(a, b, rel_tol=1e-6, abs_tol=1e-9)


def test_mlflow_holds_every_trial_once(tracked):
    from mlflow import MlflowClient

    run, result = tracked
    client = MlflowClient(tracking_uri=f"sqlite:///{run / 'mlflow' / 'mlflow.db'}")
    experiment = client.get_experiment_by_name("nasforge")
    parents = client.search_runs([experiment.experiment_id], "tags.`nasforge.role` = 'search'")
    assert len(parents) == 1
    parent = parents[0]
    assert parent.info.status == "FINISHED" and parent.info.run_name == run.name
    assert parent.data.params["strategy"] == "random" and parent.data.params["budget.trials"] == "6"
    history = client.get_metric_history(parent.info.run_id, "accuracy")
    assert sorted(m.step for m in history) == [t.number for t in result.trials]
    by_number = {t.number: t for t in result.trials}
    assert all(_close(m.value, by_number[m.step].metrics["accuracy"]) for m in history)
    best = {m.step: m.value for m in client.get_metric_history(parent.info.run_id, "best/accuracy")}
    running = -math.inf
    for t in result.trials:
        running = max(running, t.metrics["accuracy"])
        assert _close(best[t.number], running)
    children = client.search_runs([experiment.experiment_id], f"tags.`mlflow.parentRunId` = '{parent.info.run_id}'")
    assert sorted(int(c.data.tags["nasforge.trial"]) for c in children) == sorted(by_number)
    for child in children:
        trial = by_number[int(child.data.tags["nasforge.trial"])]
        assert child.data.tags["nasforge.arch"] == trial.arch.key
        assert child.data.params == {k: str(v) for k, v in trial.arch.to_dict().items()}
        assert _close(child.data.metrics["accuracy"], trial.metrics["accuracy"])
    assert parent.data.tags["nasforge.selected_arch"] == result.best.arch.key
    assert _close(parent.data.metrics["final/truth/accuracy"], result.summary["truth"]["accuracy"])
    artifacts = {a.path for a in client.list_artifacts(parent.info.run_id)}
    assert {"trials.csv", "pareto.csv", "report.html", "best"} <= artifacts


def test_tensorboard_holds_every_trial_once(tracked):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    run, result = tracked
    events = EventAccumulator(str(run / "tensorboard"), size_guidance={"scalars": 0, "tensors": 0})
    events.Reload()
    scalars = events.Scalars("trial/accuracy")
    assert sorted(e.step for e in scalars) == [t.number for t in result.trials]
    by_number = {t.number: t for t in result.trials}
    assert all(_close(e.value, by_number[e.step].metrics["accuracy"]) for e in scalars)
    best = {e.step: e.value for e in events.Scalars("best/accuracy")}
    assert _close(best[max(best)], max(t.metrics["accuracy"] for t in result.trials))
    texts = {e.step: e.tensor_proto.string_val[0].decode() for e in events.Tensors("trial/arch/text_summary")}
    assert all(by_number[n].arch.key in text for n, text in texts.items()) and sorted(texts) == sorted(by_number)
    assert sorted(p.name for p in (run / "tensorboard").iterdir() if p.is_dir()) == sorted(
        f"trial-{n}" for n in by_number)


def test_resume_adds_a_tracker_and_backfills(tmp_path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    run = tmp_path / "r"
    result = nasforge.search(**TABULAR, trials=3, run_dir=run)
    assert not (run / "tensorboard").exists()
    tb = tmp_path / "tb"
    out = runner.invoke(app, ["resume", str(run), "--log-to", "tensorboard", "--tensorboard-dir", str(tb)])
    assert out.exit_code == 0, out.output
    assert f"loggedtoTensorBoard{tb / run.name}" in "".join(out.output.split())  # however the console wraps it
    events = EventAccumulator(str(tb / run.name), size_guidance={"scalars": 0})
    events.Reload()
    assert sorted(e.step for e in events.Scalars("trial/accuracy")) == [t.number for t in result.trials]


def test_a_missing_extra_is_named_before_the_search(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "mlflow", None)  # as if not installed
    with pytest.raises(ConfigError) as err:
        nasforge.search(**TABULAR, trials=2, run_dir=tmp_path / "r", log_to=["mlflow"])
    assert "pip install 'nasforge[mlflow]'" in str(err.value)
    out = runner.invoke(app, ["search", "--space", "nb201", "--evaluator", "tabular", "--trials", "2",
                              "--log-to", "mlflow", "--out", str(tmp_path / "c")])
    assert out.exit_code == 2 and "nasforge[mlflow]" in out.output
    assert not (tmp_path / "r").exists() and not (tmp_path / "c").exists()


def test_an_unknown_tracker_is_refused(tmp_path):
    out = runner.invoke(app, ["search", "--trials", "2", "--log-to", "wandb", "--out", str(tmp_path / "c")])
    assert out.exit_code == 2 and "unknown tracker 'wandb'; trackers: mlflow, tensorboard" in out.output


# ------------------------------------------------------------------------- table, CSV, frames


def test_dataframe_and_csv_have_a_column_per_decision_and_metric(tracked):
    run, result = tracked
    frame = result.to_dataframe()
    decisions = [c.name for c in nasforge.get_space("nb201").choices]
    assert list(frame.columns) == ["trial", "arch", "status", *(f"arch.{d}" for d in decisions), "accuracy",
                                   "cost_seconds", "clock", "error", "pareto", "selected"]
    assert frame["trial"].tolist() == [t.number for t in result.trials]
    assert frame["accuracy"].tolist() == [t.metrics["accuracy"] for t in result.trials]
    for d in decisions:
        assert frame[f"arch.{d}"].tolist() == [t.arch[d] for t in result.trials]
    assert frame.loc[frame["selected"], "trial"].tolist() == [result.best.number]
    assert set(frame.loc[frame["pareto"], "trial"]) == {t.number for t in result.pareto_front}
    loaded = nasforge.load_run(run).to_dataframe()
    assert loaded.equals(frame)
    shown = runner.invoke(app, ["show", str(run), "--csv"])
    assert shown.exit_code == 0, shown.output
    rows = list(csv.DictReader(io.StringIO(shown.output)))
    assert list(rows[0]) == list(frame.columns)
    assert [r["arch.edge_1_0"] for r in rows] == frame["arch.edge_1_0"].tolist()
    assert [float(r["accuracy"]) for r in rows] == frame["accuracy"].tolist()
    assert [r["selected"] for r in rows].count("True") == 1


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A trained run with failed trials and a final retraining (best/model.pt, model.onnx)."""
    task, space = _toy()
    run = tmp_path_factory.mktemp("trained") / "run"
    return nasforge.search(task, space, "random", trials=5, run_dir=run, objectives=["val_accuracy:max"],
                           evaluator={"epochs": 1, "final_epochs": 1, "batch_size": 64})


def test_failed_trials_in_the_frame(trained):
    result = trained
    frame = result.to_dataframe()
    failed = frame[frame["status"] == "failed"]
    assert len(failed) == sum(t.status == "failed" for t in result.trials) > 0
    assert failed["val_accuracy"].isna().all() and failed["error"].str.contains("NaN|nan").all()
    assert not failed["pareto"].any() and frame["arch.broken"].dtype == bool


def test_without_pandas_the_error_names_the_extra(tracked, monkeypatch):
    monkeypatch.setitem(sys.modules, "pandas", None)
    with pytest.raises(ImportError, match=r"pip install 'nasforge\[pandas\]'"):
        tracked[1].to_dataframe()
    assert len(tracked[1].table().rows) == 6  # the table itself needs no pandas


# ------------------------------------------------------------------------- docs/run-format.md

DOC = Path(__file__).resolve().parents[1] / "docs" / "run-format.md"


def _section(text: str, title: str) -> str:
    start = text.index(title)
    end = text.find("\n## ", start + len(title))
    return text[start:end if end != -1 else len(text)]


def _documented_entries() -> list[re.Pattern]:
    """The entries of the "Files and folders" table as patterns (``<i>`` matches one name)."""
    patterns = []
    for line in _section(DOC.read_text(), "## Files and folders").splitlines():
        if line.startswith("| `"):
            for name in re.findall(r"`([^`]+)`", line.split("|")[1]):
                parts = re.split(r"(<[^>]+>)", name)
                patterns.append(re.compile("".join("[^/]+" if p.startswith("<") else re.escape(p) for p in parts)))
    return patterns


def _documented_tables() -> dict[str, dict[str, str]]:
    tables: dict[str, dict[str, str]] = {}
    for block in _section(DOC.read_text(), "## trials.db").split("\n### ")[1:]:
        name = re.match(r"`(\w+)`", block).group(1)
        tables[name] = dict(re.findall(r"^\| `(\w+)` \| (\w+) \|", block, flags=re.M))
    return tables


def _entries(run: Path) -> list[str]:
    """The run's entries: top-level ones, and those of best/ and latency/ (folders end in /)."""
    out = []
    for p in sorted(run.iterdir()):
        out.append(p.name + ("/" if p.is_dir() else ""))
        if p.name in ("best", "latency"):
            out += [f"{p.name}/{c.name}" + ("/" if c.is_dir() else "") for c in sorted(p.iterdir())]
    return out


def test_the_run_format_doc_lists_every_entry_and_column(tracked, trained):
    patterns = _documented_entries()
    documented = _documented_tables()
    meta_keys = set(re.findall(r"`(\w+)`", _section(DOC.read_text(), "Keys:").split("\n\n")[0]))
    for run in (tracked[0], trained.run_dir):
        entries = _entries(run)
        assert {"config.yaml", "trials.db", "report.html", "best/", "best/summary.json"} <= set(entries)
        undocumented = [e for e in entries if not any(p.fullmatch(e) for p in patterns)]
        assert not undocumented, f"{run}: not in docs/run-format.md: {undocumented}"
        with sqlite3.connect(run / "trials.db") as con:
            tables = [r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type='table'")]
            schema = {t: {row[1]: row[2] for row in con.execute(f"PRAGMA table_info({t})")} for t in tables}
            keys = {r[0] for r in con.execute("SELECT key FROM meta")}
        assert schema == documented
        assert keys <= meta_keys, f"meta keys not in docs/run-format.md: {keys - meta_keys}"
    assert {"best/model.pt", "best/model.onnx", "best/arch.json"} <= set(_entries(trained.run_dir))
    assert {"mlflow/", "tensorboard/"} <= set(_entries(tracked[0]))


def test_trackers_of_a_config_file_and_the_command_line_add_up(tmp_path):
    from nasforge.run.config import load_config

    path = tmp_path / "c.yaml"
    path.write_text("space: nb201\nevaluator: {name: tabular}\nlog_to: [mlflow]\n")
    config = load_config(path, log_to={"tensorboard": {"dir": str(tmp_path / "tb")}})
    assert config.log_to.names() == ["mlflow", "tensorboard"] and config.log_to.tensorboard.dir == tmp_path / "tb"
    assert load_config(path).log_to.mlflow.experiment == "nasforge" and load_config(path).log_to.tensorboard is None
    with pytest.raises(ConfigError, match="log_to.mlflow.uri"):
        load_config(path, log_to={"mlflow": {"uri": ""}})


def test_a_tracker_that_cannot_open_stops_the_run_before_it_starts(tmp_path):
    run = tmp_path / "r"
    out = runner.invoke(app, ["search", "--space", "nb201", "--evaluator", "tabular", "--trials", "2",
                              "--mlflow-uri", "nosuchscheme://nowhere", "--out", str(run)])
    assert out.exit_code == 2 and "cannot log to MLflow at nosuchscheme://nowhere" in out.output
    assert not run.exists(), "no half-made run directory is left"


def test_a_tracker_failing_mid_run_leaves_the_search_going(tmp_path, monkeypatch, caplog):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    from nasforge.run.tracking import TensorBoardLogger

    original = TensorBoardLogger._log

    def flaky(self, trial, best):
        if trial.number == 2:
            raise OSError("disk gone")
        original(self, trial, best)

    monkeypatch.setattr(TensorBoardLogger, "_log", flaky)
    run = tmp_path / "r"
    result = nasforge.search(**TABULAR, trials=4, run_dir=run, log_to=["tensorboard"])
    assert len(result.trials) == 4 and "logging to TensorBoard" in caplog.text and "disk gone" in caplog.text
    monkeypatch.setattr(TensorBoardLogger, "_log", original)
    assert nasforge.resume(run).already_complete  # the complete run is resumed only to log what was missed
    events = EventAccumulator(str(run / "tensorboard"), size_guidance={"scalars": 0})
    events.Reload()
    assert sorted(e.step for e in events.Scalars("trial/cost_seconds")) == [1, 2, 3, 4]


def test_two_runs_share_one_mlflow_store(tmp_path, monkeypatch):
    from mlflow import MlflowClient

    monkeypatch.chdir(tmp_path)
    uri = f"sqlite:///{tmp_path / 'shared.db'}"
    for name in ("a", "b"):
        nasforge.search(**TABULAR, trials=2, seed=len(name) + ord(name), run_dir=tmp_path / name,
                        log_to={"mlflow": {"uri": uri, "experiment": "shared"}})
        assert not (tmp_path / name / "mlflow").exists()
    client = MlflowClient(tracking_uri=uri)
    experiment = client.get_experiment_by_name("shared")
    parents = client.search_runs([experiment.experiment_id], "tags.`nasforge.role` = 'search'")
    assert sorted(p.info.run_name for p in parents) == ["a", "b"]
    for parent in parents:
        children = client.search_runs([experiment.experiment_id],
                                      f"tags.`mlflow.parentRunId` = '{parent.info.run_id}'")
        assert sorted(c.data.tags["nasforge.trial"] for c in children) == ["1", "2"]
        assert "trials.csv" in {a.path for a in client.list_artifacts(parent.info.run_id)}
    assert not (tmp_path / "mlruns").exists(), "artifacts beside the database, not in the working directory"
    assert (tmp_path / "shared-artifacts").is_dir()
