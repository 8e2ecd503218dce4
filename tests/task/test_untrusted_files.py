"""Files from outside never run code: CIFAR-10 batches, npz archives, and the package's own readers."""

from __future__ import annotations

import builtins
import io
import os
import pickle
import re
import struct
import tokenize
from pathlib import Path

import numpy as np
import pytest

from nasforge.task import TaskDataError, load_task
from nasforge.task.safe_pickle import UnsafeFileError

BATCHES = [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]
PACKAGE = Path(__file__).resolve().parents[2] / "nasforge"


def official_batch(n: int, seed: int) -> dict[bytes, object]:
    """A batch as the official python files hold it (``pickle.load(f, encoding="bytes")``)."""
    rng = np.random.default_rng(seed)
    return {b"batch_label": b"training batch 1 of 5", b"labels": [int(v) for v in rng.integers(0, 10, n)],
            b"data": rng.integers(0, 256, (n, 3072), dtype=np.uint8),
            b"filenames": [f"img_{i}.png".encode() for i in range(n)]}


def write_folder(folder: Path, first: object | None = None, protocol: int = 2, n: int = 20) -> list[dict]:
    """The six batch files in ``folder`` (pickled with protocol 2, like the originals); ``first``
    replaces the content of ``data_batch_1``."""
    folder.mkdir(parents=True, exist_ok=True)
    batches = [official_batch(n, seed) for seed in range(len(BATCHES))]
    for i, (name, batch) in enumerate(zip(BATCHES, batches, strict=True)):
        content = first if i == 0 and first is not None else batch
        (folder / name).write_bytes(pickle.dumps(content, protocol=protocol))
    return batches


def test_official_format_batches_load(tmp_path: Path) -> None:
    from nasforge.task.cifar10 import read_cifar10_batches

    batches = write_folder(tmp_path / "cifar")
    x, y, x_test, y_test = read_cifar10_batches(tmp_path / "cifar")
    assert x.dtype == np.uint8 and x.shape == (100, 3, 32, 32) and x_test.shape == (20, 3, 32, 32)
    assert np.array_equal(x[:20].reshape(20, -1), batches[0][b"data"])
    assert y[:20].tolist() == batches[0][b"labels"] and y_test.tolist() == batches[-1][b"labels"]
    task = load_task(f"cifar10:{tmp_path / 'cifar'}")
    assert task.name == "cifar10" and task.input_shape == (3, 32, 32)


@pytest.mark.parametrize("protocol", [0, 2, 4])
def test_batches_of_any_usual_protocol_load(tmp_path: Path, protocol: int) -> None:
    write_folder(tmp_path, protocol=protocol)
    assert len(load_task(f"cifar10:{tmp_path}").x_test) == 20


class Python2Pickler(pickle._Pickler):
    """Writes every str and bytes as a Python 2 ``str`` (BINSTRING), as the official batches
    (cPickle, protocol 2, NumPy 1.x) hold them."""

    dispatch = dict(pickle._Pickler.dispatch)

    def save_py2_str(self, obj: str | bytes) -> None:
        data = obj if isinstance(obj, bytes) else obj.encode("latin-1")
        n = len(data)
        self.write((pickle.SHORT_BINSTRING + bytes([n]) if n < 256 else
                    pickle.BINSTRING + struct.pack("<i", n)) + data)
        self.memoize(obj)

    dispatch[bytes] = save_py2_str
    dispatch[str] = save_py2_str


def test_python2_written_batches_load(tmp_path: Path) -> None:
    """The files as downloaded: Python 2 strings and NumPy 1's ``numpy.core.multiarray`` name."""
    batches = [official_batch(10, seed) for seed in range(len(BATCHES))]
    for name, batch in zip(BATCHES, batches, strict=True):
        buffer = io.BytesIO()
        Python2Pickler(buffer, protocol=2).dump({k.decode(): v for k, v in batch.items()})
        raw = buffer.getvalue().replace(b"cnumpy._core.multiarray\n", b"cnumpy.core.multiarray\n")
        assert b"cnumpy.core.multiarray\n_reconstruct" in raw
        (tmp_path / name).write_bytes(raw)
    task = load_task(f"cifar10:{tmp_path}")
    assert len(task.x_train) + len(task.x_val) == 50 and len(task.x_test) == 10
    assert task.y_test.tolist() == batches[-1][b"labels"]


class RunsShell:
    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


class RunsPython:
    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (builtins.exec, (f"open({str(self.marker)!r}, 'w').close()",))


@pytest.mark.parametrize("payload, refused", [(RunsShell, r"'(os|posix|nt)\.system'"),
                                              (RunsPython, r"'builtins\.exec'")])
