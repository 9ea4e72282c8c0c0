"""The members of a zip archive: stored ones read by ranges of the archive, compressed ones
decompressed once into the user cache directory.

Only the archive's central directory is read to list it (`zipfile` over a `SourceFile`), so a
remote zip costs a few range requests, not a download. Release zips of checkpoints are usually
stored (a checkpoint's floats barely compress): such a member is a window of the archive, read at
random like any file. A deflated member cannot be read at random; it is streamed once, its CRC-32
checked, into a file of the cache keyed by the archive's identity, and memory-mapped from there.
"""

from __future__ import annotations

import hashlib
import lzma
import os
import shutil
import struct
import threading
import time
import zipfile
import zlib

from ckpt_browser.format.atomic import atomic_output
from ckpt_browser.format.errors import CheckpointError
from ckpt_browser.format.sources import locations
from ckpt_browser.format.sources.archives.tree import ArchiveContents, CachedFile, Member
from ckpt_browser.format.sources.base import (
    SPOOL_PIECE,
    ByteSource,
    SourceFile,
    WindowSource,
    raise_if_cancelled,
    report_transfer,
)
from ckpt_browser.format.sources.cache_dir import cache_directory

_LOCAL_HEADER = struct.Struct("<4s22xHH")  # signature, ..., name length, extra field length
_LOCAL_SIGNATURE = b"PK\x03\x04"
_ENCRYPTED = 0x1  # general purpose flag bit 0
_locks_lock = threading.Lock()
_member_locks: dict[str, threading.Lock] = {}  # one decompression of a member at a time


