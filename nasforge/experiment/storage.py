"""SQLite storage of a run: one row per trial, committed before the next ask.

The database is the source of truth. It runs in WAL mode with ``synchronous=NORMAL``: a
committed trial survives a killed process. Every ask and tell gets a number from one event
counter, so the exact interleaving of a run (asynchronous workers included) can be replayed.

An existing file is checked before it is used (:func:`check_store`): an empty file, one that is
not SQLite, one that fails ``PRAGMA quick_check`` or lacks the run's tables is refused with
:class:`DamagedStoreError` and never written. ``Storage(path, read_only=True)`` opens the file
with SQLite's ``mode=ro`` (and ``immutable=1`` when no write-ahead log exists, so nothing is
created next to it): readers work on a read-only file system and change no file.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from nasforge.core.records import RUNNING, Trial
from nasforge.experiment.errors import RunDirError
from nasforge.space.arch import Arch

#: tables every run's store has had from the start (later ones are added when a writer opens it)
REQUIRED_TABLES = ("meta", "trials")
_SQLITE_HEADER = b"SQLite format 3\x00"


class DamagedStoreError(RunDirError):
    """A run's ``trials.db`` that is not an intact nasforge store; nasforge leaves it untouched."""

    def __init__(self, path: Path, reason: str) -> None:
        super().__init__(f"{path} is damaged ({reason}): nasforge will not write to it; restore it from a "
                         "backup, or move it away and start a new search")
        self.path, self.reason = path, reason

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS trials (
    number INTEGER PRIMARY KEY,
    arch_key TEXT NOT NULL,
    arch TEXT NOT NULL,
    status TEXT NOT NULL,
    metrics TEXT NOT NULL DEFAULT '{}',
    error TEXT,
    cost_seconds REAL NOT NULL DEFAULT 0,
    started REAL,
    finished REAL,
    asked_seq INTEGER NOT NULL,
    told_seq INTEGER,
    attempt INTEGER NOT NULL DEFAULT 1,
    info TEXT NOT NULL DEFAULT '{}',
    clock REAL
);
CREATE INDEX IF NOT EXISTS trials_key ON trials(arch_key);
CREATE TABLE IF NOT EXISTS attempts (
    number INTEGER NOT NULL,
    attempt INTEGER NOT NULL,
    status TEXT NOT NULL,
    reason TEXT,
    error TEXT,
    cost_seconds REAL NOT NULL DEFAULT 0,
    started REAL,
    finished REAL,
    PRIMARY KEY (number, attempt)
);
CREATE TABLE IF NOT EXISTS epochs (
    epoch INTEGER PRIMARY KEY,
    record TEXT NOT NULL,
    clock REAL
);
CREATE TABLE IF NOT EXISTS proxy_scores (
    scorer TEXT NOT NULL,
    arch_key TEXT NOT NULL,
    value REAL,
    error TEXT,
    seconds REAL NOT NULL DEFAULT 0,
    PRIMARY KEY (scorer, arch_key)
);
"""


class Storage:
    """A run's trials and metadata in one SQLite file."""

    def __init__(self, path: str | Path, read_only: bool = False) -> None:
        self.path = Path(path)
        self.read_only = read_only
        in_memory = str(path) == ":memory:"
        if read_only:
            if in_memory or not self.path.is_file():
                raise RunDirError(f"{self.path} does not exist: nothing to read")
            self._conn = _open_read_only(self.path)
            try:
                _check_open(self._conn, self.path)
            except BaseException:
                self._conn.close()
                raise
        else:
            if not in_memory and self.path.exists():
                check_store(self.path)
            self._conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
            self._conn.execute("PRAGMA journal_mode=WAL")
            self._conn.execute("PRAGMA synchronous=NORMAL")
            self._conn.executescript(_SCHEMA)
            columns = {row[1] for row in self._conn.execute("PRAGMA table_info(trials)")}
            if "clock" not in columns:  # a run stored before trials recorded the run's clock
                self._conn.execute("ALTER TABLE trials ADD COLUMN clock REAL")
        self._tables = {row[0] for row in self._conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        self._has_clock = "clock" in {row[1] for row in self._conn.execute("PRAGMA table_info(trials)")}
        row = self._conn.execute(
            "SELECT MAX(MAX(asked_seq), COALESCE(MAX(told_seq), 0)) FROM trials").fetchone()
        self._seq = int(row[0] or 0)

    def close(self) -> None:
        self._conn.close()

    def next_seq(self) -> int:
        self._seq += 1
        return self._seq

    # ----------------------------------------------------------------- metadata
    def set_meta(self, key: str, value: Any) -> None:
        self._conn.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", (key, json.dumps(value)))

    def get_meta(self, key: str, default: Any = None) -> Any:
        row = self._conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return default if row is None else json.loads(row[0])

    # ------------------------------------------------------------------- epochs
    def add_epoch(self, epoch: int, record: dict[str, Any], clock: float | None = None) -> None:
        """Record one completed epoch of a one-shot method (its derived arch, architecture
        probabilities, loss) with the run clock's reading."""
        self._conn.execute("INSERT OR REPLACE INTO epochs VALUES (?, ?, ?)",
                           (epoch, json.dumps(record, default=float), clock))

    def epochs(self) -> list[dict[str, Any]]:
        """The recorded epochs in order, each ``{"epoch", ..., "clock"}``."""
        if "epochs" not in self._tables:  # read-only, a run stored before epochs were recorded
            return []
        rows = self._conn.execute("SELECT record, clock FROM epochs ORDER BY epoch").fetchall()
        return [{**json.loads(record), "clock": clock} for record, clock in rows]

    # ------------------------------------------------------------- proxy scores
    def proxy_scores(self, scorer: str | None = None) -> dict[str, tuple[float | None, str | None, float]]:
        """Stored proxy scores of ``scorer`` (all scorers when None): key -> (value, error, seconds)."""
        if "proxy_scores" not in self._tables:
            return {}
        query = "SELECT arch_key, value, error, seconds FROM proxy_scores"
        rows = self._conn.execute(query + " WHERE scorer = ?", (scorer,)) if scorer is not None \
            else self._conn.execute(query)
        return {key: (value, error, float(seconds)) for key, value, error, seconds in rows}

    def save_proxy_score(self, scorer: str, key: str, value: float | None, error: str | None,
                         seconds: float) -> None:
        self._conn.execute("INSERT OR REPLACE INTO proxy_scores VALUES (?, ?, ?, ?, ?)",
                           (scorer, key, value, error, seconds))

    def proxy_cost(self) -> dict[str, float]:
        """Proxy evaluations and seconds spent by the run (all scorers)."""
        if "proxy_scores" not in self._tables:
            return {"proxy_evaluations": 0.0, "proxy_seconds": 0.0}
        n, seconds = self._conn.execute("SELECT COUNT(*), COALESCE(SUM(seconds), 0) FROM proxy_scores").fetchone()
        return {"proxy_evaluations": float(n), "proxy_seconds": float(seconds)}

    def score_store(self, scorer: str) -> StoredScores:
        """The :class:`~nasforge.strategy.guided.ScoreStore` of ``scorer`` in this run."""
        return StoredScores(self, scorer)

    # ------------------------------------------------------------------- trials
    def add_trial(self, arch: Arch, status: str = RUNNING, **fields: Any) -> int:
        """Store a newly asked trial; returns its number."""
        seq = self.next_seq()
        cur = self._conn.execute(
            "INSERT INTO trials (arch_key, arch, status, started, asked_seq, metrics, error, told_seq, "
            "finished, cost_seconds) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (arch.key, arch.to_json(), status, time.time(), seq, json.dumps(fields.get("metrics", {})),
             fields.get("error"), self.next_seq() if status != RUNNING else None,
             time.time() if status != RUNNING else None, fields.get("cost_seconds", 0.0)),
        )
        return int(cur.lastrowid)

    def finish_trial(self, number: int, status: str, metrics: dict[str, float], error: str | None,
                     cost_seconds: float, info: dict[str, Any] | None = None,
                     meta: dict[str, Any] | None = None, clock: float | None = None) -> None:
        """Record a trial's result, the run clock's reading (and run metadata) in one transaction."""
        with self._transaction():
            self._conn.execute(
                "UPDATE trials SET status=?, metrics=?, error=?, cost_seconds=?, finished=?, told_seq=?, "
                "info=?, clock=? WHERE number=?",
                (status, json.dumps(metrics), error, cost_seconds, time.time(), self.next_seq(),
                 json.dumps(info or {}, default=str), clock, number),
            )
            for key, value in (meta or {}).items():
                self.set_meta(key, value)

    def restart_trial(self, number: int) -> None:
        """Mark a trial as running again (resumed or retried), counting the attempt."""
        self._conn.execute(
            "UPDATE trials SET status=?, attempt=attempt+1, started=?, error=NULL WHERE number=?",
            (RUNNING, time.time(), number))

    def retry_trial(self, number: int, status: str, reason: str | None, error: str | None,
                    cost_seconds: float) -> None:
        """Keep a failed attempt in ``attempts`` and run the trial again (attempt+1), in one transaction.

        The trial stays untold (no ``told_seq``): only its final outcome reaches the strategy.
        """
        with self._transaction():
            self._conn.execute(
                "INSERT OR REPLACE INTO attempts (number, attempt, status, reason, error, cost_seconds, started, "
                "finished) SELECT number, attempt, ?, ?, ?, ?, started, ? FROM trials WHERE number=?",
                (status, reason, error, cost_seconds, time.time(), number))
            self.restart_trial(number)

    def attempts(self, number: int | None = None) -> list[dict[str, Any]]:
        """Earlier (failed, retried) attempts, of one trial or all, in order."""
        if "attempts" not in self._tables:
            return []
        where, args = ("WHERE number=?", (number,)) if number is not None else ("", ())
        rows = self._conn.execute(
            "SELECT number, attempt, status, reason, error, cost_seconds, started, finished FROM attempts "
            f"{where} ORDER BY number, attempt", args).fetchall()
        keys = ("number", "attempt", "status", "reason", "error", "cost_seconds", "started", "finished")
        return [dict(zip(keys, row, strict=True)) for row in rows]

    def trials(self, parse: Callable[[str], Arch] | None = None) -> list[Trial]:
        """All trials in ask order; ``parse`` rebuilds Archs (default: from stored JSON values)."""
        rows = self._conn.execute(
            "SELECT number, arch, status, metrics, error, cost_seconds, started, finished, asked_seq, "
            f"told_seq, attempt, info, {'clock' if self._has_clock else 'NULL'} FROM trials "
            "ORDER BY asked_seq").fetchall()
        return [_trial(row, parse) for row in rows]

    def count(self) -> int:
        return int(self._conn.execute("SELECT COUNT(*) FROM trials").fetchone()[0])

    def _transaction(self) -> _Tx:
        return _Tx(self._conn)


