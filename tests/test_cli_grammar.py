"""One grammar across ``nasforge`` subcommands (see ``nasforge/cli/common.py``).

Every registered command is enrolled: its help renders, shows its defaults, and keeps the shared
option names; and wrong values end with ``error: ...`` and exit code 2, never a traceback.
"""

from __future__ import annotations

import re
import subprocess
import sys

import pytest
import torch
import typer.main
from typer.testing import CliRunner

import nasforge
from nasforge.cli import app

runner = CliRunner()
WIDE = {"COLUMNS": "250"}  # help on one line per option, so texts can be matched


def _command_names() -> list[str]:
    return [info.name or info.callback.__name__.lower().replace("_", "-") for info in app.registered_commands]


COMMANDS = _command_names()
CLICK = typer.main.get_command(app)


def _options(name: str) -> list:
    return [p for p in CLICK.commands[name].params if p.param_type_name == "option"]


def _help(args: list[str]) -> str:
    result = runner.invoke(app, [*args, "--help"], env=WIDE)
    assert result.exit_code == 0, result.output
    return " ".join(result.output.replace("│", " ").split())  # table cells joined, whitespace collapsed


def _shown_default(option) -> bool:
    """An option whose default is a value (not a flag's False, not 'not given') and is meant to show."""
    return not option.is_flag and option.default is not None and option.show_default is not False \
        and not option.hidden


def test_every_command_is_enrolled():
    assert {"search", "bench", "cost", "latency", "predictors"} <= set(COMMANDS)
    assert set(COMMANDS) == set(CLICK.commands)


@pytest.mark.parametrize("name", COMMANDS)
def test_help_renders_and_shows_defaults(name):
    text = _help([name])
    for option in _options(name):
        if _shown_default(option):
            default = option.default
            if isinstance(default, list | tuple):
                default = ", ".join(map(str, default))
            assert f"[default: {default}]" in text, (option.opts, text)
    if any(_shown_default(option) for option in _options(name)):
        assert "[default: " in text


@pytest.mark.parametrize("name", ["bench", "cost", "latency", "predictors"])
def test_options_without_a_value_default_say_what_happens(name):
    """Options of these commands whose default is 'not given' say in their help what that means."""
    for option in _options(name):
        if option.default is None and not option.required and not option.hidden and not option.multiple \
                and not option.is_flag:
            assert "default" in (option.help or ""), option.opts


@pytest.mark.parametrize("name, registry, attribute", [
    ("bench", "nasforge.estimate.benchmarks", "BENCHMARKS"),
    ("bench", "nasforge.strategy.base", "STRATEGIES"),
    ("cost", "nasforge.space.registry", "SPACES"),
    ("predictors", "nasforge.estimate.benchmarks", "BENCHMARKS"),
    ("predictors", "nasforge.estimate.predictors", "PREDICTORS"),
])
def test_help_lists_the_valid_names(name, registry, attribute):
    import importlib

    text = _help([name])
    for valid in getattr(importlib.import_module(registry), attribute).list():
        assert valid in text, (name, valid)


#: commands that cannot pass a grammar check yet, with the reason (strict: a fix makes the entry fail)
EXPECTED_FAILURES = {
    ("run-dir", "proxies"): "proxies' --run-dir names a run directory to read (its trials), not the output folder; "
                            "the grammar keeps --run-dir for search's alias only, so it needs another name",
}


def _enrolled(check: str) -> list:
    return [pytest.param(name, marks=pytest.mark.xfail(strict=True, reason=EXPECTED_FAILURES[check, name]))
            if (check, name) in EXPECTED_FAILURES else name for name in COMMANDS]


@pytest.mark.parametrize("name", _enrolled("run-dir"))
def test_run_dir_is_only_search_s_alias_of_out(name):
    for option in _options(name):
        if "--run-dir" in option.opts:  # the output folder is --out; search keeps --run-dir as its alias
            assert name == "search" and "--out" in option.opts, (name, option.opts)
    assert "--run-dir" not in _help([name]) or name == "search"


@pytest.mark.parametrize("name", COMMANDS)
def test_shared_option_names(name):
    text = _help([name])
    for option in _options(name):
        names = option.opts + option.secondary_opts
        if "--objectives" in names:  # objectives are --objective (repeatable); bench keeps the old spelling
            assert name == "bench" and option.hidden, (name, names)
        if "-S" in names:
            assert re.search(r"\b(strategy|one-shot(?: method)?) setting", option.help or ""), (name, option.help)
        if option.is_flag and option.secondary_opts:  # bare flags, except pairs whose default is 'unset'
            assert option.default is None, (name, names)
    assert not re.search(r"--objectives\b", text)


def test_version():
    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0 and result.output.strip() == f"nasforge {nasforge.__version__}"


def test_importing_the_cli_does_not_import_torch():
    code = "import nasforge.cli, sys; print('torch' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True).stdout.strip() == "False"


NO_CUDA = pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")
ARCH = ["--space", "macro", "--arch", "02012100"]


