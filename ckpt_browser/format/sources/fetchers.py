"""Asking a server about one file and fetching exact byte ranges of it, through fsspec.

`fetcher_for(url)` gives a `Fetcher`: `stat()` makes the one metadata request (size, and the
version validator: ETag, generation, VersionId), `fetch_into(offset, view)` fills `view` with the
bytes at `offset` or raises `FetchError` with one plain reason. Every library's exception is
translated here, and each message is scrubbed of the URL's secrets.

HTTP(S) is fetched through the aiohttp session of fsspec's HTTP filesystem but not through its
`cat_file`, which reads a whole answer into memory and does not check it: here the status and
`Content-Range` are checked, the body streams straight into the caller's buffer, `If-Match` pins
the version opened, and a server that ignores `Range` (200 with the whole file) still gives the
right bytes, for files small enough to stream past.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import datetime
import email.utils
import hashlib
import importlib
import threading
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from types import ModuleType

from ckpt_browser.format.errors import Cancelled, CheckpointError
from ckpt_browser.format.sources.remote_settings import RemoteSettings, on_change, settings
from ckpt_browser.format.sources.transfers import METER
from ckpt_browser.format.sources.urls import host_key, protocol, redact, scrub

EXTRA = "pip install 'ckpt-browser[remote]'"
# A server that ignores Range sends the whole file for every read; past this size, streaming past
# the bytes before each range costs too much and the user is told instead.
IGNORED_RANGE_LIMIT = 64 * 1024 * 1024
_HTTP = ("http", "https")
POLL_SECONDS = 0.05  # how often a waiting request asks whether it should stop


Stop = Callable[[], bool]


def never() -> bool:
    return False


class FetchError(Exception):
    """One plain reason a request failed; `transient` ones are worth another attempt."""

    def __init__(self, reason: str, transient: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason
        self.transient = transient


@dataclass(frozen=True)
class RemoteFile:
    """What the metadata request told: size, and what identifies this version of the bytes."""

    url: str
    size: int
    validator: str | None  # strong ETag, generation or version id: the same bytes while equal
    modified: object | None  # Last-Modified, mtime, updated: as the store gives it

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
    def stat(self, stop: Stop = never) -> RemoteFile:
        """One metadata request; FetchError when the file is not there or not readable."""

    @abstractmethod
    def fetch_into(
        self, file: RemoteFile, offset: int, view: memoryview, stop: Stop = never
    ) -> None:
        """Fill `view` with the bytes at `offset` of `file`, or raise FetchError. `stop()` is
        asked while waiting: when True the request is dropped and Cancelled raised."""


def run_on_loop(loop, coroutine, stop: Stop, url: str):
    """Run a coroutine on fsspec's event loop and wait for it here, asking `stop()` every
    `POLL_SECONDS`: a dropped request is cancelled on the loop at once (its connection closed),
    so neither Cancel nor leaving the program waits for a stalled server."""
    future = asyncio.run_coroutine_threadsafe(coroutine, loop)
    try:
        while not future.done():
            concurrent.futures.wait([future], timeout=POLL_SECONDS)
            if not future.done() and stop():
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
    if scheme in _HTTP:
        aiohttp = optional_module("aiohttp", url)
        timeout = aiohttp.ClientTimeout(
            total=None, sock_connect=current.connect_timeout_s, sock_read=current.timeout_s
        )
        return {"client_kwargs": {"timeout": timeout}}
    if scheme in ("s3", "s3a"):
        config = {"connect_timeout": current.connect_timeout_s, "read_timeout": current.timeout_s}
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


def fetcher_for(url: str) -> Fetcher:
    filesystem = filesystem_for(url)
    if protocol(url) in _HTTP:
        return HttpFetcher(url, filesystem)
    return FsspecFetcher(url, filesystem)


# -- HTTP(S) ------------------------------------------------------------------------------------


class HttpFetcher(Fetcher):
    """Range requests on the aiohttp session of fsspec's HTTP filesystem, checked and streamed."""

    def __init__(self, url: str, filesystem) -> None:
        super().__init__(url)
        self.filesystem = filesystem
        self._aiohttp = optional_module("aiohttp", url)

    def stat(self, stop: Stop = never) -> RemoteFile:
        return run_on_loop(self.filesystem.loop, self._stat(), stop, self.url)

    async def _stat(self) -> RemoteFile:
        session = await self.filesystem.set_session()
        url = self.filesystem.encode_url(self.url)
        headers = {"Accept-Encoding": "identity"}
        async with session.head(url, allow_redirects=True, headers=headers) as response:
            status, answer = response.status, response.headers
        size = _int(answer.get("Content-Length")) if status == 200 else None
        if size is None or status != 200:
            # HEAD refused (a presigned GET URL answers 403 to it) or no size: ask for one byte.
            headers["Range"] = "bytes=0-0"
            async with session.get(url, allow_redirects=True, headers=headers) as response:
                status, answer = response.status, response.headers
                _check_status(status)
                total = answer.get("Content-Range", "").rpartition("/")[2]
                size = _int(total) if status == 206 else _int(answer.get("Content-Length"))
                response.close()  # not the body
        if size is None:
            raise FetchError("the server does not say how large the file is")
        if answer.get("Content-Encoding", "identity") not in ("identity", ""):
            raise FetchError(
                "the server compresses the file on the fly; byte ranges of it mean nothing"
            )
        etag = answer.get("ETag")
        strong = etag if etag and not etag.startswith("W/") else None
        return RemoteFile(self.url, size, strong, answer.get("Last-Modified") or etag)

    def fetch_into(
        self, file: RemoteFile, offset: int, view: memoryview, stop: Stop = never
    ) -> None:
        run_on_loop(self.filesystem.loop, self._fetch(file, offset, view), stop, self.url)

    async def _fetch(self, file: RemoteFile, offset: int, view: memoryview) -> None:
        length = len(view)
        session = await self.filesystem.set_session()
        headers = {"Range": f"bytes={offset}-{offset + length - 1}", "Accept-Encoding": "identity"}
        if file.validator:
            headers["If-Match"] = file.validator  # a changed file fails instead of mixing versions
        url = self.filesystem.encode_url(self.url)
        async with session.get(url, headers=headers) as response:
            _check_status(response.status)
            skip = self._skip(response, file, offset, length)
            filled = 0
            async for chunk in response.content.iter_any():
                METER.received(len(chunk))
                if skip >= len(chunk):
                    skip -= len(chunk)
                    continue
                piece = memoryview(chunk)[skip : skip + length - filled]
                skip = 0
                view[filled : filled + len(piece)] = piece
                filled += len(piece)
                if filled == length:
                    break
            if filled < length:
                raise FetchError(
                    f"the server sent {filled:,} of the {length:,} bytes asked for", transient=True
                )
            if response.status == 200:
                response.close()  # the rest of the whole file is not wanted

    def _skip(self, response, file: RemoteFile, offset: int, length: int) -> int:
        """How many bytes of the body come before the range asked for (0 for a proper 206)."""
        answer = response.headers
        if answer.get("Content-Encoding", "identity") not in ("identity", ""):
            raise FetchError(
                "the server compresses the file on the fly; byte ranges of it mean nothing"
            )
        if response.status == 206:
            expected = f"bytes {offset}-{offset + length - 1}/"
            if not answer.get("Content-Range", "").startswith(expected):
                raise FetchError(
                    f"the server answered with {answer.get('Content-Range') or 'no range'} "
                    f"for bytes {offset}-{offset + length - 1}"
                )
            return 0
        # 200: the server ignored Range and sends the whole file.
        sent = _int(answer.get("Content-Length"))
        if sent is not None and sent != file.size:
            raise FetchError(
                f"the server sent {sent:,} bytes for a {file.size:,}-byte file; it has changed"
            )
        if file.size > IGNORED_RANGE_LIMIT and offset + length < file.size:
            raise FetchError(
                "the server ignores range requests and sends the whole "
                f"{file.size:,}-byte file for each read; download it and open the copy"
            )
        return offset