def check_store(path: Path) -> None:
    """Refuse (:class:`DamagedStoreError`) an existing ``trials.db`` that is empty, not SQLite,
    fails ``PRAGMA quick_check`` or lacks the run's tables. Reads the file only."""
    path = Path(path)
    conn = _open_read_only(path)
    try:
        _check_open(conn, path)
    finally:
        conn.close()


def _open_read_only(path: Path) -> sqlite3.Connection:
    """``path`` opened read-only (``mode=ro``); also ``immutable=1`` when it has no write-ahead log
    (no writer has it open and no commit waits there), so SQLite creates no ``-wal``/``-shm`` file."""
    try:
        size = path.stat().st_size
        with open(path, "rb") as fh:
            header = fh.read(len(_SQLITE_HEADER))
    except OSError as exc:
        raise RunDirError(f"{path} cannot be read: {exc.strerror or exc}") from None
    if size == 0:
        raise DamagedStoreError(path, "empty: 0 bytes")
    if header != _SQLITE_HEADER:
        raise DamagedStoreError(path, f"not a SQLite database: {size} bytes starting {header[:8]!r}")
    wal = path.with_name(path.name + "-wal")
    uri = path.absolute().as_uri() + ("?mode=ro" if wal.exists() else "?mode=ro&immutable=1")
    try:
        return sqlite3.connect(uri, uri=True, isolation_level=None, check_same_thread=False)
    except sqlite3.Error as exc:
        raise DamagedStoreError(path, f"SQLite cannot open it: {exc}") from None


