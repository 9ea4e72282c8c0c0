"""Asking a store about one file and fetching exact byte ranges of it.

`fetcher_for(url)` gives a `Fetcher`: `stat()` makes the one metadata request (size, and the
version validator: ETag, generation, VersionId), `fetch_into(offset, view)` fills `view` with the
bytes at `offset` or raises `FetchError` with one plain reason (see `fetch_errors`). HTTP(S) goes
through `http_fetcher`; every other protocol through its fsspec filesystem, made once per protocol
and host. A `Stopper` lets the thread that waits drop a request at once.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import datetime
import email.utils
import hashlib
import importlib
import socket
import threading
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from types import ModuleType
from typing import TypeVar

from ckpt_browser.format.errors import Cancelled, CheckpointError
from ckpt_browser.format.sources.base import cancel_requested
from ckpt_browser.format.sources.fetch_errors import FetchError, translate
from ckpt_browser.format.sources.remote_settings import RemoteSettings, on_change, settings
from ckpt_browser.format.sources.transfers import METER
from ckpt_browser.format.sources.urls import host_key, protocol, redact, scrub

__all__ = ["FetchError", "Fetcher", "RemoteFile", "Stopper", "fetcher_for", "filesystem_for"]

EXTRA = "pip install 'ckpt-browser[remote]'"
HTTP = ("http", "https")
POLL_SECONDS = 0.05  # how often a waiting request asks whether it should stop
T = TypeVar("T")


class Stopper:
    """Tells a request that nobody waits for it any more. Requests that block on a socket
    register it (`watch`): `stop()` shuts it down, so the blocked read returns at once."""

    def __init__(self) -> None:
        self.stopped = False
        self._lock = threading.Lock()
        self._sockets: set[socket.socket] = set()

    def stop(self) -> None:
        with self._lock:
            self.stopped = True
            sockets = list(self._sockets)
        for sock in sockets:
            _shut(sock)

    def watch(self, sock: socket.socket) -> None:
        with self._lock:
            self._sockets.add(sock)
            stopped = self.stopped
        if stopped:
            _shut(sock)

    def unwatch(self, sock: socket.socket) -> None:
        with self._lock:
            self._sockets.discard(sock)


def _shut(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)


@dataclass(frozen=True)
class RemoteFile:
    """What the metadata request told: size, and what identifies this version of the bytes."""

    url: str
    size: int
    validator: str | None  # strong ETag, generation or version id: the same bytes while equal
    modified: object | None  # Last-Modified, mtime, updated: as the store gives it
    content_type: str | None = None  # an HTTP page (text/html) is a folder's listing

    @property
    def key(self) -> tuple:
        """The key of everything cached about these bytes. The redacted URL is used so that
        presigned URLs of one object share it; without a validator the full URL (hashed) and the
        time take its place."""
        if self.validator is not None:
            return (redact(self.url), self.size, self.validator)
        digest = hashlib.sha256(self.url.encode()).hexdigest()[:16]
        return (redact(self.url), digest, self.size, str(self.modified))


class Fetcher(ABC):
    def __init__(self, url: str) -> None:
        self.url = url

    @abstractmethod
    def stat(self, stopper: Stopper) -> RemoteFile:
        """One metadata request; FetchError when the file is not there or not readable."""

    @abstractmethod
    def fetch_into(self, file: RemoteFile, offset: int, view: memoryview, stopper: Stopper) -> None:
        """Fill `view` with the bytes at `offset` of `file`, or raise FetchError; Cancelled
        once `stopper` is stopped."""


def fetcher_for(url: str) -> Fetcher:
    if protocol(url) in HTTP:
        from ckpt_browser.format.sources.http_fetcher import HttpFetcher

        return HttpFetcher(url)
    return FsspecFetcher(url, filesystem_for(url))


# -- waiting, cancellably ---------------------------------------------------------------------

_metadata_pool = concurrent.futures.ThreadPoolExecutor(4, thread_name_prefix="ckpt-stat")


def run_cancellable(request: Callable[[Stopper], T]) -> T:
    """Run a request on a helper thread and wait here, asking this thread's cancel check every
    `POLL_SECONDS`: Cancel stops the request (and its socket) at once, even on a stalled server."""
    stopper = Stopper()
    future = _metadata_pool.submit(request, stopper)
    try:
        while not future.done():
            concurrent.futures.wait([future], timeout=POLL_SECONDS)
            if not future.done() and cancel_requested():
                raise Cancelled()
    except BaseException:  # Cancel, or Ctrl-C while waiting: the request goes too
        stopper.stop()
        future.cancel()
        raise
    return future.result()


def run_on_loop(loop, coroutine, stopper: Stopper, url: str):
    """Run a coroutine on fsspec's event loop and wait for it here, asking `stopper` every
    `POLL_SECONDS`: a dropped request is cancelled on the loop at once (its connection closed),
    so neither Cancel nor leaving the program waits for a stalled server."""
    future = asyncio.run_coroutine_threadsafe(coroutine, loop)
    try:
        while not future.done():
            concurrent.futures.wait([future], timeout=POLL_SECONDS)
            if not future.done() and stopper.stopped:
                raise Cancelled()
    except BaseException:  # Cancel, or Ctrl-C while waiting: the request goes too
        future.cancel()
        raise
    if future.cancelled():
        raise Cancelled()
    error = future.exception()
    if error is None:
        return future.result()
    if isinstance(error, (FetchError, Cancelled)):
        raise error
    raise translate(error, url) from None


# -- optional packages and filesystem objects ------------------------------------------------------


def missing_extra(url: str, module: str) -> CheckpointError:
    return CheckpointError(
        f"reading {protocol(url)}:// URLs needs the optional packages ({module} is missing): "
        f"{EXTRA}",
        redact(url),
    )


def optional_module(name: str, url: str) -> ModuleType:
    """An optional package (fsspec, aiohttp, ...), or the sentence naming the extra to install.
    Imported by name: these are not dependencies of a default installation."""
    try:
        return importlib.import_module(name)
    except ImportError as exc:
        raise missing_extra(url, exc.name or name) from None


_filesystems: dict[tuple, object] = {}
_filesystems_lock = threading.Lock()


def filesystem_for(url: str):
    """The fsspec filesystem for a URL's protocol and host, made once and reused (its sessions
    and connection pools with it); a change of timeouts makes new ones."""
    fsspec = optional_module("fsspec", url)
    current = settings()
    scheme, host = host_key(url)
    options = dict(current.storage_options.get(scheme, {}))
    key = (
        scheme,
        host,
        current.connect_timeout_s,
        current.timeout_s,
        repr(sorted(options.items())),
    )
    with _filesystems_lock:
        found = _filesystems.get(key)
    if found is not None:
        return found
    try:
        cls = fsspec.get_filesystem_class(scheme)
    except ImportError as exc:
        module = exc.name or _implementation_module(fsspec, scheme)
        raise missing_extra(url, module) from None
    except ValueError:
        raise CheckpointError(
            f"no installed package reads {scheme}:// URLs (fsspec knows no such protocol)",
            redact(url),
        ) from None
    for name, value in _timeout_options(scheme, url, current).items():
        given = options.get(name)
        options[name] = {**value, **given} if isinstance(given, dict) else value
    try:
        filesystem = cls(**options)
    except ImportError as exc:
        raise missing_extra(url, exc.name or _implementation_module(fsspec, scheme)) from None
    except Exception as exc:  # a protocol library refusing its options: say which and why
        raise CheckpointError(
            f"cannot reach {scheme}:// ({scrub(str(exc), url)})", redact(url)
        ) from None
    with _filesystems_lock:
        return _filesystems.setdefault(key, filesystem)


def _implementation_module(fsspec: ModuleType, scheme: str) -> str:
    # `fsspec.registry` is a mapping of loaded classes; the module of that name knows them all.
    registry = importlib.import_module("fsspec.registry")
    known = registry.known_implementations.get(scheme, {})
    return known.get("class", scheme).split(".")[0]


def _timeout_options(scheme: str, url: str, current: RemoteSettings) -> dict:
    """Connect and read timeouts in each library's own words, so a stalled server gives an
    error and never a hang."""
    if scheme in HTTP:
        aiohttp = optional_module("aiohttp", url)
        timeout = aiohttp.ClientTimeout(
            total=None, sock_connect=current.connect_timeout_s, sock_read=current.timeout_s
        )
        return {"client_kwargs": {"timeout": timeout}}
    if scheme in ("s3", "s3a"):
        # botocore's own retries (5 attempts with backoff) kept a refused endpoint busy for
        # 8 s a request; transient failures are tried again here, by the reads.
        config = {
            "connect_timeout": current.connect_timeout_s,
            "read_timeout": current.timeout_s,
            "retries": {"max_attempts": 1},
        }
        return {"config_kwargs": config}
    return {}


def _forget_filesystems(previous: RemoteSettings, current: RemoteSettings) -> None:
    if (previous.connect_timeout_s, previous.timeout_s, previous.storage_options) != (
        current.connect_timeout_s,
        current.timeout_s,
        current.storage_options,
    ):
        with _filesystems_lock:
            _filesystems.clear()


on_change(_forget_filesystems)


# -- any other fsspec filesystem -----------------------------------------------------------------


class FsspecFetcher(Fetcher):
    """`info` and `cat_file` of any fsspec filesystem (S3, GCS, Azure, the Hugging Face Hub).
    Asynchronous ones run on their loop, so a dropped request is cancelled there."""

    def __init__(self, url: str, filesystem) -> None:
        super().__init__(url)
        self.filesystem = filesystem
        self.path = filesystem._strip_protocol(url)

    def stat(self, stopper: Stopper) -> RemoteFile:
        info = call_filesystem(self.filesystem, self.url, stopper, "info", self.path)
        if info.get("type") == "directory":
            raise FetchError("is a directory, not a file")
        size = info.get("size")
        if size is None:
            raise FetchError("the store does not say how large the file is")
        return RemoteFile(self.url, int(size), validator_of(info), modified_of(info))

    def fetch_into(self, file: RemoteFile, offset: int, view: memoryview, stopper: Stopper) -> None:
        end = offset + len(view)
        data = call_filesystem(
            self.filesystem, self.url, stopper, "cat_file", self.path, start=offset, end=end
        )
        METER.received(len(data))
        if len(data) != len(view):
            raise FetchError(
                f"the store sent {len(data):,} bytes for a range of {len(view):,}", transient=True
            )
        view[:] = data


def call_filesystem(filesystem, url: str, stopper: Stopper, name: str, *args, **kwargs):
    """`filesystem.name(*args)`: on the event loop (and dropped when stopped) for asynchronous
    filesystems; FetchError for any failure."""
    if getattr(filesystem, "async_impl", False) and hasattr(filesystem, "_" + name):
        coroutine = getattr(filesystem, "_" + name)(*args, **kwargs)
        return run_on_loop(filesystem.loop, coroutine, stopper, url)
    try:
        return getattr(filesystem, name)(*args, **kwargs)
    except Exception as exc:
        raise translate(exc, url) from None


def validator_of(info: dict) -> str | None:
    """The field that changes whenever the object's bytes do, in each store's words."""
    for field in ("generation", "VersionId", "version_id", "ETag", "etag", "md5Hash", "sha"):
        value = info.get(field)
        if value not in (None, "", "null") and not str(value).startswith("W/"):
            return str(value)
    lfs = info.get("lfs")  # the Hugging Face Hub: a large file's sha256
    return str(lfs.get("sha256")) if isinstance(lfs, dict) and lfs.get("sha256") else None


def modified_of(info: dict) -> object | None:
    for field in ("LastModified", "last_modified", "updated", "mtime", "Last-Modified", "created"):
        if info.get(field) not in (None, ""):
            return info[field]
    return None


def unix_time(value: object) -> float | None:
    """A store's modification time (datetime, ISO text, HTTP date, seconds) in Unix seconds."""
    if isinstance(value, datetime.datetime):
        moment = value if value.tzinfo else value.replace(tzinfo=datetime.timezone.utc)
        return moment.timestamp()
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, str):
        try:
            return unix_time(datetime.datetime.fromisoformat(value.replace("Z", "+00:00")))
        except ValueError:
            pass
        try:
            return email.utils.parsedate_to_datetime(value).timestamp()
        except (TypeError, ValueError):
            return None
    return None
