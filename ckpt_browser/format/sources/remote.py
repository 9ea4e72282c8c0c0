"""Files behind URLs: the tree discovery asks (exists, listdir, glob, ...) and their byte sources.

`remote_tree_for(url)` gives the tree of a bucket or a server (one per protocol and host, reused;
object stores through one fsspec filesystem object each). Round trips are few: a directory's
listing is kept for `LISTING_SECONDS` and answers exists/isfile/glob for every name in it, so
finding a checkpoint in a bucket prefix costs one listing. `refresh()` forgets listings at once
(a history refresh must see new files).

HTTP servers cannot be listed: there exists/isfile ask the file itself (HEAD, no optional package
needed), a folder is a URL that answers with an HTML page, and listdir/glob give what fsspec finds
among the links of that page (often nothing; nothing at all without fsspec).

This module is also the one entry point the rest of the program uses for remote reading:
settings, transfer statistics and `redact` are re-exported here.
"""

from __future__ import annotations

import fnmatch
import posixpath
import threading
import time

from ckpt_browser.format.errors import CheckpointError
from ckpt_browser.format.sources.base import ByteSource
from ckpt_browser.format.sources.fetchers import (
    FetchError,
    call_filesystem,
    filesystem_for,
    modified_of,
    run_cancellable,
    unix_time,
)
from ckpt_browser.format.sources.http_fetcher import HttpFetcher
from ckpt_browser.format.sources.locations import Tree
from ckpt_browser.format.sources.remote_settings import RemoteSettings, configure, settings
from ckpt_browser.format.sources.remote_source import (
    COALESCE_MARGIN,
    RemoteSource,
    clear_memory_cache,
)
from ckpt_browser.format.sources.transfers import (
    METER,
    TransferStats,
    reset_transfer_stats,
    transfer_stats,
)
from ckpt_browser.format.sources.urls import host_key, redact

__all__ = [
    "COALESCE_MARGIN",
    "RemoteSettings",
    "RemoteSource",
    "RemoteTree",
    "TransferStats",
    "clear_memory_cache",
    "configure",
    "redact",
    "remote_tree_for",
    "reset_transfer_stats",
    "settings",
    "transfer_stats",
]

LISTING_SECONDS = 3.0  # how long a listing or a file's metadata answers questions
_HTTP = ("http", "https")