def _check_open(conn: sqlite3.Connection, path: Path) -> None:
    """``PRAGMA quick_check`` and the run's tables on an open connection."""
    try:
        problems = [row[0] for row in conn.execute("PRAGMA quick_check").fetchall()]
        tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    except sqlite3.OperationalError as exc:
        if "locked" in str(exc) or "busy" in str(exc):
            raise
        if "unable to open" in str(exc):  # not damage: the file or its write-ahead log cannot be opened here
            wal = path.with_name(path.name + "-wal")
            why = f" (its write-ahead log {wal.name} needs a writable folder to be read)" if wal.exists() else ""
            raise RunDirError(f"{path} cannot be read: SQLite: {exc}{why}") from None
        raise DamagedStoreError(path, f"SQLite: {exc}") from None
    except sqlite3.DatabaseError as exc:
        raise DamagedStoreError(path, f"SQLite: {exc}") from None
    if problems != ["ok"]:
        raise DamagedStoreError(path, "integrity check failed: " + "; ".join(problems[:3]))
    missing = [t for t in REQUIRED_TABLES if t not in tables]
    if missing:
        raise DamagedStoreError(path, f"no {'table' if len(missing) == 1 else 'tables'} {', '.join(missing)}: "
                                      "not a nasforge store")


class _Tx:
    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn

    def __enter__(self) -> None:
        self.conn.execute("BEGIN IMMEDIATE")

    def __exit__(self, exc_type, *_: Any) -> None:
        self.conn.execute("ROLLBACK" if exc_type else "COMMIT")


