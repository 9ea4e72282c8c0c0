"""How a numpy array becomes the bytes a checkpoint's data file stores (format doc, section 4).

Everything here yields the bytes a piece at a time, so that a writer can stream a tensor of any
size with a few MB of memory: fixed-size types as their little-endian row-major bytes, DT_STRING
in TensorFlow's layout of lengths, length checksum and string bytes, DT_VARIANT element by element
with a checksum after each.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable, Iterator
from typing import Any

import numpy as np

from ckpt_browser.format import dtypes
from ckpt_browser.format.crc import crc32c, mask
from ckpt_browser.format.sstable.writer import encode_varint

# Bytes in one piece: large enough to write at disk speed, small enough that copying a
# non-contiguous array piece by piece costs little memory.
CHUNK_BYTES = 4 << 20
# String tensors are encoded this many elements at a time.
STRING_CHUNK_ELEMENTS = 65536
_UINT32_MAX = 0xFFFFFFFF

DTypeLike = dtypes.DType | str | np.dtype | type


def as_array(value: Any) -> np.ndarray:
    """`value` as an array; lists of bytes or str become object arrays, keeping bytes exact
    (numpy's fixed-width "S" type would drop trailing NUL bytes)."""
    if isinstance(value, np.ndarray):
        return value
    array = np.asarray(value)
    return np.asarray(value, dtype=object) if array.dtype.kind in "SU" else array


def resolve_dtype(requested: DTypeLike | None, array_dtype: np.dtype | None) -> dtypes.DType:
    """The TensorFlow dtype to store as, checked against the array's numpy dtype if there is one.

    `requested` may name a type with the same storage, such as "qint8" for an int8 array.
    """
    native = None if array_dtype is None else _native_order(array_dtype)
    if requested is None:
        if native is None:
            raise ValueError("a dtype or an array is needed")
        resolved = dtypes.BY_NAME["string"] if native.kind == "T" else dtypes.from_numpy(native)
    elif isinstance(requested, dtypes.DType):
        resolved = requested
    elif isinstance(requested, str) and requested in dtypes.BY_NAME:
        resolved = dtypes.from_name(requested)
    else:
        resolved = resolve_dtype(None, np.dtype(requested))
    if resolved.enum == dtypes.RESOURCE:
        raise ValueError("resource tensors cannot be written: TensorFlow never stores one")
    if native is not None:
        if resolved.enum == dtypes.VARIANT and native.kind != "O":
            raise ValueError(f"cannot store a {native} array as variants (bytes are needed)")
        if resolved.is_string and native.kind not in "OSUT":
            raise ValueError(f"cannot store a {native} array as strings")
        if resolved.is_fixed_size and native != resolved.numpy:
            raise ValueError(f"cannot store a {native} array as {resolved.name}")
    return resolved


def _native_order(dtype: np.dtype) -> np.dtype:
    return dtype.newbyteorder("=") if dtype.byteorder in "<>" else dtype


def _little_endian(dtype: np.dtype) -> np.dtype:
    big = dtype.byteorder == ">" or (dtype.byteorder == "=" and sys.byteorder == "big")
    return dtype.newbyteorder("<") if big else dtype


def c_order_pieces(array: np.ndarray, chunk_bytes: int | None = None) -> Iterator[memoryview]:
    """The array's little-endian bytes in row-major order, at most about `chunk_bytes` at a time.

    A contiguous array is sliced without copying; any other is copied a block of rows at a time
    (recursing into rows bigger than a chunk), so the extra memory is one chunk.
    """
    chunk_bytes = chunk_bytes or CHUNK_BYTES
    target = _little_endian(array.dtype)
    if array.size == 0:
        return
    if array.ndim == 0:
        array = array.reshape(1)
    if array.flags.c_contiguous and array.dtype == target:
        flat = array.reshape(-1).view(np.uint8)
        for start in range(0, flat.size, chunk_bytes):
            yield memoryview(flat[start : start + chunk_bytes])
        return
    row_bytes = array[0].size * array.dtype.itemsize
    if row_bytes > chunk_bytes and array.ndim > 1:
        for row in array:
            yield from c_order_pieces(row, chunk_bytes)
        return
    rows_per_chunk = max(1, chunk_bytes // row_bytes)
    for start in range(0, array.shape[0], rows_per_chunk):
        block = np.ascontiguousarray(array[start : start + rows_per_chunk], dtype=target)
        yield memoryview(block.reshape(-1).view(np.uint8))


def raw_pieces(chunks: Iterable[Any], expected: int, name: str) -> Iterator[memoryview]:
    """Chunks of raw bytes or arrays (their row-major bytes) as pieces, checking the total.

    Fails as soon as the pieces exceed `expected` bytes, or at the end if they fall short.
    """
    total = 0
    for chunk in chunks:
        pieces = c_order_pieces(chunk) if isinstance(chunk, np.ndarray) else [memoryview(chunk)]
        for piece in pieces:
            piece = piece.cast("B") if piece.ndim != 1 or piece.format != "B" else piece
            total += len(piece)
            if total > expected:
                raise ValueError(f"{name}: more than the {expected} bytes its dtype and shape need")
            yield piece
    if total != expected:
        raise ValueError(f"{name}: {total} bytes given, its dtype and shape need {expected}")


def string_pieces(array: np.ndarray) -> Iterator[tuple[bytes, int]]:
    """DT_STRING (format doc 4.3): varint lengths, their masked CRC, then the string bytes.

    Yields (piece, CRC so far). The CRC covers the lengths as fixed-width integers (not the varint
    bytes), the stored length checksum and the string bytes; the last one yielded is the entry's.
    Two passes over the elements keep memory bounded by one chunk of strings.
    """
    flat = array.flat
    crc = 0
    for start in range(0, array.size, STRING_CHUNK_ELEMENTS):
        lengths = [len(e) for e in _encoded(flat[start : start + STRING_CHUNK_ELEMENTS])]
        crc = _crc_of_lengths(lengths, crc)
        yield b"".join(encode_varint(n) for n in lengths), crc
    length_checksum = mask(crc).to_bytes(4, "little")
    crc = crc32c(length_checksum, crc)
    yield length_checksum, crc
    for start in range(0, array.size, STRING_CHUNK_ELEMENTS):
        data = b"".join(_encoded(flat[start : start + STRING_CHUNK_ELEMENTS]))
        crc = crc32c(data, crc)
        yield data, crc


def variant_pieces(array: np.ndarray) -> Iterator[tuple[bytes, int]]:
    """DT_VARIANT (format doc 4.4), as TensorFlow's SaveV2 writes it: per element its varint
    length, its bytes (a serialized VariantTensorDataProto, as the reader returns it) and the
    masked CRC of everything so far, each length counted in the CRC as a little-endian uint64.

    Yields (piece, CRC so far), a chunk of elements at a time; the last CRC is the entry's.
    """
    flat = array.flat
    crc = 0
    for start in range(0, array.size, STRING_CHUNK_ELEMENTS):
        parts = []
        for element in _encoded(flat[start : start + STRING_CHUNK_ELEMENTS]):
            crc = crc32c(element, crc32c(len(element).to_bytes(8, "little"), crc))
            checksum = mask(crc).to_bytes(4, "little")
            crc = crc32c(checksum, crc)
            parts += [encode_varint(len(element)), element, checksum]
        yield b"".join(parts), crc


def _crc_of_lengths(lengths: list[int], crc: int) -> int:
    """TensorFlow checksums each length as a little-endian uint32, or uint64 if it does not fit."""
    if all(n <= _UINT32_MAX for n in lengths):
        return crc32c(np.array(lengths, dtype="<u4").tobytes(), crc)
    for n in lengths:
        crc = crc32c(n.to_bytes(4 if n <= _UINT32_MAX else 8, "little"), crc)
    return crc


def _encoded(elements: Iterable[Any]) -> list[bytes]:
    out = []
    for element in elements:
        if isinstance(element, bytes):
            out.append(element)
        elif isinstance(element, str):
            out.append(element.encode("utf-8"))
        elif isinstance(element, (bytearray, memoryview)):
            out.append(bytes(element))
        else:
            raise TypeError(f"a string tensor cannot hold a {type(element).__name__}")
    return out
