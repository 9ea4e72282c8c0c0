"""Results kept between sessions: each (checkpoint, tensor) statistic and (save, save, tensor)
change is computed once, so reopening a run of a hundred checkpoints reads no tensor.

They live in one SQLite file in the user cache directory (`format.sources.cache_dir`; never in a
run's directory, which is the user's and may be read-only or a bucket). SQLite rather than a file
per checkpoint: a timeline looks up hundreds of entries at once and the overview thousands, worker
threads and other processes (the window, a CI job) write at the same time, and each write is an
atomic transaction, where a JSON file per checkpoint would be rewritten whole for each new entry
and lose concurrent updates.

Keys are hashes of what the bytes are (`entry_key`): the checkpoint's files with their sizes and
modification times (remote: sizes and versions) and the tensor's stored checksum where the index
has one, so a rewritten file is never answered from before. A file that is not a database, or is
damaged, is deleted and started afresh; a directory that cannot be written turns the cache off,
and the results are computed every time.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import sqlite3
import threading
from collections.abc import Iterable, Mapping
from typing import Any

from ckpt_browser.format.sources.cache_dir import cache_directory

SCHEMA = 1  # part of every key: results of an older way of computing are not looked up
FILE_NAME = "timeline.sqlite"
MAX_ENTRIES = 500_000  # ~10 KB each at most: the oldest written go beyond this
_LOOKUP_BATCH = 500  # under SQLite's limit on parameters per statement


def entry_key(*parts: object) -> str:
    """A short stable key for JSON-able parts (tuples and lists alike)."""
    text = json.dumps([SCHEMA, *parts], separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


class TimelineCache:
    """Entries (a key -> a JSON-able dict) in `directory` (default: the user cache directory).

    `hits` and `misses` count the lookups answered and not, for tests and for a status line.
    Safe to share between threads.
    """

    def __init__(self, directory: str | None = None) -> None:
        self.path = os.path.join(directory or cache_directory(), FILE_NAME)
        self.enabled = True
        self.hits = 0
        self.misses = 0
        self._connection: sqlite3.Connection | None = None
        self._lock = threading.Lock()

    def get_many(self, keys: Iterable[str]) -> dict[str, dict]:
        """The stored entries among `keys` (absent ones are left out)."""
        keys = list(dict.fromkeys(keys))
        found: dict[str, dict] = {}
        with self._lock:
            rows = self._run(lambda db: _select(db, keys), [])
        for key, value in rows:
            with contextlib.suppress(ValueError):
                found[key] = json.loads(value)
        self.hits += len(found)
        self.misses += len(keys) - len(found)
        return found

    def get(self, key: str) -> dict | None:
        return self.get_many([key]).get(key)

    def put_many(self, entries: Mapping[str, Any]) -> None:
        if not entries:
            return
        rows = [(key, json.dumps(value, separators=(",", ":"))) for key, value in entries.items()]
        with self._lock:
            self._run(lambda db: _insert(db, rows), None)

    def put(self, key: str, value: Any) -> None:
        self.put_many({key: value})

    def close(self) -> None:
        with self._lock:
            if self._connection is not None:
                self._connection.close()
                self._connection = None

    def clear(self) -> None:
        """Forget everything (the file is deleted)."""
        with self._lock:
            self._discard()

    # -- internals --------------------------------------------------------------------------------

    def _run(self, work, failed):
        """`work(connection)`, starting afresh once if the file is damaged."""
        if not self.enabled:
            return failed
        for attempt in range(2):
            try:
                return work(self._connect())
            except sqlite3.DatabaseError:
                # Not a database, damaged, or locked for too long: start afresh once.
                if attempt == 0:
                    self._discard()
            except OSError:
                break
        self.enabled = False
        return failed

    def _connect(self) -> sqlite3.Connection:
        if self._connection is None:
            os.makedirs(os.path.dirname(self.path), exist_ok=True)
            connection = sqlite3.connect(self.path, timeout=10, check_same_thread=False)
            try:
                connection.execute("PRAGMA journal_mode=WAL")
                connection.execute("PRAGMA synchronous=NORMAL")
                connection.execute(
                    "CREATE TABLE IF NOT EXISTS entries (key TEXT PRIMARY KEY, value TEXT NOT NULL)"
                )
                connection.commit()
            except sqlite3.DatabaseError:
                connection.close()
                raise
            self._connection = connection
        return self._connection

    def _discard(self) -> None:
        if self._connection is not None:
            with contextlib.suppress(sqlite3.Error):
                self._connection.close()
            self._connection = None
        for suffix in ("", "-wal", "-shm", "-journal"):
            with contextlib.suppress(OSError):
                os.remove(self.path + suffix)


def _select(db: sqlite3.Connection, keys: list[str]) -> list[tuple[str, str]]:
    rows: list[tuple[str, str]] = []
    for start in range(0, len(keys), _LOOKUP_BATCH):
        batch = keys[start : start + _LOOKUP_BATCH]
        marks = ",".join("?" * len(batch))
        query = f"SELECT key, value FROM entries WHERE key IN ({marks})"
        rows += db.execute(query, batch).fetchall()
    return rows


def _insert(db: sqlite3.Connection, rows: list[tuple[str, str]]) -> None:
    with db:
        db.executemany("INSERT OR REPLACE INTO entries (key, value) VALUES (?, ?)", rows)
        count = db.execute("SELECT max(rowid) - min(rowid) FROM entries").fetchone()[0] or 0
        if count > MAX_ENTRIES:
            db.execute(
                "DELETE FROM entries WHERE rowid < (SELECT max(rowid) FROM entries) - ?",
                (MAX_ENTRIES,),
            )