class StoredScores:
    """One scorer's proxy scores in a run's storage (a ``ScoreStore``)."""

    def __init__(self, storage: Storage, scorer: str) -> None:
        self.storage, self.scorer = storage, scorer

    def load(self) -> dict[str, tuple[float | None, str | None, float]]:
        return self.storage.proxy_scores(self.scorer)

    def save(self, key: str, value: float | None, error: str | None, seconds: float) -> None:
        self.storage.save_proxy_score(self.scorer, key, value, error, seconds)


def _trial(row: tuple, parse: Callable[[str], Arch] | None) -> Trial:
    (number, arch_json, status, metrics, error, cost, started, finished, asked, told, attempt, info, clock) = row
    data = json.loads(arch_json)
    arch = parse(data["key"]) if parse else Arch(data["space"], data["values"], data["key"].split(":", 1)[1])
    return Trial(number, arch, status, json.loads(metrics), error, cost, started, finished, asked, told,
                 attempt, json.loads(info), clock)


def iter_events(trials: list[Trial]) -> Iterator[tuple[int, str, Trial]]:
    """The run's asks and tells in the order they happened: ``(seq, "ask"|"tell", trial)``."""
    events = [(t.asked_seq, "ask", t) for t in trials]
    events += [(t.told_seq, "tell", t) for t in trials if t.told_seq is not None]
    return iter(sorted(events, key=lambda e: e[0]))
