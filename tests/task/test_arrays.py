from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from nasforge.core.paths import MissingDataError
from nasforge.task import Normalization, TaskDataError, load_task, task_from_arrays


def images(n: int = 60, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, (n, 16, 16, 3), dtype=np.uint8), np.arange(n) % 3


def test_npz_uint8_hwc_images(tmp_path: Path) -> None:
    x, y = images(100)
    path = tmp_path / "shapes.npz"
    np.savez(path, x_train=x, y_train=y, class_names=np.array(["a", "b", "c"]))
    task = load_task(f"npz:{path}")
    assert task.name == "shapes" and task.input_shape == (3, 16, 16)
    assert (len(task.x_train), len(task.x_val), len(task.x_test)) == (64, 16, 20)
    assert task.class_names == ("a", "b", "c") and task.num_classes == 3
    fitted_on = np.concatenate([task.x_train, task.x_val])  # train before the val split
    np.testing.assert_allclose(fitted_on.mean(axis=(0, 2, 3)), 0, atol=1e-5)
    np.testing.assert_allclose(fitted_on.std(axis=(0, 2, 3)), 1, atol=1e-4)
    assert task.normalization is not None and task.normalization.scale == pytest.approx(1 / 255)
    assert np.array_equal(load_task(str(path)).x_val, task.x_val)  # a bare .npz path works too


def test_npz_signals_with_given_splits(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    arrays = {f"x_{s}": rng.normal(3, 2, (n, 50)) for s, n in (("train", 40), ("val", 10), ("test", 12))}
    arrays |= {f"y_{s}": np.arange(len(arrays[f"x_{s}"])) % 4 * 1.0 for s in ("train", "val", "test")}
    np.savez(tmp_path / "sig.npz", **arrays)
    task = load_task(f"npz:{tmp_path / 'sig.npz'}", seed=9)
    assert task.input_shape == (1, 50) and task.num_classes == 4
    assert (len(task.x_train), len(task.x_val), len(task.x_test)) == (40, 10, 12)
    assert np.array_equal(task.y_val, arrays["y_val"].astype(int))


def test_splits_are_disjoint_and_deterministic() -> None:
    x = np.arange(200, dtype=np.float32)[:, None].repeat(3, 1)  # row i holds i
    y = np.arange(200) % 5
    make = lambda seed: task_from_arrays(x, y, seed=seed, normalization=Normalization())  # noqa: E731
    a, b, c = make(0), make(0), make(1)
    ids = [a.x_train[:, 0, 0], a.x_val[:, 0, 0], a.x_test[:, 0, 0]]
    assert sorted(np.concatenate(ids).tolist()) == list(range(200))
    assert np.array_equal(a.x_val, b.x_val) and not np.array_equal(a.x_val, c.x_val)
    assert np.array_equal(a.x_test, c.x_test)
    assert np.all(np.abs(np.bincount(a.y_val) - 32 / 5) < 1)  # 20% of the 160 non-test rows


def test_torch_tensors_and_layout_override() -> None:
    torch = pytest.importorskip("torch")
    x = torch.randn(30, 6, 20)
    task = task_from_arrays(x, torch.arange(30) % 2, layout="NCL", num_classes=3)
    assert task.input_shape == (6, 20) and task.num_classes == 3
    assert task_from_arrays(x, torch.arange(30) % 2).input_shape == (1, 6, 20)


def test_grey_images_and_channels_first_kept() -> None:
    y = np.arange(20) % 2
    assert task_from_arrays(np.zeros((20, 8, 8)), y).input_shape == (1, 8, 8)
    assert task_from_arrays(np.ones((20, 3, 8, 8)), y).input_shape == (3, 8, 8)
    assert task_from_arrays(np.ones((20, 1, 40)), y).input_shape == (1, 40)


X, Y = np.random.default_rng(0).normal(size=(20, 10)), np.arange(20) % 2
BAD: list[tuple[dict[str, Any], str]] = [
    (dict(y_train=Y + 0.5), "y_train.*non-integer"),
    (dict(y_train=np.eye(2)[Y]), "y_train.*one-hot"),
    (dict(y_train=Y.astype(str)), "y_train.*dtype"),
    (dict(x_val=X, y_val=Y - 1), "y_val.*negative"),
    (dict(x_test=X, y_test=Y * 3, num_classes=2), "y_test has label 3"),
    (dict(x_val=X, y_val=Y[:5]), "x_val has 20 rows but y_val has 5"),
    (dict(y_train=Y[:7]), "x_train has 20 rows but y_train has 7"),
    (dict(x_val=X), "x_val is given without y_val"),
    (dict(x_test=np.where(X > 1, np.nan, X), y_test=Y), "x_test contains"),
    (dict(x_test=X[:, :5], y_test=Y), "x_test has input shape"),
    (dict(x_train=X.astype(str)), "x_train has dtype"),
    (dict(x_train=X[:, 0]), r"x_train has shape \(20,\)"),
    (dict(x_train=X.reshape(20, 1, 2, 5, 1)), "x_train has shape"),
    (dict(x_val=X.astype(np.uint8), y_val=Y), "x_val is uint8 but x_train is float64"),
    (dict(class_names=["a"]), "class_names"),
]


@pytest.mark.parametrize(("change", "message"), BAD)
def test_bad_arrays_name_the_array(change: dict[str, Any], message: str) -> None:
    arrays = {"x_train": X, "y_train": Y} | change
    with pytest.raises(TaskDataError, match=message):
        task_from_arrays(**arrays)


def test_bad_npz_files(tmp_path: Path) -> None:
    with pytest.raises(MissingDataError, match="no file"):
        load_task(f"npz:{tmp_path / 'absent.npz'}")
    np.savez(tmp_path / "keys.npz", X=X, y=Y)
    with pytest.raises(TaskDataError, match=r"x_train.*found \['X', 'y'\]"):
        load_task(f"npz:{tmp_path / 'keys.npz'}")
    np.savez(tmp_path / "obj.npz", x_train=np.array([X[0], "a"], dtype=object), y_train=Y)
    with pytest.raises(TaskDataError, match="x_train"):
        load_task(f"npz:{tmp_path / 'obj.npz'}")
    (tmp_path / "junk.npz").write_text("not a zip")
    with pytest.raises(TaskDataError, match="junk.npz"):
        load_task(f"npz:{tmp_path / 'junk.npz'}")
    np.savez(tmp_path / "extra.npz", x_train=X, y_train=Y, x_valid=X)
    with pytest.warns(UserWarning, match="x_valid"):
        load_task(f"npz:{tmp_path / 'extra.npz'}")


def test_val_fraction_is_checked() -> None:
    with pytest.raises(ValueError, match="val_fraction"):
        task_from_arrays(X, Y, val_fraction=1.5)