@pytest.mark.parametrize("where", ["whole", "labels", "nested"])
def test_malicious_batch_is_refused_and_never_runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                   payload: type, refused: str, where: str) -> None:
    marker = tmp_path / "MARKER"
    evil = payload(marker)
    content = {"whole": evil, "labels": {b"data": np.zeros((2, 3072), np.uint8), b"labels": evil},
               "nested": {b"data": np.zeros((2, 3072), np.uint8), b"labels": [0, [1, {b"x": evil}]]}}[where]
    folder = tmp_path / "cifar"
    write_folder(folder, first=content)
    message = rf"refusing to load {re.escape(str(folder / 'data_batch_1'))}: it asks to run {refused}, " \
              "which a CIFAR-10 batch never holds"
    with pytest.raises(UnsafeFileError, match=message):
        load_task(f"cifar10:{folder}")
    monkeypatch.setenv("NASFORGE_CIFAR10", str(folder))
    with pytest.raises(TaskDataError, match="refusing to load"):
        load_task("cifar10")
    assert not marker.exists()


def test_plain_unpickling_would_have_run_it(tmp_path: Path) -> None:
    """The payload is real: a plain pickle.loads creates the marker (so the test above means something)."""
    marker = tmp_path / "MARKER"
    pickle.loads(pickle.dumps(RunsPython(marker), protocol=2))
    assert marker.exists()


def test_malicious_batch_named_by_a_run_config_is_refused(tmp_path: Path) -> None:
    """A run directory's config.yaml (what ``nasforge resume`` reads) names a crafted folder."""
    from nasforge.run.config import load_config

    marker, folder = tmp_path / "MARKER", tmp_path / "cifar"
    write_folder(folder, first=RunsShell(marker))
    (tmp_path / "config.yaml").write_text(f"task: 'cifar10:{folder}'\nspace: macro\nstrategy: random\n"
                                          "budget: {trials: 1}\nobjectives: ['val_accuracy:max']\n")
    config = load_config(tmp_path / "config.yaml")
    with pytest.raises(UnsafeFileError, match="refusing to load"):
        load_task(config.task)
    assert not marker.exists()


def test_nasforge_resume_refuses_it(tmp_path: Path) -> None:
    """The same through the command line: the run stops with the error, the payload never runs."""
    from typer.testing import CliRunner

    from nasforge.cli import app
    from nasforge.experiment.storage import Storage

    marker, folder, run = tmp_path / "MARKER", tmp_path / "cifar", tmp_path / "run"
    write_folder(folder, first=RunsShell(marker))
    run.mkdir()
    Storage(run / "trials.db").close()
    (run / "config.yaml").write_text(f"task: 'cifar10:{folder}'\nspace: macro\nstrategy: random\n"
                                     "budget: {trials: 1}\nobjectives: ['val_accuracy:max']\n")
    result = CliRunner().invoke(app, ["resume", str(run)])
    assert result.exit_code != 0 and "refusing to load" in result.output
    assert not marker.exists()


@pytest.mark.parametrize("content, message", [
    ([1, 2, 3], "holds a list, not a dict"),
    ({b"labels": [0]}, "no 'data' entry"),
    ({b"data": np.zeros((2, 3072), np.uint8)}, "no 'labels' entry"),
    ({b"data": np.zeros((2, 100), np.uint8), b"labels": [0, 1]}, r"shape \(2, 100\).*\(N, 3072\)"),
    ({b"data": np.zeros((2, 3072), np.float32), b"labels": [0, 1]}, "float32 array"),
    ({b"data": np.full((2, 3072), 300), b"labels": [0, 1]}, "outside 0..255"),
    ({b"data": b"\0" * 6144, b"labels": [0, 1]}, "'data' is a bytes"),
    ({b"data": np.zeros((2, 3072), np.uint8), b"labels": [0]}, "2 images but 1 labels"),
    ({b"data": np.zeros((2, 3072), np.uint8), b"labels": [0, 10]}, r"labels outside 0\.\.9"),
    ({b"data": np.zeros((2, 3072), np.uint8), b"labels": [-1, 2**70]}, r"labels outside 0\.\.9 \(found \[-1, 1180"),
    ({b"data": np.zeros((2, 3072), np.uint8), b"labels": [0, 1.5]}, "integer class indices"),
    ({b"data": np.zeros((2, 3072), np.uint8), b"labels": [0, b"cat"]}, "integer class indices"),
])
def test_batch_contents_are_checked(tmp_path: Path, content: object, message: str) -> None:
    write_folder(tmp_path, first=content)
    with pytest.raises(TaskDataError, match=rf"data_batch_1.*{message}"):
        load_task(f"cifar10:{tmp_path}")


def test_truncated_batch_is_not_a_batch(tmp_path: Path) -> None:
    write_folder(tmp_path)
    (tmp_path / "test_batch").write_bytes((tmp_path / "test_batch").read_bytes()[:100])
    with pytest.raises(TaskDataError, match="test_batch is not a CIFAR-10 python batch"):
        load_task(f"cifar10:{tmp_path}")


