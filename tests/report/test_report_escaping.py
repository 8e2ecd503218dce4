"""report.html shows what a run directory holds as text: nothing read from it becomes markup."""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path

import pytest
import yaml

from nasforge.core.records import COMPLETE, FAILED
from nasforge.experiment.run_dir import RunDirError
from nasforge.experiment.storage import Storage
from nasforge.report.data import read_run
from nasforge.report.html import render, write_report
from nasforge.space import get_space
from nasforge.space.arch import Arch

ROOT = Path(__file__).resolve().parents[2]


def script(n: int | str) -> str:
    return f"<script>alert({n})</script>"


def escaped(n: int | str) -> str:
    return f"&lt;script&gt;alert({n})&lt;/script&gt;"


#: every place the report reads text from, each with its own payload number
FIELDS = {"task": 1, "space": 2, "strategy": 3, "objective": 4, "arch": 5, "test_accuracy": 6,
          "retrain_epochs": 7, "params": 8, "flops": 9, "trial_arch": 10, "trial_error": 11,
          "metric_name": 12, "metric_value": 13, "status": 14}


def make_run(folder: Path, config: dict, trials: list[tuple[Arch, str, dict, str | None]],
             summary: dict | None) -> Path:
    """A run directory written by hand: config.yaml, trials.db and best/summary.json."""
    folder.mkdir(parents=True)
    (folder / "config.yaml").write_text(yaml.safe_dump(config))
    storage = Storage(folder / "trials.db")
    for arch, status, metrics, error in trials:
        storage.add_trial(arch, status=status, metrics=metrics, error=error)
    storage.close()
    if summary is not None:
        (folder / "best").mkdir()
        (folder / "best" / "summary.json").write_text(json.dumps(summary))
    return folder


def injected_run(tmp_path: Path, **config_changes: object) -> Path:
    archs = get_space("conv1d").sample_distinct(3, 0)
    evil_arch = Arch("conv1d", dict(archs[0]), script(FIELDS["trial_arch"]))
    objective = script(FIELDS["objective"])
    metric = script(FIELDS["metric_name"])
    config = {"task": script(FIELDS["task"]), "space": script(FIELDS["space"]),
              "strategy": script(FIELDS["strategy"]), "objectives": [f"{objective}:max", "params:min"],
              **config_changes}
    trials = [
        (evil_arch, COMPLETE, {objective: 0.7, "params": 2000, metric: 1.5,
                               "note": script(FIELDS["metric_value"])}, None),
        (archs[1], COMPLETE, {objective: 0.8, "params": 3000}, None),
        (archs[2], FAILED, {}, script(FIELDS["trial_error"])),
        (archs[1], script(FIELDS["status"]), {}, None),
    ]
    summary = {key: script(FIELDS[key]) for key in ("arch", "test_accuracy", "retrain_epochs", "params", "flops")}
    return make_run(tmp_path / "run-<img src=x onerror=alert(0)>", config, trials, summary)


def test_nothing_from_the_run_directory_becomes_markup(tmp_path: Path) -> None:
    page = write_report(injected_run(tmp_path)).read_text()
    assert "<script" not in page.lower() and "<img src=x" not in page
    assert "&lt;img src=x onerror=alert(0)&gt;" in page  # the run directory's own name
    for field, n in FIELDS.items():
        assert escaped(n) in page, field
    assert "data:image/png;base64," in page  # the plots still render, metric names and all


