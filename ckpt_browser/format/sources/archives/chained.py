"""fsspec's chained URLs into archives, turned into locations.

fsspec writes a member of a remote zip as `zip://MEMBER::https://host/release.zip` (the member
first, the archive after `::`, possibly through a caching layer: `zip://m::simplecache::s3://...`).
Locations write it as the archive followed by the member, `https://host/release.zip/MEMBER`, so
that discovery's `dirname`/`join` work on it as on any path.
"""

from __future__ import annotations

import re

from ckpt_browser.format.errors import CheckpointError
from ckpt_browser.format.sources.locations import ARCHIVE_COMPONENT

_ARCHIVE_LAYER = re.compile(r"^(zip|tar)(?:://(.*))?$", re.DOTALL)
# fsspec layers that only cache what the next one reads: we read by ranges and cache ourselves.
_CACHE_LAYERS = {"simplecache", "filecache", "blockcache", "cached"}


def from_chained_url(url: str) -> str:
    """The location a chained URL means: `zip://inner/path::https://host/release.zip` ->
    `https://host/release.zip/inner/path` (and `tar://`, and an archive given as a local path or
    `file://` URL). One sentence (without the URL's credentials) when it cannot be one."""
    layers = url.split("::")
    first = _ARCHIVE_LAYER.match(layers[0])
    rest = [layer for layer in layers[1:] if _protocol(layer) not in _CACHE_LAYERS]
    if first is None:
        if _protocol(layers[0]) in _CACHE_LAYERS and len(rest) == 1:
            return _outer(rest[0])  # `simplecache::s3://b/x`: the URL itself
        raise CheckpointError(
            f"a chained URL is read when it opens a member of a zip or tar archive "
            f"(zip://MEMBER::URL); it starts with {_protocol(layers[0]) + '://'!r}"
        )
    if len(rest) != 1 or _ARCHIVE_LAYER.match(rest[0]):
        raise CheckpointError(
            "a chained URL must name one member of one archive (zip://MEMBER::URL); archives "
            "inside archives are not read"
        )
    archive = _outer(rest[0]).rstrip("/")
    if not ARCHIVE_COMPONENT.search(archive.rsplit("/", 1)[-1] or archive):
        raise CheckpointError(
            f"the archive of a {first.group(1)}:// URL must be named like one (.zip, .tar, .tgz, "
            ".tar.gz, .tar.bz2, .tar.xz) to be read; download it, or open it by another name"
        )
    member = (first.group(2) or "").strip("/")
    return f"{archive}/{member}" if member else archive


def _protocol(layer: str) -> str:
    return layer.split("://", 1)[0].lower() if "://" in layer else layer.lower()


def _outer(layer: str) -> str:
    return layer[len("file://") :] if layer.lower().startswith("file://") else layer
