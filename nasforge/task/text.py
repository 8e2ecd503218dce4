"""Text corpora as next-token (sequence) tasks: ``text:PATH`` and the built-in ``stdlib``.

``text:PATH`` reads a user's UTF-8 file; ``stdlib`` needs no download: it reads the Python
standard library's own source from the running interpreter's stdlib folder
(``sysconfig.get_paths()["stdlib"]``), the files :data:`STDLIB_FILES` in that order, each
preceded by a ``# file: NAME`` line and joined by blank lines, capped at the first
:data:`STDLIB_CHARS` (400,000) characters. These modules are long and rarely touched by bug-fix
releases, so every Python 3.11 install gives the same text (SHA-256 :data:`STDLIB_SHA256` on
3.11.7).

Options follow the spec after commas, ``key=value``: ``level`` (``char``, the default: one token
per distinct character of the whole text, sorted by code point; or ``byte``: 256 tokens, one per
UTF-8 byte) and ``context`` (tokens per window, default :data:`DEFAULT_CONTEXT`), e.g.
``text:corpus.txt,level=byte,context=128`` or ``stdlib:context=32``. The path is the longest
comma-separated prefix that names a file, so a path may hold commas too.

The token stream is split contiguously, in order, into train / validation / test (80% / 10% /
10%); each part is cut into non-overlapping windows of ``context`` tokens, the target of each
token being the one after it (:data:`~nasforge.task.task.SEQUENCE` tasks). The split is fixed by
position, so ``seed`` and ``val_fraction`` do not apply. A char-level task keeps its vocabulary
in ``Task.class_names`` (token ``i`` is the text ``class_names[i]``); :func:`encode` and
:func:`decode` convert with it.
"""

from __future__ import annotations

import functools
import hashlib
import os
import sysconfig
from pathlib import Path

import numpy as np

from nasforge.core.paths import MissingDataError
from nasforge.task.registry import register_task
from nasforge.task.task import MIN_SPLIT_ROWS, SEQUENCE, Task, TaskDataError

#: the standard-library modules of the ``stdlib`` corpus, in order
STDLIB_FILES = (
    "textwrap.py", "difflib.py", "pprint.py", "calendar.py", "colorsys.py", "bisect.py", "sched.py",
    "graphlib.py", "queue.py", "netrc.py", "_pydecimal.py",
)
#: characters of the ``stdlib`` corpus (the joined files are cut here)
STDLIB_CHARS = 400_000
#: SHA-256 of the UTF-8 ``stdlib`` corpus text on CPython 3.11.7 (the test suite checks it)
STDLIB_SHA256 = "ca24d939ab0bbcd736dd1f98b95ef83bbd7c894f720c1d87fe419250f3118b1a"
DEFAULT_CONTEXT = 64
LEVELS = ("char", "byte")
#: shares of the token stream for train, validation and test, in that order
SPLIT = (0.8, 0.1, 0.1)


@functools.lru_cache(maxsize=2)
def stdlib_text(max_chars: int = STDLIB_CHARS) -> str:
    """The ``stdlib`` corpus: :data:`STDLIB_FILES` from this interpreter's stdlib folder (see the
    module docstring), cut at ``max_chars`` characters."""
    if max_chars < 1:
        raise ValueError(f"max_chars must be positive, got {max_chars}")
    folder = Path(sysconfig.get_paths()["stdlib"])
    parts = []
    for name in STDLIB_FILES:
        path = folder / name
        if not path.is_file():
            raise MissingDataError(f"stdlib corpus: {path} is missing from this Python install")
        parts.append(f"# file: {name}\n{path.read_text(encoding='utf-8')}")
    return "\n\n".join(parts)[:max_chars]


def stdlib_sha256(max_chars: int = STDLIB_CHARS) -> str:
    """Hex SHA-256 of :func:`stdlib_text`'s UTF-8 bytes (to compare installs)."""
    return hashlib.sha256(stdlib_text(max_chars).encode("utf-8")).hexdigest()


