"""URLs as messages may show them: without passwords, signatures, tokens or keys.

A presigned S3 URL, an Azure SAS URL or a URL with `user:password@` carries a secret that must
never reach an error, a log, a window title or a list of recent files. `redact` gives the form to
show; `scrub` cleans a message a library wrote (aiohttp and botocore put the whole URL in theirs).
The real URL stays inside the objects that fetch.
"""

from __future__ import annotations

import re
from urllib.parse import parse_qsl, quote, quote_plus, unquote, urlsplit, urlunsplit

_URL = re.compile(r"^[A-Za-z][A-Za-z0-9+.\-]*://")
HIDDEN = "<hidden>"
# Query parameters known to carry no secret (a download switch, a version, a revision). A query
# with anything else is hidden whole: signatures come under many names (X-Amz-Signature, sig,
# token, key, Signature with Expires, ...) and a name we do not know may be one of them.
_HARMLESS_PARAMETERS = frozenset(
    {"alt", "download", "dl", "raw", "generation", "versionid", "version", "revision", "rev", "ref"}
)


def redact(url: str) -> str:
    """The URL without credentials or a query that may hold a secret; other text unchanged.

    `https://u:pw@host/m.index?X-Amz-Signature=...` -> `https://host/m.index?<hidden>`.
    Chained fsspec URLs (`zip://member::https://...`) are redacted part by part.
    """
    if "::" in url:
        return "::".join(redact(part) for part in url.split("::"))
    if not _URL.match(url):
        return url
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError on a malformed host
    except ValueError:
        return url.split("://", 1)[0] + "://" + HIDDEN
    netloc = parts.netloc.rpartition("@")[2]
    query = parts.query
    if query and not _harmless(query):
        query = HIDDEN
    return urlunsplit((parts.scheme, netloc, parts.path, query, ""))


def _harmless(query: str) -> bool:
    pairs = parse_qsl(query, keep_blank_values=True)
    return bool(pairs) and all(name.lower() in _HARMLESS_PARAMETERS for name, _ in pairs)


def scrub(text: str, url: str) -> str:
    """`text` (a library's message) with `url` redacted and each secret of it hidden, in the
    spellings a library may use (as written, percent-decoded, percent-encoded)."""
    text = text.replace(url, redact(url))
    for secret in sorted(_secrets(url), key=len, reverse=True):
        text = text.replace(secret, HIDDEN)
    return text


def _secrets(url: str) -> set[str]:
    found: set[str] = set()
    for part in url.split("::"):
        if not _URL.match(part):
            continue
        try:
            parts = urlsplit(part)
        except ValueError:
            found.add(part.split("://", 1)[1])
            continue
        words = [parts.username or "", parts.password or "", parts.fragment]
        if parts.query and not _harmless(parts.query):
            words.append(parts.query)
            words += [value for _, value in parse_qsl(parts.query, keep_blank_values=True)]
        for word in words:
            if len(word) >= 3:  # shorter words would blank out ordinary text
                found |= {word, unquote(word), quote(word, safe=""), quote_plus(word)}
    return {word for word in found if len(word) >= 3}


def protocol(url: str) -> str:
    """The scheme of a URL, lower case (`s3`, `https`)."""
    return url.split("://", 1)[0].lower()


def host_key(url: str) -> tuple[str, str]:
    """(protocol, host): what one filesystem object and one tree serve (a bucket, a server)."""
    scheme = protocol(url)
    rest = url.split("://", 1)[1] if "://" in url else ""
    host = rest.split("/", 1)[0].rpartition("@")[2]
    return scheme, host.lower()