class ZipContents(ArchiveContents):
    """A zip archive, its directory read from `source` (the archive's bytes)."""

    def __init__(self, archive: str, source: ByteSource) -> None:
        super().__init__(locations.shown(archive))
        self.source = source
        self._data_starts: dict[str, int] = {}
        archive_file = SourceFile(source)
        try:
            self._zip = zipfile.ZipFile(archive_file)
        except (zipfile.BadZipFile, EOFError, ValueError, OSError) as exc:
            raise CheckpointError(self._why_unreadable(exc), self.shown) from None
        # From here zipfile reads only compressed members, each streamed once into the cache
        # (stored members are windows of `source`, read apart from zipfile).
        archive_file.once = True
        self.infos: dict[str, zipfile.ZipInfo] = {}
        for info in self._zip.infolist():
            name = self.add(info.filename, None if info.is_dir() else _member_of(info))
            if name and not info.is_dir():
                self.infos[name] = info

    def _why_unreadable(self, exc: Exception) -> str:
        try:
            starts_like_zip = (
                self.source.size >= 4 and bytes(self.source.read(0, 4)) == b"PK\x03\x04"
            )
        except CheckpointError:
            starts_like_zip = False
        # zipfile's "File is not a zip file" only means its end record was not found.
        detail = "" if str(exc) == "File is not a zip file" else f" ({exc})"
        if starts_like_zip:
            return f"the zip archive is truncated or damaged: its directory cannot be read{detail}"
        return f"not a zip archive{detail}"

    def open_member(self, member: str, location: str, what: str) -> ByteSource:
        info = self.infos[member]
        if info.flag_bits & _ENCRYPTED:
            raise CheckpointError(
                f"{what} is encrypted in the archive; encrypted members are not read",
                locations.shown(location),
            )
        if info.compress_type == zipfile.ZIP_STORED:
            return self._stored(info, location, what)
        return self._decompressed(info, location, what)

    def _stored(self, info: zipfile.ZipInfo, location: str, what: str) -> ByteSource:
        # By hand rather than through zipfile: its ZipExtFile reads a member front to back, and a
        # tensor deep in a stored data shard must cost one range of the archive, not all before it.
        if info.compress_size != info.file_size:
            raise CheckpointError(
                f"{what} is stored uncompressed but its sizes differ ({info.compress_size:,} and "
                f"{info.file_size:,} bytes); the archive is damaged",
                locations.shown(location),
            )
        start = self._data_starts.get(info.filename)
        if start is None:
            start = self._data_start(info)
            self._data_starts[info.filename] = start
        return WindowSource(self.source, start, info.file_size, locations.shown(location))

    def _data_start(self, info: zipfile.ZipInfo) -> int:
        """Where a member's bytes begin: after its local header, whose name and extra field may
        differ in length from the central directory's (a zip64 extra field is only here)."""
        self.source.check_range(info.header_offset, _LOCAL_HEADER.size)
        signature, name_length, extra_length = _LOCAL_HEADER.unpack(
            bytes(self.source.read(info.header_offset, _LOCAL_HEADER.size))
        )
        if signature != _LOCAL_SIGNATURE:
            raise CheckpointError(
                f"member {info.filename!r} has no local header at offset {info.header_offset:,}; "
                "the archive is damaged",
                self.shown,
            )
        return info.header_offset + _LOCAL_HEADER.size + name_length + extra_length

    def _decompressed(self, info: zipfile.ZipInfo, location: str, what: str) -> ByteSource:
        identity = (*self.source.identity, info.filename, info.CRC, info.file_size)
        key = hashlib.sha256(repr(identity).encode("utf-8", "surrogateescape")).hexdigest()[:40]
        folder = os.path.join(cache_directory(), "archives", "members")
        path = os.path.join(folder, key)
        with _lock_for(key):
            if not (os.path.isfile(path) and os.path.getsize(path) == info.file_size):
                self._decompress(info, folder, path)
        return CachedFile(path, what, location, identity)

    def _decompress(self, info: zipfile.ZipInfo, folder: str, path: str) -> None:
        """Stream a member through zipfile's decompressor into `path` (atomically), in large
        pieces with progress and cancel between them; zipfile checks the CRC-32 at the end."""
        try:
            os.makedirs(folder, exist_ok=True)
            free = shutil.disk_usage(folder).free
        except OSError as exc:
            raise CheckpointError(
                f"cannot use the cache directory ({exc.strerror or exc})", folder
            ) from None
        if info.file_size > free:
            raise CheckpointError(
                f"member {info.filename!r} is {info.file_size:,} bytes decompressed, more than the "
                f"{free:,} bytes free in the cache directory {folder}",
                self.shown,
            )
        done = 0
        with atomic_output(path) as output, self._open(info) as member:
            while True:
                raise_if_cancelled()
                piece = self._read(info, member)
                if not piece:
                    break
                output.write(piece)
                done += len(piece)
                report_transfer(done, info.file_size)

    def _open(self, info: zipfile.ZipInfo) -> zipfile.ZipExtFile:
        try:
            return self._zip.open(info)
        except NotImplementedError as exc:
            raise CheckpointError(
                f"member {info.filename!r} is compressed in a way Python cannot read ({exc})",
                self.shown,
            ) from None
        except (zipfile.BadZipFile, EOFError, OSError) as exc:
            raise CheckpointError(
                f"member {info.filename!r} cannot be read ({exc}); the archive is damaged",
                self.shown,
            ) from None

    def _read(self, info: zipfile.ZipInfo, member: zipfile.ZipExtFile) -> bytes:
        try:
            return member.read(SPOOL_PIECE)
        except zipfile.BadZipFile as exc:
            if "CRC" in str(exc):
                reason = "its CRC-32 does not match the archive's directory"
            else:
                reason = f"{exc}"
            raise CheckpointError(
                f"member {info.filename!r} is damaged: {reason}", self.shown
            ) from None
        except (zlib.error, lzma.LZMAError, EOFError, OSError) as exc:
            raise CheckpointError(
                f"member {info.filename!r} cannot be decompressed ({exc}); the archive is damaged",
                self.shown,
            ) from None


def _member_of(info: zipfile.ZipInfo) -> Member:
    try:
        mtime: float | None = time.mktime((*info.date_time, 0, 0, -1))
    except (OverflowError, ValueError):
        mtime = None
    return Member(info.file_size, mtime)


def _lock_for(key: str) -> threading.Lock:
    with _locks_lock:
        return _member_locks.setdefault(key, threading.Lock())