@pytest.mark.parametrize("args, message", [
    # bench
    (["bench", "-S", "evolution.population_size=abc"], "population_size='abc'"),
    (["bench", "-S", "population_size=3"], "expected STRATEGY.NAME=VALUE"),
    (["bench", "-S", "evolution.nope=3"], "has no setting(s) ['nope']"),
    (["bench", "-S", "nsga2.population_size=3"], "-S/--strategy-setting: settings for strategies not in --strategies"),
    (["bench", "--strategies", "random,nope"], "--strategies: unknown strategy 'nope'; valid: asha, bananas"),
    (["bench", "--benchmarks", "nb999"], "--benchmarks: unknown benchmark 'nb999'; valid: macro, nb201-cifar10"),
    (["bench", "--seeds", "0"], "'--seeds': Input should be greater than or equal to 1"),
    (["bench", "--queries", "0"], "'--queries': Input should be greater than or equal to 1"),
    (["bench", "--seeds", "many"], "'--seeds': Input should be a valid integer"),
    (["bench", "--objective", "accuracy:up"], "--objective: objective 'accuracy': direction must be"),
    (["bench", "--workers", "0"], "'--workers'"),
    # cost
    (["cost", *ARCH, "--device", "tpu"], "--device: device must be 'cpu', 'cuda' or 'cuda:N', got 'tpu'"),
    pytest.param(["cost", *ARCH, "--device", "cuda"], "--device: device 'cuda': this machine has no CUDA device",
                 marks=NO_CUDA),
    (["cost", *ARCH, "--device", "cuda:99"], "device 'cuda:99'"),
    (["cost", *ARCH, "--input-shape", "3,x,32"], "--input-shape: expected comma-separated integers"),
    (["cost", *ARCH, "--input-shape", "0,32,32"], "--input-shape: every size must be >= 1"),
    (["cost", "--space", "macro", "--arch", "0123"], "--arch: '0123' is not an architecture key"),
    (["cost", "--space", "nope", "--arch", "0123"], "--space: unknown space 'nope'; valid: conv1d"),
    (["cost", *ARCH, "--threads", "0"], "'--threads': Input should be greater than or equal to 1"),
    (["cost", *ARCH, "--backend", "tensorrt"], "latency backend 'tensorrt' unknown; valid: torch, onnx"),
    (["cost", *ARCH, "--classes", "0"], "'--classes'"),
    (["cost", "--space", "macro"], "Missing option '--arch'"),
    # latency
    (["latency", "--space", "conv1d"], "--space: the latency table needs a space made of blocks"),
    (["latency", "--space", "macro", "--train-fraction", "1.5"], "--train-fraction must be in (0, 1), got 1.5"),
    (["latency", "--space", "macro", "--samples", "2"], "'--samples': Input should be greater than or equal to 4"),
    (["latency", "--space", "macro", "--clock", "cpu", "--threads", "2"], "latency clock 'cpu'"),
    (["latency", "--space", "macro", "--device", "gpu"], "--device: device must be"),
    # predictors
    (["predictors", "--predictors", "gbdt,nope"], "--predictors: unknown predictor 'nope'; valid: constant"),
    (["predictors", "--benchmark", "nope"], "--benchmark: unknown benchmark 'nope'"),
    (["predictors", "--train-sizes", "10,x"], "--train-sizes: expected comma-separated integers"),
    (["predictors", "--train-sizes", "1,10"], "--train-sizes: every size must be >= 2"),
    (["predictors", "--features", "raw"], "--features must be one of: onehot+stats, onehot, auto+stats; got 'raw'"),
    (["predictors", "--seeds", "0"], "'--seeds'"),
    (["predictors", "--test-size", "3"], "'--test-size'"),
])
def test_bad_values_end_with_one_error_line(tmp_path, args, message):
    out = tmp_path / "out"
    has_out = any("--out" in option.opts for option in _options(args[0]))
    result = runner.invoke(app, [*args, *(["--out", str(out)] if has_out else [])])
    text = " ".join(result.output.split())
    assert result.exit_code == 2, result.output
    assert text.startswith("error: ") and message in text, result.output
    assert "Traceback" not in result.output and isinstance(result.exception, SystemExit)
    assert not out.exists(), "nothing is written for a refused command"


@pytest.mark.parametrize("args, message", [
    (["bench", "--benchmarks", "macro", "-S", "evolution.population_size=abc"], "population_size"),
    (["bench", "--benchmarks", "macro", "--strategies", "nope"], "unknown strategy"),
    (["predictors", "--benchmark", "macro", "--predictors", "nope"], "unknown predictor"),
])
def test_settings_are_checked_before_data_is_looked_for(tmp_path, monkeypatch, args, message):
    monkeypatch.setenv("NASFORGE_DATA", str(tmp_path))  # no data files there
    result = runner.invoke(app, [*args, "--out", str(tmp_path / "out")])
    assert result.exit_code == 2 and message in result.output and "NASFORGE_DATA" not in result.output
