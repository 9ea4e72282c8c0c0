"""Where a path points: the local disk, a member of an archive, or an object behind a URL.

`paths` finds checkpoints with the questions of `os.path` (exists, isdir, listdir, glob, mtime);
here each question goes to the tree the path lies in, so the same discovery works on a local
directory, a bucket prefix (`s3://bucket/run/`), a web server, or a folder inside a `.zip`.

A location is one string. Local paths are as the user wrote them; URLs are fsspec URLs
(`gs://b/run/model.ckpt-5`); a member of an archive is the archive's path or URL followed by the
member's path (`release.zip/uncased_L-12/bert_model.ckpt`), so that `dirname`, `basename` and
`join` work as on any path (fsspec's chained form `zip://MEMBER::ARCHIVE` is turned into this one
by `normalize`).
"""

from __future__ import annotations

import glob as local_glob
import os
import posixpath
import re
import sys
from abc import ABC, abstractmethod

from ckpt_browser.format.errors import CheckpointError
from ckpt_browser.format.files import read_capped as read_local_capped
from ckpt_browser.format.sources.base import Buffer, ByteSource

_URL = re.compile(r"^[A-Za-z][A-Za-z0-9+.\-]*://")
# A path component that may be an archive: only such paths ask the archive module anything.
ARCHIVE_COMPONENT = re.compile(r"\.(zip|tar|tgz|tar\.gz|tar\.bz2|tar\.xz)(/|$)", re.IGNORECASE)


class Tree(ABC):
    """The questions discovery asks of a place that holds files, and opening one of them."""

    @abstractmethod
    def exists(self, path: str) -> bool: ...

    @abstractmethod
    def isfile(self, path: str) -> bool: ...

    @abstractmethod
    def isdir(self, path: str) -> bool: ...

    @abstractmethod
    def listdir(self, path: str) -> list[str]:
        """The names (not paths) in a directory; [] when it cannot be listed."""

    @abstractmethod
    def mtime(self, path: str) -> float | None:
        """Modification time in Unix seconds, when the store keeps one."""

    @abstractmethod
    def glob(self, pattern: str) -> list[str]: ...

    @abstractmethod
    def open(self, path: str, what: str) -> ByteSource:
        """The file's bytes; CheckpointError naming `what` ("index file") when it cannot be read."""

    def refresh(self) -> None:
        """Forget what the tree remembers of its files (remote listings), to see new ones."""
        return None


class LocalTree(Tree):
    def exists(self, path: str) -> bool:
        return os.path.exists(path)

    def isfile(self, path: str) -> bool:
        return os.path.isfile(path)

    def isdir(self, path: str) -> bool:
        return os.path.isdir(path)

    def listdir(self, path: str) -> list[str]:
        try:
            return os.listdir(path)
        except OSError:
            return []

    def mtime(self, path: str) -> float | None:
        try:
            return os.path.getmtime(path)
        except OSError:
            return None

    def glob(self, pattern: str) -> list[str]:
        return local_glob.glob(pattern)

    def open(self, path: str, what: str) -> ByteSource:
        from ckpt_browser.format.sources.local import MappedFile

        return MappedFile(path, what)


LOCAL = LocalTree()


def is_url(path: str) -> bool:
    """A URL of any scheme but `file://` (which is a local path), or a chained fsspec URL."""
    return (bool(_URL.match(path)) and not path.startswith("file://")) or "::" in path


def is_plain_local(path: str) -> bool:
    """A local path outside any archive: opening it needs no network and no unpacking."""
    return not is_url(path) and not ARCHIVE_COMPONENT.search(path)


def shown(path: str) -> str:
    """The location as messages, titles and lists show it: a URL without its credentials."""
    from ckpt_browser.format.sources.urls import redact

    return redact(path) if is_url(path) else path


def transfer_stats():  # -> remote.TransferStats | None
    """What has been fetched from servers so far, or None when no URL was ever opened."""
    remote = sys.modules.get("ckpt_browser.format.sources.remote")
    return None if remote is None else remote.transfer_stats()


