from __future__ import annotations

import pickle
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from nasforge.core.paths import MissingDataError, data_file
from nasforge.core.registry import UnknownNameError
from nasforge.task import TASKS, Task, load_task, parse_task_spec
from nasforge.task.cifar10 import CIFAR10_CLASSES


def assert_well_formed(task: Task, input_shape: tuple[int, ...], sizes: tuple[int, int, int]) -> None:
    assert task.input_shape == input_shape
    assert (len(task.x_train), len(task.x_val), len(task.x_test)) == sizes
    for x, y in ((task.x_train, task.y_train), (task.x_val, task.y_val), (task.x_test, task.y_test)):
        assert x.dtype == np.float32 and y.dtype == np.int64
        assert set(np.unique(y)) == set(range(task.num_classes))
    rows = [{r.tobytes() for r in x} for x in (task.x_train, task.x_val, task.x_test)]
    assert not (rows[0] & rows[1] or rows[0] & rows[2] or rows[1] & rows[2])


def test_registry_lists_builtin_tasks() -> None:
    assert TASKS.list() == ["cifar10", "cifar10-subset", "digits", "mnist1d", "npz", "stdlib", "text"]


def test_unknown_task_lists_valid_names() -> None:
    with pytest.raises(UnknownNameError, match="valid: cifar10, cifar10-subset, digits, mnist1d, npz"):
        load_task("mnist2d")


def test_import_does_not_import_torch() -> None:
    code = "import sys, nasforge.task; nasforge.task.TASKS.list(); assert 'torch' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)


def test_mnist1d(mnist1d: Task) -> None:
    assert_well_formed(mnist1d, (1, 40), (3200, 800, 1000))
    assert mnist1d.name == "mnist1d" and mnist1d.class_names == tuple("0123456789")
    official_train = np.concatenate([mnist1d.x_train, mnist1d.x_val])
    assert abs(official_train.mean()) < 1e-5 and abs(official_train.std() - 1) < 1e-5


def test_mnist1d_is_deterministic_and_keeps_global_rng(mnist1d: Task) -> None:
    np.random.seed(123)
    expected = np.random.rand()
    np.random.seed(123)
    again = load_task("mnist1d")
    assert np.random.rand() == expected
    assert np.array_equal(again.x_val, mnist1d.x_val)
    other = load_task("mnist1d", seed=1)
    assert not np.array_equal(other.y_val, mnist1d.y_val)
    assert np.array_equal(other.y_test, mnist1d.y_test)


def test_digits() -> None:
    task = load_task("digits")
    assert_well_formed(task, (1, 8, 8), (1150, 288, 359))
    other = load_task("digits", seed=5)
    assert np.array_equal(task.x_test, other.x_test)  # the test split does not move with the seed
    assert not np.array_equal(task.y_val, other.y_val)
    assert np.array_equal(task.x_val, load_task("digits").x_val)


def test_cifar10_subset(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NASFORGE_CIFAR10", raising=False)
    task = load_task("cifar10", val_fraction=0.1)
    assert task.name == "cifar10-subset"
    assert_well_formed(task, (3, 32, 32), (4194, 466, 846))
    assert task.class_names == CIFAR10_CLASSES
    raw = np.load(data_file("cifar10-subset.npz", "test"))["x_test"][:2]
    mean = np.array([0.4914, 0.4822, 0.4465]).reshape(1, 3, 1, 1)
    std = np.array([0.2470, 0.2435, 0.2616]).reshape(1, 3, 1, 1)
    np.testing.assert_allclose(task.x_test[:2], (raw / 255 - mean) / std, rtol=1e-5, atol=1e-5)


def write_batches(folder: Path, per_batch: int = 20) -> None:
    rng = np.random.default_rng(0)
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        batch = {b"data": rng.integers(0, 256, (per_batch, 3072), dtype=np.uint8),
                 b"labels": [i % 10 for i in range(per_batch)]}
        (folder / name).write_bytes(pickle.dumps(batch))


def test_cifar10_official_batches(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write_batches(tmp_path)
    task = load_task(f"cifar10:{tmp_path}")
    assert task.name == "cifar10"
    assert (len(task.x_train), len(task.x_val), len(task.x_test)) == (80, 20, 20)
    assert task.input_shape == (3, 32, 32)
    monkeypatch.setenv("NASFORGE_CIFAR10", str(tmp_path))
    assert np.array_equal(load_task("cifar10").x_val, task.x_val)
    (tmp_path / "data_batch_3").unlink()
    with pytest.raises(MissingDataError, match="data_batch_3"):
        load_task("cifar10")


def test_missing_data_dir_names_env_var(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NASFORGE_DATA", str(tmp_path))
    monkeypatch.delenv("NASFORGE_CIFAR10", raising=False)
    with pytest.raises(MissingDataError, match="NASFORGE_DATA"):
        load_task("cifar10")


def test_load_task_passes_tasks_through(mnist1d: Task) -> None:
    assert load_task(mnist1d) is mnist1d


@pytest.mark.parametrize("spec", ["digits:x", "mnist1d:abc", "npz", "cifar10-subset:x"])
def test_bad_arguments(spec: str) -> None:
    with pytest.raises(ValueError, match=spec.split(":")[0]):
        load_task(spec)


def test_parse_task_spec() -> None:
    assert parse_task_spec("mnist1d") == ("mnist1d", None)
    assert parse_task_spec("npz:C:/data/a.npz") == ("npz", "C:/data/a.npz")
    assert parse_task_spec("C:/data/a.npz") == ("npz", "C:/data/a.npz")
    assert parse_task_spec("data/a.npz") == ("npz", "data/a.npz")


@pytest.mark.parametrize("side", [16, 8])
def test_cifar10_subset_pooled_is_the_average_of_the_normalised_pixels(side: int) -> None:
    full, pooled = load_task("cifar10-subset"), load_task(f"cifar10-subset:{side}")
    f = 32 // side
    expected = full.x_train.reshape(len(full.x_train), 3, side, f, side, f).mean((3, 5))
    assert pooled.name == f"cifar10-subset-{side}px" and pooled.input_shape == (3, side, side)
    assert np.abs(pooled.x_train - expected).max() < 1e-5
    assert (pooled.y_train == full.y_train).all() and (pooled.y_test == full.y_test).all()


@pytest.mark.parametrize("argument", ["12", "64", "0"])
def test_cifar10_subset_refuses_other_sides(argument: str) -> None:
    with pytest.raises(ValueError, match=f"cifar10-subset:{argument}: .*one of 8, 16, 32"):
        load_task(f"cifar10-subset:{argument}")