def test_numbers_are_formatted_and_other_values_shown_as_text(tmp_path: Path) -> None:
    arch = get_space("conv1d").sample_distinct(1, 0)[0]
    config = {"task": "mnist1d", "space": "conv1d", "strategy": "random", "objectives": ["val_accuracy:max"],
              "constraints": ["params<=60000"]}
    summary = {"arch": arch.key, "test_accuracy": 0.81234, "retrain_epochs": 40, "params": 12345,
               "flops": 6789012.0}
    run = make_run(tmp_path / "run", config, [(arch, COMPLETE, {"val_accuracy": 0.123456, "params": 100}, None)],
                   summary)
    page = render(read_run(run))
    assert "<title>nasforge run run</title>" in page
    assert "task <b>mnist1d</b>, space <b>conv1d</b>, strategy\n<b>random</b>, objectives val_accuracy:max" in page
    assert "constraints params&lt;=60000;" in page and "trials: complete 1</p>" in page
    assert (f"<code>{arch.key}</code><br>test accuracy 0.8123 after retraining from scratch on train+val (40 epochs), "
            "12,345 parameters, 6,789,012.0 FLOPs") in page
    assert "<td>0.1235</td>" in page and "<td>100</td>" in page and "<h2>Trials</h2>" in page
    summary.update(test_accuracy="0.9", retrain_epochs=None, params=[1, 2], flops=True)
    (run / "best" / "summary.json").write_text(json.dumps(summary))
    del summary["arch"]
    page = render(read_run(run))
    assert "test accuracy 0.9 after retraining from scratch on train+val (? epochs), [1, 2] parameters, True FLOPs" in page
    (run / "best" / "summary.json").write_text(json.dumps(summary))
    assert "<code>?</code>" in render(read_run(run))


@pytest.mark.parametrize("config_change, message", [
    ({"constraints": [script(15)]}, "expected 'metric<=number'"),
    ({"objectives": script(16)}, "objectives must be a list"),
    ({"objectives": []}, "objectives must be a list"),
])
def test_a_config_the_report_cannot_read_is_refused_not_rendered(tmp_path: Path, config_change: dict,
                                                                 message: str) -> None:
    run = injected_run(tmp_path, **config_change)
    with pytest.raises(RunDirError, match=message):
        write_report(run)
    assert not (run / "report.html").exists()


@pytest.mark.parametrize("text, message", [("[1, 2]", "holds a list"), ("{not json", "cannot be read")])
def test_a_summary_that_is_not_a_mapping_is_refused(tmp_path: Path, text: str, message: str) -> None:
    run = injected_run(tmp_path)
    (run / "best" / "summary.json").write_text(text)
    with pytest.raises(RunDirError, match=f"summary.json {message}"):
        read_run(run)


def test_report_command_names_the_bad_file(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from nasforge.cli import app

    run = injected_run(tmp_path, constraints=[script(15)])
    result = CliRunner().invoke(app, ["report", str(run)])
    assert result.exit_code == 2 and "config.yaml" in result.output and result.exception.__class__ is SystemExit


def test_the_template_ships_with_the_package() -> None:
    tomllib = pytest.importorskip("tomllib")  # Python 3.11+
    template = resources.files("nasforge.report") / "templates" / "report.html.j2"
    assert template.is_file()
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert "report/templates/*.j2" in pyproject["tool"]["setuptools"]["package-data"]["nasforge"]
    assert any(d.replace(" ", "").startswith("jinja2>=") for d in pyproject["project"]["dependencies"])


def test_one_shot_family_and_table_fields_are_text_too(tmp_path: Path) -> None:
    """The fields of one-shot runs (epochs), constraint families, ranking studies and tabular
    summaries reach the page escaped as well."""
    archs = get_space("conv1d").sample_distinct(2, 0)
    config = {"task": "t", "space": "conv1d", "strategy": "s", "objectives": ["val_accuracy:max"]}
    summary = {"kind": "table", "arch": "a", "benchmark": script(20), "truth": {script(21): 1.0, "x": script(22)}}
    folder = make_run(tmp_path / "run", config, [(archs[0], COMPLETE, {"val_accuracy": 0.5}, None)], summary)
    storage = Storage(folder / "trials.db")
    storage.add_epoch(1, {"epoch": 1, "train_loss": 1.0, "seconds": 1.0, "derived": script(23),
                          "arch_weights": {script(24): [0.5, 0.5]}, "info": {}})
    storage.close()
    (folder / "best" / "family.json").write_text(json.dumps([
        {"budget": script(25), "arch": script(26), "predicted": script(27), "result": {"test_accuracy": script(28)}}]))
    (folder / "correlations.csv").write_text(
        f"predictor,target,bn_mode,kendall,spearman,n\n{script(29)},{script(30)},r,0.1,0.2,{script(31)}\n")
    page = write_report(folder).read_text()
    assert "<script" not in page.lower()
    for n in (20, 21, 22, 23, 25, 26, 27, 28, 29, 30, 31):
        assert escaped(n) in page, n
