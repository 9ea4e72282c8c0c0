"""Fetched ranges of remote files kept in the user cache directory, so reopening is instant.

Each version of a remote file (URL, size and validator: ETag, generation, version id) has a sparse
data file, holding the fetched bytes at their own offsets, and a record listing the ranges that
hold them. The record is written only after the data is on disk (fsync, then an atomic rename),
so a crash can lose ranges but never make the cache serve a byte that was not fetched. A file
without a validator is not kept: nothing would tell that it changed. A changed file has a new
validator, so a new entry; the old one is deleted when the new one is made. The directory is kept
under its size budget by deleting the entries least recently used.
"""

from __future__ import annotations

import atexit
import bisect
import contextlib
import hashlib
import json
import os
import secrets
import threading
import time

from ckpt_browser.format.atomic import atomic_output
from ckpt_browser.format.sources.cache_dir import cache_directory
from ckpt_browser.format.sources.fetchers import RemoteFile
from ckpt_browser.format.sources.remote_settings import settings
from ckpt_browser.format.sources.urls import redact

FLUSH_BYTES = 64 * 1024 * 1024  # write the record after this much new data ...
FLUSH_SECONDS = 2.0  # ... or this long after the last record, whichever comes first
_RECORD = ".json"
_DATA = ".data"


def remote_cache_dir() -> str:
    return os.path.join(cache_directory(), "remote")


class RangeSet:
    """Disjoint sorted ranges `[start, end)`, merged as they are added."""

    def __init__(self, ranges: list[tuple[int, int]] | None = None) -> None:
        self.starts: list[int] = []
        self.ends: list[int] = []
        for start, end in ranges or ():
            self.add(start, end)

    def add(self, start: int, end: int) -> None:
        if start >= end:
            return
        first = bisect.bisect_left(self.ends, start)  # the first range ending at or after start
        last = bisect.bisect_right(
            self.starts, end
        )  # past the last range starting at or before end
        if first < last:
            start = min(start, self.starts[first])
            end = max(end, self.ends[last - 1])
        self.starts[first:last] = [start]
        self.ends[first:last] = [end]

    def overlapping(self, start: int, end: int) -> list[tuple[int, int]]:
        """The parts of `start:end` the set holds."""
        first = bisect.bisect_right(self.ends, start)
        found = []
        for index in range(first, len(self.starts)):
            if self.starts[index] >= end:
                break
            found.append((max(start, self.starts[index]), min(end, self.ends[index])))
        return found

    def pairs(self) -> list[list[int]]:
        return [[s, e] for s, e in zip(self.starts, self.ends)]

    def total(self) -> int:
        return sum(e - s for s, e in zip(self.starts, self.ends))


class DiskEntry:
    """The cached ranges of one version of one remote file."""

    def __init__(self, cache: DiskCache, name: str, file: RemoteFile) -> None:
        self.cache = cache
        self.name = name  # "<url hash>-<version hash>"
        self.file = file
        self.users = 0
        self._lock = threading.Lock()
        self._record_path = os.path.join(cache.directory, name + _RECORD)
        self._saved = RangeSet()  # listed in the record on disk
        self._ranges = RangeSet()  # written to the data file (a superset of the saved ones)
        self._unsaved_bytes = 0
        self._last_flush = time.monotonic()
        self.data_name = self._load_record()
        if self.data_name is None:
            self.data_name = f"{name}.{secrets.token_hex(6)}{_DATA}"
        data_path = os.path.join(cache.directory, self.data_name)
        self._fd = os.open(data_path, os.O_RDWR | os.O_CREAT | getattr(os, "O_BINARY", 0), 0o600)
        if os.fstat(self._fd).st_size != file.size:
            os.ftruncate(self._fd, file.size)  # sparse: the blocks not written take no space
            self._saved, self._ranges = RangeSet(), RangeSet()

    def _load_record(self) -> str | None:
        """The data file the record names, when the record is for exactly this version."""
        try:
            with open(self._record_path, encoding="utf-8") as stream:
                record = json.load(stream)
            data_name = record["data"]
            valid = (
                record.get("size") == self.file.size
                and record.get("validator") == self.file.validator
                and isinstance(data_name, str)
                and data_name.startswith(self.name + ".")
                and os.path.getsize(os.path.join(self.cache.directory, data_name)) == self.file.size
            )
            ranges = [(int(s), int(e)) for s, e in record["ranges"]] if valid else []
        except (OSError, ValueError, KeyError, TypeError):
            return None
        if not valid or any(not 0 <= s < e <= self.file.size for s, e in ranges):
            return None
        self._saved, self._ranges = RangeSet(ranges), RangeSet(ranges)
        return data_name

    def present(self, start: int, end: int) -> list[tuple[int, int]]:
        with self._lock:
            return self._ranges.overlapping(start, end)

    def read(self, start: int, end: int) -> bytes | None:
        """The bytes `start:end` (all present), or None if the data file cannot give them."""
        try:
            data = os.pread(self._fd, end - start, start)
        except OSError:
            return None
        return data if len(data) == end - start else None

    def write(self, start: int, data) -> None:
        """Keep fetched bytes; they are listed in the record at the next flush."""
        if self.cache.full:
            return
        try:
            os.pwrite(self._fd, data, start)
        except OSError:  # a full disk: the cache simply stops growing
            self.cache.full = True
            return
        with self._lock:
            self._ranges.add(start, start + len(data))
            self._unsaved_bytes += len(data)
            due = (
                self._unsaved_bytes >= FLUSH_BYTES
                or time.monotonic() - self._last_flush >= FLUSH_SECONDS
            )
        if due:
            self.flush()

    def flush(self) -> None:
        """Data to disk first, then the record that lists it (atomically replaced)."""
        with self._lock:
            if not self._unsaved_bytes:
                return
            ranges = RangeSet(self._ranges.pairs())
            self._unsaved_bytes = 0
            self._last_flush = time.monotonic()
        if not os.path.exists(os.path.join(self.cache.directory, self.data_name)):
            return  # evicted by another process: nothing to list
        try:
            os.fsync(self._fd)
            record = {
                "url": redact(self.file.url),
                "size": self.file.size,
                "validator": self.file.validator,
                "data": self.data_name,
                "ranges": ranges.pairs(),
            }
            with atomic_output(self._record_path, "w") as stream:
                json.dump(record, stream)
        except OSError:
            return
        with self._lock:
            self._saved = ranges
        self.cache.evict()

    def close(self) -> None:
        self.flush()
        with contextlib.suppress(OSError):
            os.close(self._fd)


