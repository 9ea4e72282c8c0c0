"""The values of one V1 data entry, decoded from protobuf's wire format straight into numpy.

A data entry is a `SavedTensorSlices` message whose `data.data` is a TensorProto holding the
slice's values in one repeated field (format doc, section 5). Why by hand rather than with the
protobuf library: parsing a 100 MB entry into a message builds a Python list of 25 million
floats; walking the few fields around it here and handing the packed bytes to numpy keeps a read
at memory speed. Fixed-width fields (float, double, complex) come back as views of the entry's
bytes, varint fields (ints, bool, half) are decoded by numpy in blocks, and strings are one bytes
object per element, as the V2 reader gives them.
"""

from __future__ import annotations

import numpy as np

from ckpt_browser.format.dtypes import DType
from ckpt_browser.format.varint import read_varint
from ckpt_browser.format.wire import (
    FIXED32,
    FIXED64,
    LENGTH_DELIMITED,
    VARINT,
    DecodeError,
    fields_of,
    walk,
)

_SAVED_SLICE = 2  # SavedTensorSlices.data
_SLICE_DATA = 3  # SavedSlice.data (a TensorProto)

# TensorProto field per dtype enum: (field number, how each element is stored)
_FIXED = {1: (5, "<f4"), 2: (6, "<f8"), 8: (9, "<c8"), 18: (12, "<c16")}
_VARINT_FIELDS = {
    3: 7,
    4: 7,
    5: 7,
    6: 7,
    11: 7,
    12: 7,
    13: 7,
    17: 7,  # int_val, read as int32 and cast
    9: 10,  # int64_val
    10: 11,  # bool_val
    19: 13,  # half_val: the raw bits of each float16
    22: 16,  # uint32_val
    23: 17,  # uint64_val
}
_INT_VAL = 7
_STRING_FIELD = 8
_VARINT_PIECE = 1 << 18  # bytes of varints decoded per numpy pass (at least 10: one varint)


def value_field(dtype: DType) -> int | None:
    """The TensorProto field a V1 entry of this dtype stores its values in; None if none can."""
    if dtype.enum in _FIXED:
        return _FIXED[dtype.enum][0]
    if dtype.enum in _VARINT_FIELDS:
        return _VARINT_FIELDS[dtype.enum]
    return _STRING_FIELD if dtype.is_string else None


def decode_entry(entry: memoryview, dtype: DType, count: int) -> np.ndarray:
    """The `count` values of a data entry as a flat array of `dtype`'s numpy type (a read-only
    view of `entry` for fixed-width types); DecodeError when the entry does not hold them."""
    number = value_field(dtype)
    if number is None:
        raise DecodeError(f"has dtype {dtype.name}, which V1 checkpoints cannot hold")
    tensor = [
        part
        for saved in fields_of(entry, _SAVED_SLICE, "the entry")
        for part in fields_of(saved, _SLICE_DATA, "its SavedSlice")
    ]
    if not tensor:
        raise DecodeError("has no values (no data in its SavedSlice)")
    if dtype.is_string:
        return _strings(tensor, count)
    if dtype.enum in _FIXED:
        return _fixed(tensor, number, np.dtype(_FIXED[dtype.enum][1]), count)
    return _varints(tensor, number, dtype, count)


def _count_problem(found: int, count: int) -> DecodeError:
    return DecodeError(f"holds {found:,} values where its slice holds {count:,}")


def _fixed(tensor: list[memoryview], number: int, dtype: np.dtype, count: int) -> np.ndarray:
    """One packed run (what TensorFlow writes) comes back as a view of it. Unpacked elements,
    which TensorFlow reads too but never writes, are gathered one field at a time. A field of
    this number under another wire type is an unknown field to protobuf, and skipped."""
    element_size = dtype.itemsize // (2 if dtype.kind == "c" else 1)  # a float of the field
    element_wire = FIXED32 if element_size == 4 else FIXED64
    runs: list[memoryview] = []
    for message in tensor:
        for field, wire, payload in walk(message, "its TensorProto"):
            if field != number or wire not in (LENGTH_DELIMITED, element_wire):
                continue
            if len(payload) % element_size:
                raise DecodeError(
                    f"holds a packed run of {len(payload):,} bytes, not a whole number of "
                    f"{dtype.name} values"
                )
            runs.append(payload)
    stream = runs[0] if len(runs) == 1 else b"".join(runs)
    # TensorFlow counts complex values as half the floats stored, and reads that many
    found = len(stream) // dtype.itemsize
    if found != count:
        raise _count_problem(found, count)
    return np.frombuffer(stream, dtype, count)