def read_text(path: str | os.PathLike) -> str:
    """The UTF-8 text of ``path``; a clear error naming the file when it is missing, empty,
    binary (NUL bytes) or not UTF-8."""
    path = Path(path).expanduser()
    if not path.is_file():
        raise MissingDataError(f"text task: no file at {path}")
    data = path.read_bytes()
    if not data:
        raise TaskDataError(f"text task: {path} is empty")
    if b"\x00" in data:
        raise TaskDataError(f"text task: {path} is binary (it holds NUL bytes at offset {data.index(0)}); "
                            "expected a UTF-8 text file")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as error:
        raise TaskDataError(f"text task: {path} is not UTF-8 text (byte {error.start}: {error.reason})") from None


def tokenize(text: str, level: str = "char") -> tuple[np.ndarray, tuple[str, ...]]:
    """``(ids, vocabulary)``: int64 token ids of ``text`` and, for ``char`` level, the sorted
    distinct characters (token ``i`` is ``vocabulary[i]``); for ``byte`` level the UTF-8 bytes
    and an empty vocabulary (token ``i`` is byte ``i``, 256 tokens)."""
    if level == "byte":
        return np.frombuffer(text.encode("utf-8"), dtype=np.uint8).astype(np.int64), ()
    if level != "char":
        raise ValueError(f"text level {level!r}; expected one of {', '.join(LEVELS)}")
    vocabulary = tuple(sorted(set(text)))
    index = {c: i for i, c in enumerate(vocabulary)}
    return np.fromiter((index[c] for c in text), dtype=np.int64, count=len(text)), vocabulary


def encode(text: str, vocabulary: tuple[str, ...] | list[str]) -> np.ndarray:
    """Token ids of ``text`` with a task's vocabulary (empty: byte level); names an unknown character."""
    if not vocabulary:
        return tokenize(text, "byte")[0]
    index = {c: i for i, c in enumerate(vocabulary)}
    unknown = sorted({c for c in text if c not in index})
    if unknown:
        raise ValueError(f"characters {unknown[:10]!r} are not in the vocabulary of {len(vocabulary)} tokens")
    return np.array([index[c] for c in text], dtype=np.int64)


def decode(ids: np.ndarray | list[int], vocabulary: tuple[str, ...] | list[str]) -> str:
    """The text of token ``ids`` (byte level when ``vocabulary`` is empty; invalid UTF-8 is replaced)."""
    ids = [int(i) for i in ids]
    if not vocabulary:
        return bytes(ids).decode("utf-8", errors="replace")
    return "".join(vocabulary[i] for i in ids)


def vocabulary_record(task: Task) -> dict[str, object]:
    """What a saved model needs to read and write text: ``level`` (``char``/``byte``), the
    ``context`` length and the ``tokens`` (token ``i`` is ``tokens[i]``; empty for bytes)."""
    if not task.is_sequence:
        raise ValueError(f"task {task.name!r} is not a sequence task; it has no token vocabulary")
    return {"task": task.name, "level": "char" if task.class_names else "byte", "context": task.input_shape[0],
            "vocab_size": task.num_classes, "tokens": list(task.class_names)}


def windows(ids: np.ndarray, context: int) -> tuple[np.ndarray, np.ndarray]:
    """Non-overlapping ``(x, y)`` windows of ``context`` tokens; ``y`` is ``x`` shifted by one."""
    n = (len(ids) - 1) // context
    x = ids[: n * context].reshape(n, context)
    y = ids[1: n * context + 1].reshape(n, context)
    return np.ascontiguousarray(x), np.ascontiguousarray(y)