class DiskCache:
    """The entries of one cache directory: made on first use, shared by the sources of one file."""

    def __init__(self, directory: str) -> None:
        self.directory = directory
        self.full = False
        self._lock = threading.Lock()
        self._entries: dict[str, DiskEntry] = {}

    def acquire(self, file: RemoteFile) -> DiskEntry | None:
        """The entry for this version of the file; None without a validator or a usable
        directory."""
        if file.validator is None:
            return None
        url_hash = hashlib.sha256(redact(file.url).encode()).hexdigest()[:24]
        version = f"{file.size}\n{file.validator}"
        name = f"{url_hash}-{hashlib.sha256(version.encode()).hexdigest()[:16]}"
        with self._lock:
            entry = self._entries.get(name)
            if entry is None:
                try:
                    os.makedirs(self.directory, exist_ok=True)
                    self._forget_other_versions(url_hash, name)
                    entry = DiskEntry(self, name, file)
                except OSError:
                    return None
                self._entries[name] = entry
            entry.users += 1
            return entry

    def release(self, entry: DiskEntry) -> None:
        with self._lock:
            entry.users -= 1
            if entry.users > 0:
                return
            self._entries.pop(entry.name, None)
        entry.close()

    def flush_all(self) -> None:
        with self._lock:
            entries = list(self._entries.values())
        for entry in entries:
            entry.flush()

    def _forget_other_versions(self, url_hash: str, keep: str) -> None:
        """A changed file makes its older versions useless: delete them (unless in use)."""
        for file_name in os.listdir(self.directory):
            entry_name = file_name.split(".", 1)[0]
            other = file_name.startswith(url_hash + "-") and entry_name != keep
            if other and entry_name not in self._entries:
                with contextlib.suppress(OSError):
                    os.remove(os.path.join(self.directory, file_name))

    def evict(self) -> None:
        """Delete the least recently used entries until the directory fits its budget."""
        budget = settings().disk_cache_bytes
        groups: dict[str, list[tuple[str, int, float]]] = {}
        try:
            listing = list(os.scandir(self.directory))
        except OSError:
            return
        for item in listing:
            try:
                status = item.stat()
            except OSError:
                continue
            used = getattr(status, "st_blocks", 0) * 512 or status.st_size
            groups.setdefault(item.name.split(".", 1)[0], []).append(
                (item.path, used, status.st_mtime)
            )
        total = sum(used for files in groups.values() for _, used, _ in files)
        with self._lock:
            in_use = set(self._entries)
        oldest_first = sorted(groups, key=lambda name: max(m for _, _, m in groups[name]))
        for name in oldest_first:
            if total <= budget:
                break
            if name in in_use:
                continue
            for path, used, _ in sorted(groups[name], key=lambda f: not f[0].endswith(_RECORD)):
                with contextlib.suppress(OSError):
                    os.remove(path)  # the record first: a data file without one is never read
                    total -= used
        self.full = total > budget


_caches: dict[str, DiskCache] = {}
_caches_lock = threading.Lock()


def disk_cache() -> DiskCache:
    """The cache in the current cache directory."""
    directory = remote_cache_dir()
    with _caches_lock:
        cache = _caches.get(directory)
        if cache is None:
            cache = _caches[directory] = DiskCache(directory)
        return cache


@atexit.register
def _flush_at_exit() -> None:
    with _caches_lock:
        caches = list(_caches.values())
    for cache in caches:
        with contextlib.suppress(Exception):
            cache.flush_all()