def _strings(tensor: list[memoryview], count: int) -> np.ndarray:
    """One length-delimited field per element, empty strings included."""
    elements = [
        bytes(payload)
        for message in tensor
        for field, wire, payload in walk(message, "its TensorProto")
        if field == _STRING_FIELD and wire == LENGTH_DELIMITED  # others: unknown to protobuf
    ]
    if len(elements) != count:
        raise _count_problem(len(elements), count)
    out = np.empty(count, dtype=object)
    out[:] = elements
    return out


def _varints(tensor: list[memoryview], number: int, dtype: DType, count: int) -> np.ndarray:
    """Packed varints are decoded by numpy straight into the output array; unpacked ones (never
    written by TensorFlow) one by one. Each is converted as TensorFlow converts it (format doc,
    section 5). A field of this number under another wire type is an unknown field to protobuf,
    and skipped."""
    fields = [
        (wire, payload)
        for message in tensor
        for field, wire, payload in walk(message, "its TensorProto")
        if field == number and wire in (LENGTH_DELIMITED, VARINT)
    ]
    if count > sum(len(payload) for _, payload in fields):  # a value takes a byte at least
        raise _count_problem(_varint_count(fields), count)  # before allocating the count
    out = np.empty(count, dtype.numpy)
    filled = 0
    for wire, payload in fields:
        if wire == LENGTH_DELIMITED:
            for raw in decoded_varint_runs(np.frombuffer(payload, np.uint8)):
                filled = _put(out, filled, _converted(raw, dtype), count)
        else:
            raw = np.array([read_varint(payload, 0, len(payload))[0]], np.uint64)
            filled = _put(out, filled, _converted(raw, dtype), count)
    if filled != count:
        raise _count_problem(filled, count)
    return out


def _varint_count(fields: list[tuple[int, memoryview]]) -> int:
    """How many varints the fields hold (each ends at a byte below 0x80)."""
    return sum(
        np.count_nonzero(np.frombuffer(payload, np.uint8) < 0x80) if wire == LENGTH_DELIMITED else 1
        for wire, payload in fields
    )


def _put(out: np.ndarray, filled: int, values: np.ndarray, count: int) -> int:
    end = filled + len(values)
    if end > count:
        raise DecodeError(f"holds more values than the {count:,} its slice holds")
    out[filled:end] = values
    return end


def _converted(raw: np.ndarray, dtype: DType) -> np.ndarray:
    if _VARINT_FIELDS[dtype.enum] == _INT_VAL:  # the low 32 bits as int32, then a C cast
        return raw.astype(np.uint32).view(np.int32).astype(dtype.numpy)
    if dtype.enum == 10:
        return raw != 0
    if dtype.enum == 19:
        return raw.astype(np.uint16).view(np.float16)
    return raw.astype(np.uint32) if dtype.enum == 22 else raw.view(dtype.numpy)


def decoded_varint_runs(data: np.ndarray):  # -> Iterator[np.ndarray]
    """The unsigned 64-bit values of a run of varints, as uint64 arrays, one per piece of about
    `_VARINT_PIECE` bytes (bits past 64 dropped, as TensorFlow's parser drops them).

    Vectorised: each varint ends at a byte below 0x80; the first byte of every varint is taken
    at once, then the second byte of those that have one, and so on (one pass for a bool or a
    small int, three for a float16's bits). Pieces keep the temporaries small enough to stay in
    the cache, which more than doubles the speed on a 100 MB field.
    """
    if len(data) and data[-1] >= 0x80:
        raise DecodeError("ends inside a varint")
    start = 0
    while start < len(data):
        piece = data[start : start + _VARINT_PIECE]
        ends = np.flatnonzero(piece < 0x80)
        if not len(ends):
            raise DecodeError("holds a varint longer than 10 bytes")
        piece = piece[: ends[-1] + 1]
        start += len(piece)
        if len(ends) == len(piece):  # every value fits in one byte: bools, small ints
            yield piece.astype(np.uint64)
            continue
        starts = np.empty_like(ends)
        starts[0] = 0
        starts[1:] = ends[:-1] + 1
        lengths = ends - starts + 1
        if lengths.max() > 10:
            raise DecodeError("holds a varint longer than 10 bytes")
        values = (piece[starts] & 0x7F).astype(np.uint64)
        longer = np.flatnonzero(lengths > 1)
        byte = 1
        while len(longer):
            more = (piece[starts[longer] + byte] & 0x7F).astype(np.uint64)
            values[longer] |= more << np.uint64(7 * byte)
            byte += 1
            longer = longer[lengths[longer] > byte]
        yield values


def decode_varints(data: np.ndarray) -> np.ndarray:
    """Every value of a run of varints, as one uint64 array."""
    runs = list(decoded_varint_runs(data))
    return np.concatenate(runs) if runs else np.empty(0, np.uint64)
