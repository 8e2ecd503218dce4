"""Text tasks: the stdlib corpus, a user's file, tokens, splits, and the errors for bad files."""

from __future__ import annotations

import sys

import numpy as np
import pytest

from nasforge.core.paths import MissingDataError
from nasforge.task import Task, TaskDataError, load_task
from nasforge.task.task import SEQUENCE
from nasforge.task.text import (
    STDLIB_CHARS,
    STDLIB_SHA256,
    decode,
    encode,
    stdlib_sha256,
    stdlib_text,
    text_task,
    tokenize,
)


def test_stdlib_corpus_is_fixed_text_of_the_listed_files():
    text = stdlib_text()
    assert len(text) == STDLIB_CHARS
    assert text.startswith("# file: textwrap.py\n")
    assert "# file: _pydecimal.py\n" in text
    if sys.version_info[:2] == (3, 11):  # the documented digest: the same tokens on every 3.11
        assert stdlib_sha256() == STDLIB_SHA256


def test_stdlib_task_windows_are_contiguous_next_tokens():
    task = load_task("stdlib")
    assert task.kind == SEQUENCE and task.is_sequence
    assert task.input_shape == (64,)
    assert task.num_classes == len(task.class_names) == 96  # printable ASCII and the newline
    assert task.x_train.dtype == np.int64 and task.y_train.shape == task.x_train.shape
    assert (len(task.x_train), len(task.x_val), len(task.x_test)) == (4999, 624, 624)
    # y is x shifted by one token; consecutive windows follow each other without overlap
    assert np.array_equal(task.x_train[0, 1:], task.y_train[0, :-1])
    assert task.y_train[0, -1] == task.x_train[1, 0]
    ids, _ = tokenize(stdlib_text(), "char")
    assert np.array_equal(task.x_train.ravel(), ids[: task.x_train.size])
    start = round(0.9 * len(ids))  # the test part is the last 10% of the stream
    assert np.array_equal(task.x_test.ravel(), ids[start: start + task.x_test.size])
    assert decode(task.x_train[0], task.class_names) == stdlib_text()[:64]


def test_stdlib_options_byte_level_and_context():
    task = load_task("stdlib:level=byte,context=32")
    assert task.num_classes == 256 and task.class_names == () and task.input_shape == (32,)
    assert decode(task.x_train[0], ()) == stdlib_text()[:32]
    with pytest.raises(ValueError, match="level='word'"):
        load_task("stdlib:level=word")
    with pytest.raises(ValueError, match="context='0'"):
        load_task("stdlib:context=0")
    with pytest.raises(ValueError, match="option 'ctx=3'"):
        load_task("stdlib:ctx=3")


def test_user_text_file(tmp_path):
    path = tmp_path / "poem, draft.txt"  # a comma in the name: an existing path is taken whole
    path.write_text("héllo wörld, " * 200, encoding="utf-8")
    task = load_task(f"text:{path}")
    assert task.name == "poem, draft" and set(task.class_names) == set("héllo wörld, ")
    other = tmp_path / "c.txt"
    other.write_text("abcd" * 300, encoding="utf-8")
    small = load_task(f"text:{other},level=byte,context=8")
    assert small.input_shape == (8,) and small.num_classes == 256
    with_options = load_task(f"text:{path},context=32")  # a path with a comma, then an option
    assert with_options.name == "poem, draft" and with_options.input_shape == (32,)
    with pytest.raises(ValueError, match="option 'ctx=3'"):
        load_task(f"text:{other},ctx=3")
    assert np.array_equal(encode("dab", ()), np.array([100, 97, 98]))
    assert decode(encode("wörld", task.class_names), task.class_names) == "wörld"
    with pytest.raises(ValueError, match="not in the vocabulary"):
        encode("xyz", task.class_names)


@pytest.mark.parametrize(("content", "message"), [
    (b"", "is empty"),
    (b"abc\x00def" * 100, "binary .*NUL"),
    (b"\xff\xfe abc" * 100, "not UTF-8"),
    (b"short text", "too few"),
])
def test_bad_files_are_named(tmp_path, content, message):
    path = tmp_path / "corpus.txt"
    path.write_bytes(content)
    with pytest.raises(TaskDataError, match=message) as error:
        load_task(f"text:{path}")
    assert "corpus" in str(error.value)


def test_missing_file_and_no_path(tmp_path):
    with pytest.raises(MissingDataError, match="nope.txt"):
        load_task(f"text:{tmp_path / 'nope.txt'}")
    with pytest.raises(ValueError, match="needs a path"):
        load_task("text")


def test_single_character_text_is_refused():
    with pytest.raises(TaskDataError, match="single distinct character"):
        text_task("a" * 10_000)


def test_sequence_task_checks():
    x = np.zeros((4, 8), dtype=np.int64)
    y = np.tile(np.arange(8), (4, 1)).astype(np.int64)
    Task("ok", x, y, x, y, x, y, num_classes=8, kind=SEQUENCE)
    with pytest.raises(TaskDataError, match="y_train has shape"):
        Task("t", x, y[:, :4], x, y, x, y, num_classes=8, kind=SEQUENCE)
    with pytest.raises(TaskDataError, match="x_val is float32"):
        Task("t", x, y, x.astype(np.float32), y, x, y, num_classes=8, kind=SEQUENCE)
    with pytest.raises(TaskDataError, match=r"y_train has token ids in \[0, 7\]"):
        Task("t", x, y, x, y, x, y, num_classes=5, kind=SEQUENCE)
    with pytest.raises(TaskDataError, match="context length 4"):
        Task("t", x, y, x[:, :4], y[:, :4], x, y, num_classes=8, kind=SEQUENCE)
    with pytest.raises(TaskDataError, match="kind='images'"):
        Task("t", x, y, x, y, x, y, num_classes=8, kind="images")
    with pytest.raises(TaskDataError, match="3 class_names"):
        Task("t", x, y, x, y, x, y, num_classes=8, class_names=("a", "b", "c"), kind=SEQUENCE)
