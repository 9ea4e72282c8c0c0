"""Walking protobuf's wire format field by field, for messages read by hand.

Why by hand: where the protobuf library would build an object for every element or copy bytes
out of the file, these readers need where things lie: V1 data entries (`v1.values`), the 20,000
tensor descriptions of a V1 metadata entry (`v1.metadata`), and the constants of a frozen graph,
which are read as views of the file (`graph.constants`).
"""

from __future__ import annotations

from collections.abc import Iterator

from ckpt_browser.format.varint import VarintError, read_varint

VARINT, FIXED64, LENGTH_DELIMITED, FIXED32 = 0, 1, 2, 5


class DecodeError(ValueError):
    """The bytes are not what the message should be; str() is the end of a sentence about it."""


def next_field(
    message: memoryview | bytes, pos: int, what: str
) -> tuple[int, int, memoryview | bytes, int]:
    """The field starting at `pos`: (number, wire type, payload, position after it); a
    varint's payload is its bytes."""
    end = len(message)
    try:
        tag, pos = read_varint(message, pos, end)
        field, wire = tag >> 3, tag & 7
        start = pos
        if wire == VARINT:
            _, pos = read_varint(message, pos, end)
        elif wire == FIXED64:
            pos += 8
        elif wire == FIXED32:
            pos += 4
        elif wire == LENGTH_DELIMITED:
            length, start = read_varint(message, pos, end)
            pos = start + length
        else:
            raise DecodeError(
                f"holds a field of wire type {wire} in {what}, which no TensorFlow message uses"
            )
    except VarintError as exc:
        raise DecodeError(f"is not a valid protobuf message (a varint in {what} {exc})") from None
    if pos > end or field == 0:
        raise DecodeError(f"is not a valid protobuf message ({what} is cut short)")
    return field, wire, message[start:pos], pos


def walk(message: memoryview | bytes, what: str) -> Iterator[tuple[int, int, memoryview | bytes]]:
    """(field number, wire type, payload) of each field of a message."""
    pos = 0
    while pos < len(message):
        field, wire, payload, pos = next_field(message, pos, what)
        yield field, wire, payload


def length_delimited_fields(message: memoryview | bytes, what: str) -> dict[int, list]:
    """The payloads of each length-delimited field of a message, by field number (a message
    field given twice merges, which for what is read here is the concatenation of its payloads).

    Fields with one-byte tags and lengths, the 20,000 tensor descriptions of a metadata entry,
    are stepped over inline: this is the loop that listing a V1 checkpoint spends its time in."""
    found: dict[int, list] = {}
    pos, end = 0, len(message)
    while pos < end:
        tag = message[pos]
        if tag < 0x80 and tag & 7 == LENGTH_DELIMITED and pos + 1 < end and message[pos + 1] < 0x80:
            start = pos + 2
            pos = start + message[pos + 1]
            if pos > end:
                raise DecodeError(f"is not a valid protobuf message ({what} is cut short)")
            payload = message[start:pos]
            field = tag >> 3
        else:
            field, wire, payload, pos = next_field(message, pos, what)
            if wire != LENGTH_DELIMITED:
                continue
        found.setdefault(field, []).append(payload)
    return found


def fields_of(message: memoryview | bytes, number: int, what: str) -> list:
    """The payloads of length-delimited field `number` of a message."""
    return length_delimited_fields(message, what).get(number, [])


def field_spans(
    data: memoryview | bytes, start: int, end: int, what: str
) -> Iterator[tuple[int, int, int, int]]:
    """(field number, wire type, payload start, payload end) of each field of the message in
    `data[start:end]`, as positions in `data`: readers of big files keep offsets, not copies."""
    pos = start
    view = data[:end]
    while pos < end:
        field, wire, payload, after = next_field(view, pos, what)
        yield field, wire, after - len(payload), after
        pos = after
