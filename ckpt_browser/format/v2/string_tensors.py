"""String and variant tensors read as TensorFlow's reader reads them: by their layout, not by size.

A DT_STRING tensor is stored as its varint lengths, a masked CRC32C of those lengths, then the
strings (format doc, 4.3); a DT_VARIANT tensor as, per element, a varint length, the serialized
VariantTensorDataProto and a masked CRC32C of everything so far. TensorFlow reads the lengths and
then exactly the bytes they call for, wherever that ends: the size the index entry records is not
their extent. It only has to be at least one byte a string, below 2**63, hold the string lengths,
and, when it fits TensorFlow's 1 MiB read buffer, lie inside the file (the reader prefetches that
many bytes and fails on a shorter file: `InputBuffer::Hint`). `verify`, `show` and everything
else judge these tensors by the same rules, so a tensor TensorFlow restores is never called damaged
and one it refuses is never read as intact.

Problems raise `LayoutError` (a sentence about the tensor) or `LayoutChecksumError` (a stored
checksum inside the layout does not match), which the caller turns into errors naming the file.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import NamedTuple

import numpy as np

from ckpt_browser.format.crc import crc32c, unmask
from ckpt_browser.format.varint import VarintError, read_varint

# TensorFlow's read buffer for data files (kBufferSize): a recorded size up to this is prefetched.
TF_READ_BUFFER = 1 << 20
_MAX_SIZE = 1 << 63  # TensorFlow passes the size as a signed 64-bit count
_MAX_VARINT64_BYTES = 10
_LENGTH_CHECKSUM_BYTES = 4


class LayoutError(ValueError):
    """The stored layout cannot be what TensorFlow reads; str() ends a sentence about the tensor."""


class LayoutChecksumError(LayoutError):
    """A checksum stored inside the layout (of the string lengths, after a variant element) does
    not match, so TensorFlow refuses the tensor."""


def refused_extent(offset: int, size: int, file_size: int) -> bool:
    """Whether TensorFlow refuses a string or variant entry for where its recorded size puts it:
    a negative offset, an absurd size, or a prefetched size past the end of the file."""
    if offset < 0 or not 0 <= size < _MAX_SIZE:  # a size read as negative is 2**63 or more
        return True
    return 0 < size <= TF_READ_BUFFER and offset + size > file_size


class StringLayout(NamedTuple):
    """The bytes of a string tensor as TensorFlow reads them, from its offset to its last byte."""

    data: bytes
    lengths: list[int]
    checksum_at: int  # where the 4-byte checksum of the lengths starts in `data`
    lengths_crc: int  # the CRC32C of the lengths, as TensorFlow computes it

    def strings(self) -> Iterator[bytes]:
        pos = self.checksum_at + _LENGTH_CHECKSUM_BYTES
        for length in self.lengths:
            yield self.data[pos : pos + length]
            pos += length

    def crc(self) -> int:
        """The entry's CRC32C as TensorFlow computes it on reading: the lengths' CRC, extended
        over the stored length checksum and the strings. Raises LayoutChecksumError if the
        stored length checksum does not match, as TensorFlow does."""
        if not self.data:
            return 0  # nothing stored: TensorFlow reads nothing and checks the CRC of nothing
        _check_lengths(self.data, self.checksum_at, self.lengths_crc)
        return crc32c(self.data[self.checksum_at :], self.lengths_crc)


def string_layout(buf: bytes, offset: int, size: int, count: int) -> StringLayout:
    """Find the `count` strings of an entry at `offset` of the shard `buf` (see the module)."""
    if size < count:
        raise LayoutError(
            f"invalid size in bundle entry: stored size {size}, expected at least {count} "
            "(a byte for each string's length)"
        )
    if size == 0:  # and so no strings: TensorFlow reads nothing
        return StringLayout(b"", [], 0, 0)
    _check_extent(offset, size, len(buf))
    available = len(buf) - offset
    if count + _LENGTH_CHECKSUM_BYTES > available:
        raise LayoutError(
            f"{count} strings cannot fit in the {max(available, 0):,} bytes from its offset to the "
            "end of the data file"
        )
    # The lengths lie within the recorded size, each in at most 10 bytes; then their checksum.
    head_end = min(offset + size, len(buf), offset + _MAX_VARINT64_BYTES * count + 1)
    head = bytes(buf[offset:head_end])
    lengths: list[int] = []
    pos = 0
    try:
        for _ in range(count):
            length, pos = read_varint(head, pos, len(head))
            lengths.append(length)
    except VarintError as exc:
        raise LayoutError(f"the length of string {len(lengths)} {exc}") from None
    lengths_crc = _crc_of_lengths(lengths)
    end = offset + pos + _LENGTH_CHECKSUM_BYTES + sum(lengths)
    if end > len(buf):
        # TensorFlow checks the lengths' checksum before it reads the strings.
        _check_lengths(bytes(buf[offset : offset + pos + _LENGTH_CHECKSUM_BYTES]), pos, lengths_crc)
        raise LayoutError(
            f"its strings run past the end of the data file ({end - offset:,} bytes from offset "
            f"{offset:,}, the file has {len(buf):,})"
        )
    return StringLayout(bytes(buf[offset:end]), lengths, pos, lengths_crc)


def _crc_of_lengths(lengths: list[int]) -> int:
    """Each length as a 4-byte (or, when large, 8-byte) little-endian integer, not its varint."""
    if all(length <= 0xFFFFFFFF for length in lengths):  # one CRC call, not one a string
        return crc32c(np.array(lengths, dtype="<u4").tobytes())
    crc = 0
    for length in lengths:
        crc = crc32c(length.to_bytes(4 if length <= 0xFFFFFFFF else 8, "little"), crc)
    return crc


def _check_lengths(data: bytes, checksum_at: int, lengths_crc: int) -> None:
    stored = unmask(int.from_bytes(data[checksum_at : checksum_at + 4], "little"))
    if stored != lengths_crc:
        raise LayoutChecksumError(
            f"its string lengths' checksum does not match (stored {stored:#010x}, computed "
            f"{lengths_crc:#010x}), so TensorFlow refuses to read it"
        )


def strings_array(layout: StringLayout, shape: tuple[int, ...]) -> np.ndarray:
    out = np.empty(len(layout.lengths), dtype=object)
    for i, value in enumerate(layout.strings()):
        out[i] = value
    return out.reshape(shape)


class VariantLayout(NamedTuple):
    """The elements of a variant tensor, and its CRC32C as TensorFlow computes it on reading."""

    elements: list[bytes]  # each a serialized VariantTensorDataProto
    final_crc: int
    failed_at: int | None  # the first element whose stored checksum does not match

    def crc(self) -> int:
        """The CRC; raises LayoutChecksumError where an element's checksum fails, as TF does."""
        if self.failed_at is not None:
            raise LayoutChecksumError(
                f"the checksum after variant element {self.failed_at} does not match, so "
                "TensorFlow refuses to read it"
            )
        return self.final_crc


