"""An archive's members as a tree of folders, answering the location questions discovery asks.

A location inside an archive is the archive's path or URL followed by the member's path
(`release.zip/uncased_L-12/bert_model.ckpt.index`). Discovery asks many questions of such paths
(exists, isdir, listdir, glob), so an archive is opened once and its directory kept; each question
is answered from it, and the archive is opened again only when its file changes.
"""

from __future__ import annotations

import fnmatch
import glob
import os
import posixpath
import re
import threading
import time
from abc import ABC, abstractmethod
from collections import OrderedDict
from dataclasses import dataclass

from ckpt_browser.format.errors import CheckpointError, NeedsUnpacking
from ckpt_browser.format.sources import locations
from ckpt_browser.format.sources.base import ByteSource
from ckpt_browser.format.sources.local import MappedFile

TAR_SUFFIX = re.compile(r"\.(tar|tgz|tar\.gz|tar\.bz2|tar\.xz)$", re.IGNORECASE)
_GLOB_ESCAPE = re.compile(r"\[([*?[])\]")  # what glob.escape wrote
_KEPT_ARCHIVES = 32  # opened archives kept: their directories, not their bytes


@dataclass(frozen=True)
class Member:
    size: int
    mtime: float | None  # Unix seconds, when the archive records it


class ArchiveContents(ABC):
    """The files and folders of an opened archive, and opening one of its files."""

    def __init__(self, shown: str) -> None:
        self.shown = shown  # the archive as messages name it
        self.files: dict[str, Member] = {}
        self.folders: dict[str, set[str]] = {"": set()}  # folder ("" the root) -> names in it
        self.escaping: list[str] = []  # names that would lie outside the root: never served

    def add(self, name: str, member: Member | None) -> str | None:
        """Record a file (a folder when `member` is None) under its normalised name; a name that
        would leave the archive's root (`../x`, `/etc/x`) is kept out, and None returned."""
        clean = posixpath.normpath(name) if name else "."
        if clean == ".":
            return "" if member is None else None
        if clean.startswith("/") or clean == ".." or clean.startswith("../"):
            self.escaping.append(name)
            return None
        parent, leaf = posixpath.split(clean)
        if member is None:
            self._add_folder(clean)
        elif clean not in self.folders:
            self.files[clean] = member
            self._add_folder(parent)
            self.folders[parent].add(leaf)
        return clean

    def _add_folder(self, folder: str) -> None:
        child = None
        while True:
            known = folder in self.folders
            names = self.folders.setdefault(folder, set())
            if child is not None:
                names.add(child)
            if known:
                return
            folder, child = posixpath.split(folder)

    @abstractmethod
    def open_member(self, member: str, location: str, what: str) -> ByteSource:
        """The bytes of file `member`, named `location` in messages."""


class CachedFile(MappedFile):
    """A file in the user cache directory standing for an archive member (decompressed or
    unpacked): memory-mapped like any local file, named by the member's location in messages."""

    def __init__(self, path: str, what: str, location: str, identity: tuple) -> None:
        super().__init__(path, what)
        self.path = path
        self.name = locations.shown(location)
        self._identity = identity

    @property
    def identity(self) -> tuple:
        return self._identity


class ArchiveTree(locations.Tree):
    """The location questions, about paths inside one archive (the archive itself is its root)."""

    def __init__(self, archive: str, contents: ArchiveContents) -> None:
        self.archive = archive  # as the locations spell it
        self.contents = contents

    def member(self, path: str) -> str:
        """The member a location in this archive names: "" for the root; a path that climbs out
        of the archive (`x.zip/../y`) is refused."""
        for spelled in dict.fromkeys((self.archive, glob.escape(self.archive))):
            if path == spelled or path.startswith(spelled + "/"):
                rest = path[len(spelled) :].strip("/")
                break
        else:
            raise CheckpointError(f"not inside the archive {self.contents.shown}", path)
        clean = posixpath.normpath(rest) if rest else ""
        if clean == ".":
            return ""
        if clean == ".." or clean.startswith("../"):
            raise CheckpointError(
                "a path inside an archive cannot leave it ('..')", locations.shown(path)
            )
        return clean

    def location_of(self, member: str) -> str:
        return f"{self.archive}/{member}" if member else self.archive

    def exists(self, path: str) -> bool:
        member = self.member(path)
        return member in self.contents.files or member in self.contents.folders

    def isfile(self, path: str) -> bool:
        return self.member(path) in self.contents.files

    def isdir(self, path: str) -> bool:
        return self.member(path) in self.contents.folders

    def listdir(self, path: str) -> list[str]:
        return sorted(self.contents.folders.get(self.member(path), ()))

    def mtime(self, path: str) -> float | None:
        found = self.contents.files.get(self.member(path))
        return None if found is None else found.mtime

    def glob(self, pattern: str) -> list[str]:
        wanted = self.member(pattern)
        depth = wanted.count("/")
        names = [*self.contents.files, *(folder for folder in self.contents.folders if folder)]
        # Equal depth keeps `*` from matching across a `/`, as glob's segment-wise matching does.
        return sorted(
            self.location_of(name)
            for name in names
            if name.count("/") == depth and fnmatch.fnmatchcase(name, wanted)
        )

    def open(self, path: str, what: str) -> ByteSource:
        member = self.member(path)
        if member in self.contents.files:
            return self.contents.open_member(member, self.location_of(member), what)
        if member in self.contents.folders:
            raise CheckpointError(f"{what} is a folder in the archive", locations.shown(path))
        raise CheckpointError(f"{what} is missing", locations.shown(path))


