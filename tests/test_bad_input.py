"""Bad input: one clear message naming the field, exit code 2, and no run directory left behind.

Extends the cases in ``test_cli.py`` (unknown names, malformed YAML, ...) with the executor
options, impossible constraints, bad datasets and empty spaces.
"""

from __future__ import annotations

import numpy as np
import pytest
from typer.testing import CliRunner

import nasforge
from nasforge.cli import app
from nasforge.experiment.feasibility import InfeasibleConstraintsError
from nasforge.space import Space
from nasforge.task import task_from_arrays

runner = CliRunner()


def refused(tmp_path, args, message):
    result = runner.invoke(app, ["search", "--run-dir", str(tmp_path / "r"), *args])
    assert result.exit_code == 2, result.output
    assert message in " ".join(result.output.split()), result.output
    assert not (tmp_path / "r").exists(), "no half-written run directory"


@pytest.mark.parametrize("args, message", [
    (["--executor", "nope"], "executor: Input should be 'serial', 'processes' or 'ray'"),
    (["--executor", "processes", "--workers", "0"], "workers: Input should be greater than or equal to 1"),
    (["--workers", "3"], "workers: 3 workers needs executor 'processes' or 'ray'"),
    (["--trial-timeout", "0"], "trial_timeout: Input should be greater than 0"),
    (["--trial-timeout", "soon"], "Invalid value for '--trial-timeout'"),
    (["--retries", "-1"], "retries: Input should be greater than or equal to 0"),
    (["--threads-per-worker", "2"], "threads_per_worker: needs executor 'processes' or 'ray'"),
    (["--ray-address", "auto"], "ray_address: needs executor 'ray' (executor is 'serial')"),
    (["--executor", "processes", "--gpus-per-trial", "1"], "gpus_per_trial: needs executor 'ray'"),
    (["--constraint", "params>=5000", "--constraint", "params<=100"],
     "constraints: params>=5000 and params<=100 contradict each other"),
    (["--constraint", "val_accuracy>1.5"], "constraints: val_accuracy>1.5 can never hold"),
])
def test_bad_options_name_the_field(tmp_path, args, message):
    refused(tmp_path, args, message)


def test_unreachable_ray_cluster(tmp_path):
    pytest.importorskip("ray", reason="the ray extra is not installed")
    refused(tmp_path, ["--executor", "ray", "--ray-address", "127.0.0.1:1"],
            "no Ray cluster at 127.0.0.1:1: Connection refused. Start one with `ray start --head --port=1` on "
            "that machine, or check the host and the port")


def test_constraint_no_architecture_can_meet(tmp_path):
    refused(tmp_path, ["--constraint", "params<=10"],
            "constraints: no architecture of space 'conv1d' can satisfy params<=10 (smallest params found: ")


@pytest.mark.parametrize("text, message", [
    ("- a list\n- of things\n", "must hold a mapping of fields, got list"),
    ("retries: lots", "retries: Input should be a valid integer"),
    ("executor: processes\nworkers: 2.5", "workers: Input should be a valid integer"),
    ("trial_timeout: -3", "trial_timeout: Input should be greater than 0"),
    ("space_settings: {channels: []}", "space_settings: space 'conv1d' cannot be built with {'channels': []}: "
                                       "choice 'channels_0' has no options"),
    ("space_settings: {widths: [4]}", "space_settings: space 'conv1d' has no setting(s) ['widths']"),
    ("budget: {trials: null, minutes: null}", "budget: set trials, minutes or both"),
    ("objectives: []", "objectives: at least one objective is needed"),
    ("constraints: [params<=-1]", "constraints: params<=-1 can never hold"),
])
def test_bad_config_files_name_the_field(tmp_path, text, message):
    config = tmp_path / "c.yaml"
    config.write_text(text)
    refused(tmp_path, ["--config", str(config)], message)


def test_missing_config_file(tmp_path):
    refused(tmp_path, ["--config", str(tmp_path / "nope.yaml")], "nope.yaml does not exist")


def _npz(tmp_path, **arrays):
    path = tmp_path / "data.npz"
    np.savez(path, **arrays)
    return f"npz:{path}"


def test_datasets_of_the_wrong_shape_or_labels(tmp_path):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((60, 40)).astype(np.float32)
    y = rng.integers(0, 3, 60)
    refused(tmp_path, ["--task", _npz(tmp_path, x_train=x, y_train=y - 5)], "y_train has negative labels")
    refused(tmp_path, ["--task", _npz(tmp_path, x_train=x, y_train=y + 0.5)], "y_train holds non-integer labels")
    refused(tmp_path, ["--task", _npz(tmp_path, x_train=x, y_train=y[:50])], "x_train has 60 rows but y_train has 50")
    refused(tmp_path, ["--task", _npz(tmp_path, x_train=x[:, 0], y_train=y)], "x_train has shape (60,)")
    images = rng.standard_normal((60, 3, 8, 8)).astype(np.float32)
    refused(tmp_path, ["--task", _npz(tmp_path, x_train=images, y_train=y)],
            "space 'conv1d' cannot build a network for task 'data' (input shape (3, 8, 8))")


def test_python_api_refuses_empty_spaces_and_impossible_constraints(tmp_path):
    rng = np.random.default_rng(0)
    task = task_from_arrays(rng.standard_normal((60, 1, 40)).astype(np.float32), rng.integers(0, 3, 60))
    with pytest.raises(ValueError, match="a space needs at least one choice"):
        nasforge.search(task, Space({}, name="empty"), run_dir=tmp_path / "r", trials=1)
    with pytest.raises(InfeasibleConstraintsError, match="no architecture of space 'conv1d' can satisfy flops<=10"):
        nasforge.search(task, "conv1d", constraints=["flops<=10"], run_dir=tmp_path / "r", trials=1)
    assert not (tmp_path / "r").exists()
