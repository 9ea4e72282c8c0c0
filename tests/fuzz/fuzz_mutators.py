"""The smallest mutations: of bytes, and of protobuf messages field by field.

Each returns the new bytes and a few words saying what changed (a reproducer's description), and
takes every choice from `rng` (a `random.Random`), so a run is reproduced from its number alone.
"""

from __future__ import annotations

import random

from fuzz_wire import FIXED32, FIXED64, LENGTH, VARINT, Field, decode_message, encode_message

from ckpt_browser.format.sstable.writer import encode_varint

# fmt: off
INTERESTING_INTS = [
    0, 1, 2, 3, 7, 0x7F, 0x80, 0xFF, 0x100, 0x7FFF, 0xFFFF, 2**31 - 1, 2**31, 2**32 - 1, 2**32,
    2**40, 2**53, 2**62, 2**63 - 1, 2**63, 2**64 - 1, 2**64 - 2, 2**64 - 2**31,
]
# fmt: on
HOSTILE_STRINGS = [
    b"",
    b"\n",
    b"x\nimport os; os.system('echo INJECTED')\n#",
    b"\x1b[31mred\x1b[0m\x07",
    b"\r\x1b]0;title\x07",
    b"\xff\xfe",
    b"caf\xc3",
    b"a/" * 1000 + b"z",
    b"x" * 70000,
    b"\x00",
    b"..",
    b"../../outside",
    b"/abs/path",
    b"name:0",
    b"^ctrl",
    b"\xe2\x80\xae",  # right-to-left override
    b'x"""\nimport os; os.system("echo INJECTED")\n"""',
    b"x'\nINJECTED = 1\n'",
]
DTYPE_ENUMS = [*range(31), 101, 119, 1000]


def interesting_int(rng: random.Random) -> int:
    if rng.random() < 0.7:
        return rng.choice(INTERESTING_INTS)
    return rng.getrandbits(rng.choice([4, 8, 16, 32, 63, 64]))


# -- bytes ----------------------------------------------------------------------------------------


def mutate_bytes(data: bytes, rng: random.Random, other: bytes = b"") -> tuple[bytes, str]:
    """One byte-level change: flips, set bytes, truncation, insertion, deletion, splice, ints."""
    out = bytearray(data)
    op = rng.choice(["flip", "set", "truncate", "extend", "insert", "delete", "splice", "int"])
    n = len(out)
    if n == 0:
        op = "extend"
    pos = rng.randrange(n) if n else 0
    if op == "flip":
        count = rng.choice([1, 1, 2, 4, 8])
        for _ in range(count):
            out[rng.randrange(n)] ^= 1 << rng.randrange(8)
        return bytes(out), f"flip {count} bit(s)"
    if op == "set":
        out[pos] = rng.choice([0, 0xFF, 0x7F, 0x80, 0x01, rng.randrange(256)])
        return bytes(out), f"set byte {pos} to {out[pos]:#x}"
    if op == "truncate":
        return bytes(out[:pos]), f"truncate to {pos} bytes"
    if op == "extend":
        extra = rng.choice([b"\0" * rng.randrange(1, 64), rng.randbytes(rng.randrange(1, 64))])
        return bytes(out) + extra, f"append {len(extra)} bytes"
    if op == "insert":
        chunk = rng.randbytes(rng.randrange(1, 16))
        out[pos:pos] = chunk
        return bytes(out), f"insert {len(chunk)} bytes at {pos}"
    if op == "delete":
        length = rng.randrange(1, 16)
        del out[pos : pos + length]
        return bytes(out), f"delete {length} bytes at {pos}"
    if op == "splice":
        source = other or data
        start = rng.randrange(len(source)) if source else 0
        chunk = source[start : start + rng.randrange(1, 64)]
        out[pos : pos + len(chunk)] = chunk
        return bytes(out), f"splice {len(chunk)} bytes at {pos}"
    width = rng.choice([4, 8])
    value = interesting_int(rng) % (1 << (8 * width))
    out[pos : pos + width] = value.to_bytes(width, "little")
    return bytes(out), f"write int {value} ({width} bytes) at {pos}"


# -- protobuf -------------------------------------------------------------------------------------


def _overlong(value: int, rng: random.Random) -> bytes:
    """A varint with redundant continuation bytes: valid protobuf, longer than needed."""
    encoded = bytearray(encode_varint(value % (1 << 64)))
    padding = rng.randrange(1, max(2, 11 - len(encoded)))
    encoded[-1] |= 0x80
    encoded += b"\x80" * (padding - 1) + b"\x00"
    return bytes(encoded[:10]) if len(encoded) > 10 else bytes(encoded)