def variant_layout(buf: bytes, offset: int, size: int, count: int) -> VariantLayout:
    """Find the `count` elements of a variant entry at `offset` of the shard `buf`."""
    if size == 0 and count == 0:
        return VariantLayout([], 0, None)
    _check_extent(offset, size, len(buf))
    available = len(buf) - offset
    if count * (1 + 4) > available:  # a length byte and a checksum at least, each
        raise LayoutError(
            f"{count} variant elements cannot fit in the {max(available, 0):,} bytes from its "
            "offset to the end of the data file"
        )
    elements: list[bytes] = []
    pos, crc, failed_at = offset, 0, None
    for i in range(count):
        try:
            length, pos = read_varint(buf, pos, len(buf))
        except VarintError as exc:
            raise LayoutError(f"the length of variant element {i} {exc}") from None
        if pos + length + 4 > len(buf):
            raise LayoutError(f"variant element {i} runs past the end of the data file")
        element = bytes(buf[pos : pos + length])
        crc = crc32c(element, crc32c(length.to_bytes(8, "little"), crc))
        stored = bytes(buf[pos + length : pos + length + 4])
        if failed_at is None and unmask(int.from_bytes(stored, "little")) != crc:
            failed_at = i
        crc = crc32c(stored, crc)
        pos += length + 4
        elements.append(element)
    return VariantLayout(elements, crc, failed_at)


def _check_extent(offset: int, size: int, file_size: int) -> None:
    if refused_extent(offset, size, file_size):
        raise LayoutError(
            f"bytes {offset}..{offset + size} lie past the end of the data file ({file_size} "
            "bytes); the shard is truncated"
        )
