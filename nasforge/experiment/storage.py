"""SQLite storage of a run: one row per trial, committed before the next ask.

The database is the source of truth. It runs in WAL mode with ``synchronous=NORMAL``: a
committed trial survives a killed process. Every ask and tell gets a number from one event
counter, so the exact interleaving of a run (asynchronous workers included) can be replayed.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from nasforge.core.records import RUNNING, Trial
from nasforge.space.arch import Arch

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

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        self._conn.execute("PRAGMA journal_mode=WAL")
        self._conn.execute("PRAGMA synchronous=NORMAL")
        self._conn.executescript(_SCHEMA)
        columns = {row[1] for row in self._conn.execute("PRAGMA table_info(trials)")}
        if "clock" not in columns:  # a run stored before trials recorded the run's clock
            self._conn.execute("ALTER TABLE trials ADD COLUMN clock REAL")
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
        rows = self._conn.execute("SELECT record, clock FROM epochs ORDER BY epoch").fetchall()
        return [{**json.loads(record), "clock": clock} for record, clock in rows]

    # ------------------------------------------------------------- proxy scores
    def proxy_scores(self, scorer: str | None = None) -> dict[str, tuple[float | None, str | None, float]]:
        """Stored proxy scores of ``scorer`` (all scorers when None): key -> (value, error, seconds)."""
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
            "told_seq, attempt, info, clock FROM trials ORDER BY asked_seq").fetchall()
        return [_trial(row, parse) for row in rows]

    def count(self) -> int:
        return int(self._conn.execute("SELECT COUNT(*) FROM trials").fetchone()[0])

    def _transaction(self) -> _Tx:
        return _Tx(self._conn)


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