class RemoteTree(Tree):
    """The files of one bucket or server, as discovery asks about them."""

    def __init__(self, scheme: str) -> None:
        self.scheme = scheme
        self._lock = threading.Lock()
        self._listings: dict[str, tuple[float, dict[str, dict] | None]] = {}
        self._infos: dict[str, tuple[float, dict | None]] = {}

    @property
    def _http(self) -> bool:
        return self.scheme in _HTTP

    def refresh(self) -> None:
        """Forget every listing and metadata answer: the next question asks the store again."""
        with self._lock:
            self._listings.clear()
            self._infos.clear()

    # -- questions ----------------------------------------------------------------------------

    def exists(self, path: str) -> bool:
        return self._info(path) is not None

    def isfile(self, path: str) -> bool:
        info = self._info(path)
        return info is not None and not _is_directory(info)

    def isdir(self, path: str) -> bool:
        info = self._info(path)
        return info is not None and _is_directory(info)

    def listdir(self, path: str) -> list[str]:
        return sorted(self._listing(path) or {})

    def mtime(self, path: str) -> float | None:
        info = self._info(path)
        return unix_time(modified_of(info)) if info is not None else None

    def glob(self, pattern: str) -> list[str]:
        directory, name = _split(pattern)
        if not _has_magic(directory):
            listing = self._listing(directory)
            if listing is not None:
                return sorted(f"{directory}/{n}" for n in fnmatch.filter(listing, name))
        try:
            found = self._call(pattern, "glob", self._path(pattern))
        except FetchError:
            return []
        return sorted(self._url(p) for p in found)

    def open(self, path: str, what: str) -> ByteSource:
        return RemoteSource(path, what)

    # -- round trips, kept briefly ------------------------------------------------------------

    def _info(self, url: str) -> dict | None:
        url = url.rstrip("/")
        directory, name = _split(url)
        if not self._http and "/" in self._path(url).strip("/"):
            listing = self._listing(directory)
            if listing is not None:
                return listing.get(name)
        with self._lock:
            kept = self._infos.get(url)
        if kept is not None and time.monotonic() - kept[0] < LISTING_SECONDS:
            return kept[1]
        try:
            info = self._http_info(url) if self._http else self._call(url, "info", self._path(url))
        except FetchError as error:
            if not _means_absent(error):
                # A failing server is not a missing file: say why, not "no such file".
                raise CheckpointError(error.reason, redact(url)) from None
            info = None
        with self._lock:
            self._infos[url] = (time.monotonic(), info)
        return info

    def _http_info(self, url: str) -> dict:
        """What a HEAD says of a URL, as fsspec would list it (a page is a folder)."""
        fetcher = HttpFetcher(url)
        file = run_cancellable(lambda stopper: _counted(lambda: fetcher.stat(stopper)))
        kind = "directory" if file.content_type == "text/html" else "file"
        return {"name": url, "size": file.size, "type": kind, "Last-Modified": file.modified}

    def _listing(self, url: str) -> dict[str, dict] | None:
        """Name -> metadata of a directory's entries; None when it cannot be listed."""
        url = url.rstrip("/")
        with self._lock:
            kept = self._listings.get(url)
        if kept is not None and time.monotonic() - kept[0] < LISTING_SECONDS:
            return kept[1]
        path = self._path(url)
        listing: dict[str, dict] | None
        try:
            if self._http and not self.isdir(url):
                # Only a page can list anything (and fsspec would read a file whole to look).
                raise FetchError("not a page")
            filesystem = filesystem_for(url)
            filesystem.invalidate_cache(path)  # fsspec keeps listings of its own, forever
            entries = self._call(url, "ls", path, detail=True)
        except FetchError:
            listing = None
        except CheckpointError:
            if not self._http:
                raise
            listing = None  # reading HTTP needs no extra package; listing pages does
        else:
            listing = {}
            for entry in entries:
                entry_name = str(entry.get("name", "")).rstrip("/")
                if entry_name and entry_name != path.rstrip("/"):
                    listing[posixpath.basename(entry_name)] = entry
        with self._lock:
            self._listings[url] = (time.monotonic(), listing)
        return listing

    def _call(self, url: str, name: str, *args, **kwargs):
        """`filesystem.name(*args)`, cancellable; FetchError when it fails."""
        filesystem = filesystem_for(url)
        return run_cancellable(
            lambda stopper: _counted(
                lambda: call_filesystem(filesystem, url, stopper, name, *args, **kwargs)
            )
        )

    def _path(self, url: str) -> str:
        return url if self._http else filesystem_for(url)._strip_protocol(url)

    def _url(self, path: str) -> str:
        return path if self._http or "://" in path else f"{self.scheme}://{path}"


def _means_absent(error: FetchError) -> bool:
    """Whether a failed metadata request means the file is not there for us (not found, or
    denied: S3 answers 403 for a missing key to those who may not list the bucket)."""
    return error.reason.startswith(("not found", "access denied", "is a directory"))


def _counted(request):
    """A round trip like any other, in the transfer statistics."""
    METER.started()
    try:
        return request()
    finally:
        METER.finished()


def _split(url: str) -> tuple[str, str]:
    """(directory URL, name) of a URL."""
    directory, _, name = url.rstrip("/").rpartition("/")
    return directory, name


def _has_magic(text: str) -> bool:
    return any(character in text for character in "*?[")


def _is_directory(info: dict) -> bool:
    return info.get("type") == "directory" or info.get("mimetype") == "text/html"


_trees: dict[tuple[str, str], RemoteTree] = {}
_trees_lock = threading.Lock()


def remote_tree_for(url: str) -> RemoteTree:
    """The tree of the bucket or server a URL points into (made once, kept)."""
    key = host_key(url)
    with _trees_lock:
        tree = _trees.get(key)
        if tree is None:
            tree = _trees[key] = RemoteTree(key[0])
        return tree


def refresh_all() -> None:
    """Forget what every remote tree knows (File > Refresh)."""
    with _trees_lock:
        trees = list(_trees.values())
    for tree in trees:
        tree.refresh()