def _int(text: str | None) -> int | None:
    try:
        return int(text) if text is not None else None
    except ValueError:
        return None


def _check_status(status: int) -> None:
    if status in (200, 206):
        return
    raise FetchError(http_reason(status), transient=status == 429 or status >= 500)


def http_reason(status: int) -> str:
    reasons = {
        401: "access denied (HTTP 401): the server wants credentials",
        403: "access denied (HTTP 403)",
        404: "not found (HTTP 404)",
        410: "not found (HTTP 410, gone)",
        412: "changed on the server since it was opened (HTTP 412); open it again",
        416: "the server refused the byte range (HTTP 416); the file may have shrunk",
        429: "the server asks to slow down (HTTP 429)",
    }
    if status in reasons:
        return reasons[status]
    return (
        f"the server failed (HTTP {status})"
        if status >= 500
        else f"the server answered HTTP {status}"
    )


# -- any other fsspec filesystem -----------------------------------------------------------------


class FsspecFetcher(Fetcher):
    """`info` and `cat_file` of any fsspec filesystem (S3, GCS, Azure, the Hugging Face Hub).
    Asynchronous ones run on their loop, so a dropped request is cancelled there."""

    def __init__(self, url: str, filesystem) -> None:
        super().__init__(url)
        self.filesystem = filesystem
        self.path = filesystem._strip_protocol(url)

    def _call(self, name: str, stop: Stop, *args, **kwargs):
        filesystem = self.filesystem
        if getattr(filesystem, "async_impl", False) and hasattr(filesystem, "_" + name):
            coroutine = getattr(filesystem, "_" + name)(*args, **kwargs)
            return run_on_loop(filesystem.loop, coroutine, stop, self.url)
        try:
            return getattr(filesystem, name)(*args, **kwargs)
        except Exception as exc:
            raise translate(exc, self.url) from None

    def stat(self, stop: Stop = never) -> RemoteFile:
        info = self._call("info", stop, self.path)
        if info.get("type") == "directory":
            raise FetchError("is a directory, not a file")
        size = info.get("size")
        if size is None:
            raise FetchError("the store does not say how large the file is")
        return RemoteFile(self.url, int(size), validator_of(info), modified_of(info))

    def fetch_into(
        self, file: RemoteFile, offset: int, view: memoryview, stop: Stop = never
    ) -> None:
        data = self._call("cat_file", stop, self.path, start=offset, end=offset + len(view))
        METER.received(len(data))
        if len(data) != len(view):
            raise FetchError(
                f"the store sent {len(data):,} bytes for a range of {len(view):,}", transient=True
            )
        view[:] = data


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