def test_npz_with_an_object_array_is_refused(tmp_path: Path) -> None:
    marker = tmp_path / "MARKER"
    x = np.empty(4, dtype=object)
    x[:] = [RunsShell(marker)] * 4
    np.savez(tmp_path / "evil.npz", x_train=x, y_train=np.arange(4))
    with pytest.raises(TaskDataError, match=r"refusing to load .*evil\.npz: array 'x_train' holds Python "
                                            r"objects \(dtype=object\), which nasforge never unpickles") as info:
        load_task(f"npz:{tmp_path / 'evil.npz'}")
    assert "pickle" not in type(info.value).__module__ and info.value.__cause__ is None
    assert not marker.exists()


# Ways to turn a file's bytes into live objects by running code the file names.
UNSAFE_LOADS = {
    "pickle.load / pickle.loads": re.compile(r"\b(c?pickle|dill|cloudpickle|joblib)\.loads?\("),
    "an unpickler": re.compile(r"\bUnpickler\b"),
    "allow_pickle=True": re.compile(r"allow_pickle\s*=\s*True"),
    "yaml.load / yaml.unsafe_load": re.compile(r"\byaml\.(load|unsafe_load|full_load|load_all)\("),
    "eval / exec": re.compile(r"(?<![\w.])(eval|exec)\("),
    "marshal / shelve": re.compile(r"\b(marshal|shelve)\.(loads?|open)\("),
    "a loader imported by name": re.compile(r"\bfrom\s+(c?pickle|yaml|marshal|torch)\s+import\b[^\n]*\b"
                                            r"(loads?|Unpickler|unsafe_load|full_load)\b"),
}
TORCH_LOAD = re.compile(r"\btorch\.load\(([^()]|\([^()]*\))*\)")
#: the one module allowed to unpickle, with its allow-list (CIFAR-10 batches)
RESTRICTED_UNPICKLER = PACKAGE / "task" / "safe_pickle.py"


def code_of(path: Path) -> str:
    """The file's source with comments and string literals blanked (layout kept), so that
    docstrings and messages may name what the code does not do."""
    lines = path.read_text().splitlines(keepends=True)
    blank = {tokenize.COMMENT, tokenize.STRING, getattr(tokenize, "FSTRING_MIDDLE", tokenize.STRING)}
    with path.open("rb") as file:
        for tok in tokenize.tokenize(file.readline):
            if tok.type not in blank:
                continue
            (r1, c1), (r2, c2) = tok.start, tok.end
            for r in range(r1, r2 + 1):
                line = lines[r - 1]
                a, b = (c1 if r == r1 else 0), (c2 if r == r2 else len(line.rstrip("\n")))
                lines[r - 1] = line[:a] + " " * (b - a) + line[b:]
    return "".join(lines)


def unsafe_loads(code: str) -> list[str]:
    """What in ``code`` would load a file by running code it names (pickle.dumps is fine: only
    turning bytes back into objects matters)."""
    found = [f"{what}: {m.group(0)}" for what, pattern in UNSAFE_LOADS.items() for m in pattern.finditer(code)]
    return found + [f"torch.load without weights_only=True: {m.group(0)}" for m in TORCH_LOAD.finditer(code)
                    if not re.search(r"weights_only\s*=\s*True", m.group(0))]


def test_package_never_loads_files_with_code_running_readers() -> None:
    """No module of ``nasforge/`` reads a file with a reader that can run code from it, except the
    restricted unpickler of CIFAR-10 batches (``docs/trust.md``)."""
    sources = sorted(PACKAGE.rglob("*.py"))
    assert RESTRICTED_UNPICKLER in sources and len(sources) > 50
    found = []
    for path in sources:
        hits = unsafe_loads(code_of(path))
        if path == RESTRICTED_UNPICKLER:
            hits = [h for h in hits if not h.startswith("an unpickler")]
        found += [f"{path.relative_to(PACKAGE.parent)}: {hit}" for hit in hits]
    assert not found, "\n".join(found)


def test_the_source_check_sees_what_it_looks_for(tmp_path: Path) -> None:
    """The check above flags the unsafe forms, not the safe ones, comments or strings."""
    bad = ["pickle.load(f)", "pickle.loads(b)", "np.load(p, allow_pickle=True)", "yaml.load(text)",
           "yaml.unsafe_load(t)", "eval(s)", "x = exec(s)", "pickle.Unpickler(f).load()",
           "from pickle import loads", "torch.load(Path(p), map_location='cpu')",
           "torch.load(p, weights_only=False)"]
    good = ["pickle.dumps(x)", "np.load(p, allow_pickle=False)", "yaml.safe_load(t)", "model.eval()",
            "torch.load(Path(p), map_location='cpu', weights_only=True)", "x = 1  # pickle.load(f)",
            "raise ValueError('never eval(s) or pickle.load(f)')", 'f"{eval!r}"']
    for line in bad:
        assert unsafe_loads(line), line
    for i, line in enumerate(good):
        (tmp_path / f"m{i}.py").write_text(line + "\n")
        assert not unsafe_loads(code_of(tmp_path / f"m{i}.py")), line