def _strings(fields: list[Field], found: list[bytes], depth: int = 0) -> list[bytes]:
    for field in fields:
        if field.wire_type == LENGTH:
            found.append(field.value)
            nested = decode_message(field.value) if depth < 8 else None
            if nested:
                _strings(nested, found, depth + 1)
    return found


def mutate_proto(
    data: bytes, rng: random.Random, where: str = "", pool: list[bytes] | None = None
) -> tuple[bytes, str]:
    """One change somewhere inside a protobuf message, descending into nested messages."""
    fields = decode_message(data)
    if not fields:
        new, what = mutate_bytes(data, rng)
        return new, f"{where or '/'}: {what}"
    if pool is None:
        pool = _strings(fields, [])
    nested = [i for i, f in enumerate(fields) if f.wire_type == LENGTH and decode_message(f.value)]
    if nested and rng.random() < 0.65:
        i = rng.choice(nested)
        value, what = mutate_proto(fields[i].value, rng, f"{where}/{fields[i].number}#{i}", pool)
        fields[i].value = value
        return encode_message(fields), what
    i = rng.randrange(len(fields))
    field = fields[i]
    here = f"{where}/{field.number}#{i}"
    op = rng.choice(
        [
            "reorder",
            "move",
            "duplicate",
            "drop",
            "int",
            "overlong",
            "wire",
            "string",
            "unknown",
            "unpack",
            "bytes",
        ]
    )
    if op == "reorder":
        rng.shuffle(fields)
        return encode_message(fields), f"{where or '/'}: fields shuffled"
    if op == "move":
        fields.insert(rng.randrange(len(fields) + 1), fields.pop(i))
        return encode_message(fields), f"{here}: moved"
    if op == "duplicate":
        copy = Field(field.number, field.wire_type, field.value)
        if copy.wire_type == VARINT and rng.random() < 0.5:
            copy.value = interesting_int(rng)
        fields.insert(rng.randrange(len(fields) + 1), copy)
        return encode_message(fields), f"{here}: duplicated (value {str(copy.value)[:40]})"
    if op == "drop":
        del fields[i]
        return encode_message(fields), f"{here}: dropped"
    if op in ("int", "overlong") and field.wire_type in (VARINT, FIXED32, FIXED64):
        if op == "int" or field.wire_type != VARINT:
            field.value = interesting_int(rng)
            return encode_message(fields), f"{here}: value {field.value}"
        field.varint_bytes = _overlong(field.value, rng)
        return encode_message(fields), f"{here}: over-long varint {field.varint_bytes.hex()}"
    if op == "wire":
        new_type = rng.choice(
            [t for t in (VARINT, FIXED64, LENGTH, FIXED32) if t != field.wire_type]
        )
        field.wire_type = new_type
        field.value = b"\x01" if new_type == LENGTH else 1
        return encode_message(fields), f"{here}: wire type {new_type}"
    if op == "unknown":
        number = rng.choice([15, 99, 536870911, rng.randrange(1, 40)])
        fields.insert(rng.randrange(len(fields) + 1), Field(number, VARINT, interesting_int(rng)))
        return encode_message(fields), f"{where or '/'}: unknown field {number}"
    if op == "unpack" and field.wire_type == LENGTH and field.value:
        values = _packed_varints(field.value)
        if values:
            fields[i : i + 1] = [Field(field.number, VARINT, v) for v in values]
            return encode_message(fields), f"{here}: packed field written unpacked"
    if op in ("string", "unpack") and field.wire_type == LENGTH:
        choice = rng.random()
        if choice < 0.4 and pool:
            field.value = rng.choice(pool)
        elif choice < 0.8:
            field.value = rng.choice(HOSTILE_STRINGS)
        else:
            field.value = field.value + rng.choice(HOSTILE_STRINGS)
        return encode_message(fields), f"{here}: string {field.value[:40]!r}"
    if field.wire_type == LENGTH and field.value:
        field.value, what = mutate_bytes(field.value, rng)
        return encode_message(fields), f"{here}: {what}"
    field.value = interesting_int(rng)
    field.wire_type = VARINT if field.wire_type == LENGTH else field.wire_type
    return encode_message(fields), f"{here}: value {field.value}"


def _packed_varints(data: bytes) -> list[int] | None:
    values, pos = [], 0
    try:
        while pos < len(data):
            value = shift = 0
            while True:
                byte = data[pos]
                value |= (byte & 0x7F) << shift
                pos += 1
                shift += 7
                if byte < 0x80:
                    break
                if shift > 63:
                    return None
            values.append(value)
    except IndexError:
        return None
    return values if len(values) < 64 else None
