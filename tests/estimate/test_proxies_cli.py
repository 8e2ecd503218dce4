"""``nasforge proxies`` writes its files with the right columns (a tiny run)."""

from __future__ import annotations

import csv

import numpy as np
import pytest
from typer.testing import CliRunner

from nasforge.bench.proxy_files import CORRELATION_COLUMNS
from nasforge.cli import app

TRUTHS = ["nb201-cifar10", "nb201-cifar100", "nb201-imagenet16"]


def read(path):
    with open(path, newline="") as f:
        return list(csv.reader(f))


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("proxies")
    result = CliRunner().invoke(app, ["proxies", "--space", "nb201", "--task", "cifar10", "--archs", "5",
                                      "--seed", "0", "--out", str(out), "--proxies", "synflow,params,l2_norm",
                                      "--batch-size", "8", "--workers", "1"])
    assert result.exit_code == 0, result.output
    return out


def test_proxies_csv_has_arch_proxy_and_truth_columns(tiny_run):
    rows = read(tiny_run / "proxies.csv")
    assert rows[0] == ["arch", "synflow", "params", "l2_norm", *TRUTHS]
    assert len(rows) == 6 and len({r[0] for r in rows[1:]}) == 5
    assert all(r[0].startswith("nb201:|") and all(cell for cell in r[1:]) for r in rows[1:])


def test_correlations_csv_has_one_row_per_proxy_and_truth(tiny_run):
    rows = read(tiny_run / "correlations.csv")
    assert tuple(rows[0]) == CORRELATION_COLUMNS
    assert {(r[0], r[1]) for r in rows[1:]} == {(p, t) for p in ("synflow", "params", "l2_norm") for t in TRUTHS}
    assert all(float(r[5]) > 0 for r in rows[1:])


def test_archs_file_and_resume(tmp_path, tiny_run):
    keys = [r[0] for r in read(tiny_run / "proxies.csv")[1:]][:2]
    (tmp_path / "archs.txt").write_text("\n".join(keys) + "\n")
    out = tmp_path / "out"
    args = ["proxies", "--archs-file", str(tmp_path / "archs.txt"), "--out", str(out),
            "--proxies", "params", "--workers", "1"]
    assert CliRunner().invoke(app, args).exit_code == 0
    assert [r[0] for r in read(out / "proxies.csv")[1:]] == keys
    again = CliRunner().invoke(app, [*args, "--resume"])
    assert again.exit_code == 0, again.output
    assert [r[0] for r in read(out / "proxies.csv")[1:]] == keys  # nothing recomputed or repeated


def test_unknown_proxy_is_a_clear_error(tmp_path):
    result = CliRunner().invoke(app, ["proxies", "--archs", "2", "--out", str(tmp_path), "--proxies", "nope"])
    assert result.exit_code == 2
    assert "unknown proxy 'nope'" in result.output


def test_run_dir_truth_is_the_trained_objective(tmp_path):
    from nasforge.experiment.storage import Storage
    from nasforge.run.config import SearchConfig
    from nasforge.space import get_space

    run = tmp_path / "run"
    run.mkdir()
    (run / "config.yaml").write_text(SearchConfig(space="nb201", task="cifar10").to_yaml())
    space, storage = get_space("nb201"), Storage(run / "trials.db")
    keys = []
    for i, seed in enumerate((1, 2, 3)):
        arch = space.sample(np.random.default_rng(seed))
        storage.add_trial(arch, status="complete", metrics={"val_accuracy": 0.5 + i / 10, "params": 1.0})
        keys.append(arch.key)
    storage.close()
    out = tmp_path / "out"
    result = CliRunner().invoke(app, ["proxies", "--run-dir", str(run), "--out", str(out),
                                      "--proxies", "params", "--workers", "1"])
    assert result.exit_code == 0, result.output
    rows = read(out / "proxies.csv")
    assert rows[0] == ["arch", "params", "run:val_accuracy"]
    assert [r[0] for r in rows[1:]] == keys and [float(r[2]) for r in rows[1:]] == [0.5, 0.6, 0.7]
    assert [r[1] for r in read(out / "correlations.csv")[1:]] == ["run:val_accuracy"]


@pytest.mark.parametrize(("args", "message"), [
    (["--clock", "gpu", "--run-dir", "no-such-run"], "--clock: must be one of: wall, cpu; got 'gpu'"),
    (["--proxies", "nope", "--archs-file", "no-such-file"], "--proxies: unknown proxy 'nope'; valid: epe_nas"),
    (["--space", "nope"], "--space: unknown space 'nope'; valid: conv1d"),
    (["--task", "nope"], "--task: unknown task 'nope'; valid: cifar10"),
    (["--run-dir", "no-such-run", "--archs-file", "no-such-file"], "--archs-file: --run-dir scores the run's own"),
    (["--workers", "0"], "'--workers'"),
    (["--batch-size", "1"], "'--batch-size'"),
])
def test_settings_are_checked_before_any_data_loads(tmp_path, args, message):
    result = CliRunner().invoke(app, ["proxies", "-o", str(tmp_path / "out"), *args])
    assert result.exit_code == 2, result.output
    text = " ".join(result.output.split())
    assert text.startswith("error: ") and message in text and "Traceback" not in result.output
    assert not (tmp_path / "out").exists()


def test_help_names_the_defaults_spaces_and_proxies():
    result = CliRunner().invoke(app, ["proxies", "--help"], terminal_width=200)
    assert result.exit_code == 0
    text = " ".join(result.output.split())
    for word in ("--out", "-o", "nb201", "synflow", "gradsign", "default: 1000", "--resume"):
        assert word in text, word