# -- exceptions of fsspec, aiohttp, botocore and the rest, in one sentence each -----------------

_TRANSIENT_CODES = {
    "InternalError",
    "ServiceUnavailable",
    "SlowDown",
    "RequestTimeout",
    "503",
    "500",
}


def translate(exc: BaseException, url: str) -> FetchError:
    """A library's exception as one reason (secrets of `url` scrubbed); transient ones marked."""
    if isinstance(exc, FetchError):
        return exc
    current = settings()
    name = type(exc).__name__
    status = getattr(exc, "status", None)
    if isinstance(status, int) and status >= 400:  # aiohttp.ClientResponseError and kin
        return FetchError(http_reason(status), transient=status == 429 or status >= 500)
    code = _botocore_code(exc)
    if code in ("NoSuchKey", "404", "NoSuchBucket", "NotFound"):
        return FetchError("not found")
    if code in ("AccessDenied", "403", "Forbidden", "InvalidAccessKeyId", "SignatureDoesNotMatch"):
        return FetchError(f"access denied ({code})")
    if code in _TRANSIENT_CODES:
        return FetchError(f"the store failed ({code})", transient=True)
    if name in ("ConnectionTimeoutError", "ConnectTimeoutError"):
        return FetchError(f"timed out after {current.connect_timeout_s:g} s while connecting")
    if isinstance(exc, (asyncio.TimeoutError, TimeoutError)) or name in ("ReadTimeoutError",):
        return FetchError(f"timed out after {current.timeout_s:g} s without an answer")
    if isinstance(exc, FileNotFoundError):
        if exc.__cause__ is not None:  # fsspec's HTTP `info` turns any failure into this
            return translate(exc.__cause__, url)
        return FetchError("not found")
    if isinstance(exc, PermissionError):
        return FetchError("access denied")
    if isinstance(exc, IsADirectoryError):
        return FetchError("is a directory, not a file")
    if name in ("ClientPayloadError", "ContentLengthError", "TransferEncodingError"):
        return FetchError("the connection was cut before the whole answer arrived", transient=True)
    if name in ("ServerDisconnectedError", "ClientOSError", "IncompleteReadError") or isinstance(
        exc, (ConnectionResetError, ConnectionAbortedError, BrokenPipeError)
    ):
        return FetchError("the connection was lost", transient=True)
    if name in ("ClientConnectorError", "EndpointConnectionError") or isinstance(
        exc, ConnectionRefusedError
    ):
        return FetchError(f"cannot connect ({_detail(exc, url)})")
    if isinstance(exc, OSError) and exc.errno is not None and exc.strerror:
        return FetchError(f"cannot be read ({scrub(exc.strerror, url)})")
    return FetchError(f"cannot be read ({name}: {_detail(exc, url)})")


def _detail(exc: BaseException, url: str) -> str:
    text = str(exc) or type(exc).__name__
    return scrub(text, url)[:300]


def _botocore_code(exc: BaseException) -> str | None:
    """The error code of a botocore ClientError (also when s3fs wrapped it), without importing
    botocore."""
    for candidate in (exc, exc.__cause__, exc.__context__):
        response = getattr(candidate, "response", None)
        if isinstance(response, dict):
            code = response.get("Error", {}).get("Code")
            if code:
                return str(code)
    return None