def normalize(path: str | os.PathLike) -> str:
    """The location string a user's path or URL means (see the module docstring)."""
    path = os.fspath(path)
    if "::" in path:
        from ckpt_browser.format.sources.archives import from_chained_url

        path = from_chained_url(path)
    if path.startswith("file://"):
        path = path[len("file://") :]
    if is_url(path):
        scheme, rest = path.split("://", 1)
        rest = posixpath.normpath(rest) if rest.strip("/") else rest
        return f"{scheme.lower()}://{rest.lstrip('/') if scheme.lower() != 'file' else rest}"
    return os.path.expanduser(path)


def tree_for(path: str) -> Tree:
    """The tree a location lies in."""
    archive = _archive_tree(path)
    return archive if archive is not None else plain_tree_for(path)


def _archive_tree(path: str) -> Tree | None:
    if not ARCHIVE_COMPONENT.search(path):
        return None
    from ckpt_browser.format.sources.archives import archive_tree_for

    return archive_tree_for(path)


def plain_tree_for(path: str) -> Tree:
    """The tree of a location that is not inside an archive (the archive file itself)."""
    if is_url(path):
        from ckpt_browser.format.sources.remote import remote_tree_for

        return remote_tree_for(path)
    return LOCAL


# -- os.path's questions, for any location ---------------------------------------------------------


def exists(path: str) -> bool:
    return tree_for(path).exists(path)


def isfile(path: str) -> bool:
    return tree_for(path).isfile(path)


def isdir(path: str) -> bool:
    return tree_for(path).isdir(path)


def listdir(path: str) -> list[str]:
    return tree_for(path).listdir(path)


def mtime(path: str) -> float | None:
    return tree_for(path).mtime(path)


def glob(pattern: str) -> list[str]:
    return tree_for(pattern).glob(pattern)


def open_source(path: str, what: str) -> ByteSource:
    return tree_for(path).open(path, what)


def identity(path: str) -> tuple:
    """What changes when a file's bytes change: path, size and modification time, or a remote
    object's size and version (ETag, generation); (path, -1, -1) when it cannot be read."""
    if tree_for(path) is LOCAL:
        try:
            status = os.stat(path)
        except OSError:
            return (path, -1, -1)
        return (path, status.st_size, status.st_mtime_ns)
    try:
        source = open_source(path, "file")
    except CheckpointError:
        return (path, -1, -1)
    try:
        return source.identity
    finally:
        source.close()


def abspath(path: str) -> str:
    """Local paths made absolute; URLs and archive members are absolute already."""
    return path if is_url(path) or archive_member(path) else os.path.abspath(path)


def isabs(path: str) -> bool:
    return is_url(path) or os.path.isabs(path)


def archive_member(path: str) -> bool:
    return _archive_tree(path) is not None


def map_capped(path: str, what: str, limit: int, why: str) -> Buffer:
    """A whole file of at most `limit` bytes, wherever it lies, as `ByteSource.whole` gives it (a
    local file memory-mapped); a larger one is refused by its size before its bytes are read."""
    source = open_source(path, what)
    if source.size > limit:
        source.close()
        raise CheckpointError(
            f"{what} is {source.size:,} bytes, more than the {limit:,} allowed: {why}", source.name
        )
    return source.whole()


def read_capped(path: str, what: str, limit: int, why: str) -> bytes:
    """A whole small file (a `checkpoint` state file, a graph) of at most `limit` bytes, wherever
    it lies; a larger one is refused by its size before its bytes are fetched."""
    tree = tree_for(path)
    if tree is LOCAL:
        return read_local_capped(path, what, limit, why)
    source = tree.open(path, what)
    try:
        if source.size > limit:
            raise CheckpointError(
                f"{what} is {source.size:,} bytes, more than the {limit:,} allowed: {why}",
                source.name,
            )
        return bytes(source.whole())
    finally:
        source.close()