# -- finding and opening the archive a path lies in ------------------------------------------------

_RECHECK_SECONDS = 5.0  # a URL's archive is asked whether it changed at most this often


@dataclass
class _Kept:
    stamp: tuple  # local: size, time and inode; a URL: its source's identity (size, ETag)
    checked: float  # when the stamp was last compared (monotonic seconds)
    found: ArchiveContents | CheckpointError


_lock = threading.Lock()
_opened: OrderedDict[str, _Kept] = OrderedDict()
_remote_archives: set[str] = set()  # URLs found to be files: asked once


def archive_tree_for(path: str) -> ArchiveTree | None:
    """The tree of the archive `path` lies in (or is), or None when no component of it is an
    archive file (a local folder may be named `x.zip`). Opening the archive costs its directory
    once; later questions about it cost a `stat` (a URL's, a request every few seconds)."""
    archive = locate_archive(path)
    if archive is None:
        return None
    return ArchiveTree(archive, contents_of(archive))


def locate_archive(path: str) -> str | None:
    """The archive location a path starts with: its first archive-looking component that is a
    file (a glob pattern's component may be written escaped)."""
    for match in locations.ARCHIVE_COMPONENT.finditer(path):
        spelled = path[: match.end(1)]
        for archive in dict.fromkeys((spelled, _GLOB_ESCAPE.sub(r"\1", spelled))):
            if _is_file(archive):
                return archive
    return None


def _is_file(archive: str) -> bool:
    if not locations.is_url(archive):
        return os.path.isfile(archive)
    if archive in _remote_archives:
        return True
    # Only a file is remembered: a failing server may answer "no" now and "yes" on a retry.
    found = locations.plain_tree_for(archive).isfile(archive)
    if found:
        with _lock:
            _remote_archives.add(archive)
    return found


def contents_of(archive: str) -> ArchiveContents:
    """The opened archive at `archive`, kept while its file is unchanged: a local file is checked
    by a `stat` each time, a URL by its size and ETag every few seconds."""
    remote = locations.is_url(archive)
    key = archive if remote else os.path.abspath(archive)
    now = time.monotonic()
    with _lock:
        kept = _opened.get(key)
    stamp = () if remote else _local_stamp(archive)
    if kept is not None and (
        now - kept.checked < _RECHECK_SECONDS if remote else kept.stamp == stamp
    ):
        return _found(kept)
    source = locations.plain_tree_for(archive).open(archive, "archive")
    if remote:
        stamp = source.identity
        if kept is not None and kept.stamp == stamp:
            source.close()
            kept.checked = now
            return _found(kept)
    try:
        found: ArchiveContents | CheckpointError = _open_contents(archive, source)
    except NeedsUnpacking:
        raise  # asked again each time: the archive may have been unpacked since
    except CheckpointError as exc:
        if remote:
            raise  # a server's failure may pass; a local file's stays until the file changes
        found = exc
    kept = _Kept(stamp, now, found)
    with _lock:
        _opened[key] = kept
        _opened.move_to_end(key)
        while len(_opened) > _KEPT_ARCHIVES:
            _opened.popitem(last=False)
    return _found(kept)


def _found(kept: _Kept) -> ArchiveContents:
    if isinstance(kept.found, CheckpointError):
        raise kept.found.with_traceback(None)
    return kept.found


def forget(archive: str) -> None:
    """Drop what is kept about an archive (it was unpacked, or replaced)."""
    with _lock:
        _opened.pop(archive if locations.is_url(archive) else os.path.abspath(archive), None)


def _local_stamp(path: str) -> tuple:
    try:
        status = os.stat(path)
    except OSError:
        return ()
    return (status.st_size, status.st_mtime_ns, status.st_ino)


def _open_contents(archive: str, source: ByteSource) -> ArchiveContents:
    """The archive's contents read from its bytes (a zip keeps `source`; a tar does not)."""
    try:
        if TAR_SUFFIX.search(archive):
            from ckpt_browser.format.sources.archives.unpack import unpacked_contents

            try:
                return unpacked_contents(archive, source.identity)
            finally:
                source.close()
        from ckpt_browser.format.sources.archives.zip_members import ZipContents

        return ZipContents(archive, source)
    except BaseException:
        source.close()
        raise


def checkpoint_folders(archive_path: str) -> list[str]:
    """The folders inside an archive that hold checkpoints (an `.index`, a `checkpoint` file or a
    V1 `.ckpt` file), shallowest first, as locations; a SavedModel counts as its own folder, not
    its `variables/`. [] when `archive_path` is not in an archive."""
    tree = archive_tree_for(archive_path)
    if tree is None:
        return []
    contents = tree.contents
    root = tree.member(archive_path)
    found: set[str] = set()
    for name in contents.files:
        folder, leaf = posixpath.split(name)
        if not (leaf == "checkpoint" or leaf.endswith((".index", ".ckpt"))):
            continue
        parent, last = posixpath.split(folder)
        if last == "variables" and posixpath.join(parent, "saved_model.pb") in contents.files:
            folder = parent
        if not root or folder == root or folder.startswith(root + "/"):
            found.add(folder)
    ordered = sorted(found, key=lambda folder: (folder.count("/") if folder else -1, folder))
    return [tree.location_of(folder) for folder in ordered]
