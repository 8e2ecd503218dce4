"""report.html shows what a run directory holds as text: nothing read from it becomes markup."""

from __future__ import annotations

import json
import re
from importlib import resources
from pathlib import Path

import pytest
from report_runs import FIELDS, escaped, injected_run, make_run, script

from nasforge.core.records import COMPLETE
from nasforge.experiment.run_dir import RunDirError
from nasforge.experiment.storage import Storage
from nasforge.report.data import read_run
from nasforge.report.html import render, write_report
from nasforge.space import get_space

ROOT = Path(__file__).resolve().parents[2]


SCRIPT = re.compile(r"<script([^>]*)>(.*?)</script>", re.S | re.I)
APP_JS = (resources.files("nasforge.report") / "templates" / "app.js.j2").read_text()


def page_without_own_scripts(page: str) -> str:
    """``page`` less its three script elements, after checking they are the report's own:
    plotly.js, the figures as JSON (parsed here; no ``<`` in its text) and the page's script."""
    scripts = SCRIPT.findall(page)
    assert [attrs for attrs, _ in scripts] == ["", ' type="application/json" id="nf-data"', ""]
    assert scripts[0][1].lstrip().startswith("/**\n* plotly.js v")
    assert "<" not in scripts[1][1] and ">" not in scripts[1][1] and "figures" in json.loads(scripts[1][1])
    assert scripts[2][1] == APP_JS.rstrip("\n")  # Jinja drops one trailing newline
    return SCRIPT.sub("", page)


def test_nothing_from_the_run_directory_becomes_markup(tmp_path: Path) -> None:
    full = write_report(injected_run(tmp_path)).read_text()
    page = page_without_own_scripts(full)
    assert "<script" not in page.lower() and "<img src=x" not in full
    assert "&lt;img src=x onerror=alert(0)&gt;" in page  # the run directory's own name
    for field, n in FIELDS.items():
        assert escaped(n) in page, field
    figures = json.loads(SCRIPT.findall(full)[1][1])["figures"]
    assert {"pareto", "history", "hypervolume"} <= set(figures)  # the plots still render, metric names and all
    hover = figures["pareto"]["data"][0]["text"][0]  # Plotly shows escaped text literally
    assert escaped(FIELDS["trial_arch"]) in hover and "<script" not in json.dumps(figures)


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
    assert ("<dt>task</dt><dd>mnist1d</dd><dt>space</dt><dd>conv1d</dd><dt>strategy</dt><dd>random</dd>" in page
            and "<dt>objectives</dt><dd>val_accuracy:max</dd>" in page)
    assert "<dt>constraints</dt><dd>params&lt;=60000</dd>" in page and "<dt>trials</dt><dd>complete 1</dd>" in page
    assert " ;" not in page_without_own_scripts(page)
    assert (f"<code>{arch.key}</code><br>test accuracy 0.8123 after retraining from scratch on train+val (40 epochs), "
            "12,345 parameters, 6,789,012.0 FLOPs (trial 1)") in page
    assert '<td class="num" data-v="0.123456">0.1235</td>' in page and '<td class="num" data-v="100.0">100</td>' in page
    assert '<h2 id="trials">Trials</h2>' in page and '<span class="badge selected">selected</span>' in page
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
    page = page_without_own_scripts(write_report(folder).read_text())
    assert "<script" not in page.lower()
    for n in (20, 21, 22, 23, 25, 26, 27, 28, 29, 30, 31):
        assert escaped(n) in page, n
