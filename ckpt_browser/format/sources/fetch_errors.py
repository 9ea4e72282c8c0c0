"""Why a request failed, in one plain phrase: every library's exception translated.

aiohttp, botocore, s3fs, gcsfs and the standard library each raise their own exceptions, most of
them with the whole URL (and so its secrets) in their text. `translate` turns any of them into a
`FetchError` whose reason is short, says what happened ("not found (HTTP 404)", "timed out after
30 s without an answer") and holds nothing of the URL's secrets; transient failures are marked,
to be tried again.
"""

from __future__ import annotations

import asyncio

from ckpt_browser.format.sources.remote_settings import settings
from ckpt_browser.format.sources.urls import scrub


class FetchError(Exception):
    """One plain reason a request failed; `transient` ones are worth another attempt."""

    def __init__(self, reason: str, transient: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason
        self.transient = transient


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
    if status >= 500:
        return f"the server failed (HTTP {status})"
    return f"the server answered HTTP {status}"


def status_error(status: int) -> FetchError:
    return FetchError(http_reason(status), transient=status == 429 or status >= 500)


def connect_timeout() -> FetchError:
    return FetchError(f"timed out after {settings().connect_timeout_s:g} s while connecting")


def read_timeout() -> FetchError:
    return FetchError(f"timed out after {settings().timeout_s:g} s without an answer")


_TRANSIENT_CODES = {
    "InternalError",
    "ServiceUnavailable",
    "SlowDown",
    "RequestTimeout",
    "503",
    "500",
}
_DENIED_CODES = {"AccessDenied", "403", "Forbidden", "InvalidAccessKeyId", "SignatureDoesNotMatch"}
_CUT_SHORT = {"ClientPayloadError", "ContentLengthError", "TransferEncodingError", "IncompleteRead"}
_LOST = {"ServerDisconnectedError", "ClientOSError", "IncompleteReadError", "RemoteDisconnected"}


def translate(exc: BaseException, url: str) -> FetchError:
    """A library's exception as one reason (secrets of `url` scrubbed); transient ones marked."""
    if isinstance(exc, FetchError):
        return exc
    name = type(exc).__name__
    status = getattr(exc, "status", None)
    if isinstance(status, int) and status >= 400:  # aiohttp.ClientResponseError and kin
        return status_error(status)
    code = _botocore_code(exc)
    if code in ("NoSuchKey", "404", "NoSuchBucket", "NotFound"):
        return FetchError("not found")
    if code in _DENIED_CODES:
        return FetchError(f"access denied ({code})")
    if code in _TRANSIENT_CODES:
        return FetchError(f"the store failed ({code})", transient=True)
    if name in ("ConnectionTimeoutError", "ConnectTimeoutError"):
        return connect_timeout()
    if isinstance(exc, (asyncio.TimeoutError, TimeoutError)) or name == "ReadTimeoutError":
        return read_timeout()
    if isinstance(exc, FileNotFoundError):
        if exc.__cause__ is not None:  # fsspec's HTTP `info` turns any failure into this
            return translate(exc.__cause__, url)
        return FetchError("not found")
    if isinstance(exc, PermissionError):
        return FetchError("access denied")
    if isinstance(exc, IsADirectoryError):
        return FetchError("is a directory, not a file")
    if name in _CUT_SHORT:
        return FetchError("the connection was cut before the whole answer arrived", transient=True)
    if name in _LOST or isinstance(
        exc, (ConnectionResetError, ConnectionAbortedError, BrokenPipeError)
    ):
        return FetchError("the connection was lost", transient=True)
    if name in ("ClientConnectorError", "EndpointConnectionError", "gaierror") or isinstance(
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
