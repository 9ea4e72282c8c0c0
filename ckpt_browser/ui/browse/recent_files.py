"""The Open Recent list, kept in QSettings (most recent first, one entry per checkpoint).

A folder, its checkpoint's prefix and that prefix's `.index` are one checkpoint: opening it a
second way replaces the first entry rather than adding another.
"""

from __future__ import annotations

import os

from PySide6.QtCore import QSettings

from ckpt_browser.format import CheckpointError, resolve_prefix
from ckpt_browser.format.sources.locations import abspath, is_plain_local, shown

MAX_RECENT = 10
_KEY = "recent_files"


class RecentFiles:
    """Read and update the list of recently opened checkpoints in `settings`."""

    def __init__(self, settings: QSettings | None) -> None:
        self._settings = settings
        self._memory: list[str] = []  # used when there is nothing to persist to

    def paths(self) -> list[str]:
        if self._settings is None:
            return list(self._memory)
        value = self._settings.value(_KEY, [])
        if isinstance(value, str):  # some backends return a one-element list as a plain string
            value = [value]
        return [str(v) for v in value or []]

    def add(self, path: str) -> None:
        """Put `path` first. A URL that carries credentials (a signed link) is not kept: the
        program stores no secrets."""
        if shown(path) != path:
            return
        paths, seen = [], set()
        for entry in [abspath(path), *self.paths()]:  # older duplicates go too
            identity = checkpoint_identity(entry)
            if identity not in seen:
                seen.add(identity)
                paths.append(entry)
        self._store(paths[:MAX_RECENT])

    def remove(self, path: str) -> None:
        self._store([p for p in self.paths() if p != path])

    def clear(self) -> None:
        self._store([])

    def _store(self, paths: list[str]) -> None:
        if self._settings is None:
            self._memory = paths
        else:
            self._settings.setValue(_KEY, paths)


def checkpoint_identity(path: str) -> str:
    """The checkpoint prefix `path` opens (its real path), or the path itself for anything that
    does not resolve (a graph file, a path gone from disk). A URL or archive member is taken as
    it is: resolving it would ask a server."""
    if not is_plain_local(path):
        return path
    try:
        return os.path.realpath(resolve_prefix(path))
    except (CheckpointError, OSError):
        return os.path.realpath(path)