def text_task(text: str, *, name: str = "text", level: str = "char", context: int = DEFAULT_CONTEXT) -> Task:
    """A :data:`~nasforge.task.task.SEQUENCE` task from ``text`` (see the module docstring)."""
    if isinstance(context, bool) or not isinstance(context, int) or context < 1:
        raise ValueError(f"text task {name!r}: context={context!r}; expected a positive integer")
    if not text:
        raise TaskDataError(f"text task {name!r}: the text is empty")
    ids, vocabulary = tokenize(text, level)
    vocab_size = len(vocabulary) if level == "char" else 256
    need = 0
    for share in SPLIT:  # each part needs MIN_SPLIT_ROWS windows plus the last target
        need = max(need, int(np.ceil((MIN_SPLIT_ROWS * context + 1) / share)))
    if len(ids) < need:
        raise TaskDataError(
            f"text task {name!r}: {len(ids):,} tokens are too few for context={context}: the "
            f"{'/'.join(str(round(s * 100)) for s in SPLIT)} train/val/test split needs at least {need:,} tokens "
            f"({MIN_SPLIT_ROWS} windows in every part); give a longer text or a shorter context"
        )
    if vocab_size < 2:
        raise TaskDataError(f"text task {name!r}: the text has a single distinct character; next-token "
                            "prediction needs at least 2")
    ends = np.round(np.cumsum(SPLIT) * len(ids)).astype(int)
    parts = np.split(ids, ends[:-1])
    (x_tr, y_tr), (x_val, y_val), (x_te, y_te) = (windows(part, context) for part in parts)
    return Task(name, x_tr, y_tr, x_val, y_val, x_te, y_te, num_classes=vocab_size, class_names=vocabulary,
                kind=SEQUENCE)


def parse_options(argument: str | None, what: str) -> dict[str, str]:
    """``{"level": ..., "context": ...}`` from ``"level=byte,context=32"``; names a bad option."""
    options: dict[str, str] = {}
    for item in (argument or "").split(","):
        if not item.strip():
            continue
        key, eq, value = item.partition("=")
        key = key.strip()
        if not eq or key not in ("level", "context"):
            raise ValueError(f"{what}: option {item!r}; expected level=char|byte or context=N, "
                             "comma-separated")
        options[key] = value.strip()
    if "level" in options and options["level"] not in LEVELS:
        raise ValueError(f"{what}: level={options['level']!r}; expected one of {', '.join(LEVELS)}")
    if "context" in options:
        try:
            context = int(options["context"])
        except ValueError:
            context = 0
        if context < 1:
            raise ValueError(f"{what}: context={options['context']!r}; expected a positive integer")
    return options


def _settings(options: dict[str, str]) -> dict[str, object]:
    return {"level": options.get("level", "char"), "context": int(options.get("context", DEFAULT_CONTEXT))}


@register_task("stdlib")
def load_stdlib(argument: str | None = None, *, seed: int = 0, val_fraction: float = 0.2) -> Task:
    """The ``stdlib`` corpus as a sequence task; ``argument``: options (``level=byte,context=32``)."""
    del seed, val_fraction  # the split is fixed by position
    settings = _settings(parse_options(argument, f"stdlib:{argument}"))
    return text_task(stdlib_text(), name="stdlib", **settings)  # type: ignore[arg-type]


@register_task("text")
def load_text(argument: str | None, *, seed: int = 0, val_fraction: float = 0.2) -> Task:
    """The UTF-8 file ``argument`` (``PATH[,level=char|byte][,context=N]``) as a sequence task."""
    del seed, val_fraction  # the split is fixed by position
    if not argument:
        raise ValueError("the text task needs a path: text:/path/to/corpus.txt[,level=byte][,context=64]")
    parts, options = argument.split(","), []
    while len(parts) > 1 and not Path(",".join(parts)).expanduser().is_file():
        options.insert(0, parts.pop())  # options trail the path, which may hold commas itself
    settings = _settings(parse_options(",".join(options), f"text:{argument}"))
    path = Path(",".join(parts)).expanduser()
    return text_task(read_text(path), name=path.stem, **settings)  # type: ignore[arg-type]
