"""Mutations of a checkpoint's `.index`: its entries, names, slices, header and table layout.

Most keep the table well-formed (rebuilt with valid block checksums) so that the change reaches
the code reading the entries rather than stopping at a checksum.
"""

from __future__ import annotations

import random

from fuzz_mutators import DTYPE_ENUMS, HOSTILE_STRINGS, interesting_int, mutate_bytes, mutate_proto
from fuzz_wire import (
    FIXED32,
    LENGTH,
    VARINT,
    Field,
    build_table,
    decode_message,
    encode_message,
    reseal_block,
    table_blocks,
    table_items,
)

from ckpt_browser.format.v2.slice_keys import slice_key


def _entry(
    dtype: int,
    shape: list[int],
    shard: int,
    offset: int,
    size: int,
    crc: int,
    slices: list[list[tuple[int, int]]] = (),
) -> bytes:
    dims = b"".join(
        encode_message([Field(2, LENGTH, encode_message([Field(1, VARINT, d)]))]) for d in shape
    )
    fields = [
        Field(1, VARINT, dtype),
        Field(2, LENGTH, dims),
        Field(3, VARINT, shard),
        Field(4, VARINT, offset),
        Field(5, VARINT, size),
        Field(6, FIXED32, crc),
    ]
    for extents in slices:
        body = b"".join(
            encode_message(
                [
                    Field(
                        1,
                        LENGTH,
                        encode_message(
                            [Field(1, VARINT, s)] + ([] if n < 0 else [Field(2, VARINT, n)])
                        ),
                    )
                ]
            )
            for s, n in extents
        )
        fields.append(Field(7, LENGTH, body))
    return encode_message(fields)


def _hostile_name(key: bytes, rng: random.Random) -> bytes:
    choice = rng.random()
    if choice < 0.5:
        return key + rng.choice(HOSTILE_STRINGS)
    if choice < 0.8:
        return rng.choice(HOSTILE_STRINGS) + key
    return key[: len(key) // 2] + rng.choice(HOSTILE_STRINGS) + key[len(key) // 2 :]


INDEX_OPERATORS = {
    "index-bytes": ["bytes", "block", "layout"],
    "index-fields": [
        "entry",
        "entry",
        "entry",
        "header",
        "drop",
        "duplicate",
        "disorder",
        "add",
        "retype",
    ],
    "index-names": ["rename", "collide"],
    "index-slices": ["slices"],
}


def mutate_index(data: bytes, rng: random.Random, family: str | None = None) -> tuple[bytes, str]:
    """A change to the entries of a table (kept well-formed unless the change is the table)."""
    try:
        pairs = table_items(data)
    except Exception:  # an earlier mutation of this case broke it: bytes are all that is left
        return mutate_bytes(data, rng)
    if not pairs:  # an earlier mutation left an empty table
        return mutate_bytes(data, rng)
    if family is None:
        family = rng.choices(list(INDEX_OPERATORS), [3, 9, 2, 1])[0]
    op = rng.choice(INDEX_OPERATORS[family])
    keyed = [i for i, (k, _) in enumerate(pairs) if k]
    i = rng.choice(keyed) if keyed else 0
    key, value = pairs[i]
    sort = True
    layout = {}
    if op == "bytes":
        new, what = mutate_bytes(data, rng)
        return new, f"bytes: {what}"
    if op == "block":
        out = bytearray(data)
        offset, size = rng.choice(table_blocks(data))
        block = bytes(out[offset : offset + size])
        new, what = mutate_bytes(block, rng)
        new = (new + bytes(size))[:size]
        out[offset : offset + size] = new
        reseal_block(out, offset, size)
        return bytes(out), f"block at {offset} (checksum fixed): {what}"
    if op == "entry" or (op == "header" and not pairs):
        new, what = mutate_proto(value, rng)
        pairs[i] = (key, new)
        description = f"entry {key!r}: {what}"
    elif op == "header":
        new, what = mutate_proto(pairs[0][1], rng)
        pairs[0] = (pairs[0][0], new)
        description = f"header: {what}"
    elif op == "rename":
        new_key = _hostile_name(key, rng)
        pairs[i] = (new_key, value)
        description = f"key {key!r} renamed {new_key[:60]!r}"
    elif op == "collide":
        # Two names that a lossy display would show as one (a non-UTF-8 byte and its escape).
        raw, escaped = key + b"\xff", key + b"\\xff"
        pairs[i] = (raw, value)
        pairs.append((escaped, value))
        description = f"keys {raw!r} and {escaped!r}"
    elif op == "drop":
        del pairs[i]
        description = f"entry {key!r} dropped"
    elif op == "duplicate":
        pairs.insert(i, (key, value))
        sort = False
        description = f"entry {key!r} twice"
    elif op == "disorder":
        j = rng.randrange(1, len(pairs)) if len(pairs) > 1 else 0
        pairs[i], pairs[j] = pairs[j], pairs[i]
        sort = False
        description = f"entries {i} and {j} swapped (keys out of order)"
    elif op == "layout":
        layout = {
            "block_size": rng.choice([64, 200, 1024]),
            "restart_interval": rng.choice([1, 2, 16]),
            "snappy": rng.random() < 0.5,
        }
        description = f"relaid out {layout}"
    elif op == "add":
        shape = [
            interesting_int(rng) % rng.choice([4, 1 << 20, 1 << 64])
            for _ in range(rng.choice([0, 1, 2, 3, 65]))
        ]
        new_key = rng.choice([key + b"_new", b"\x00" + key, _hostile_name(key, rng)])
        value = _entry(
            rng.choice(DTYPE_ENUMS),
            shape,
            rng.choice([0, 0, 1, 2**31 - 1]),
            rng.choice([0, interesting_int(rng)]),
            rng.choice([0, 4, interesting_int(rng)]),
            interesting_int(rng),
        )
        pairs.append((new_key, value))
        description = f"added entry {new_key[:60]!r} shape {shape[:8]}"
    elif op == "slices":
        pairs, description = _add_slices(pairs, i, rng)
    else:  # retype
        fields = decode_message(value) or []
        dtype = rng.choice(DTYPE_ENUMS)
        fields = [f for f in fields if f.number != 1] + [Field(1, VARINT, dtype)]
        pairs[i] = (key, encode_message(fields))
        description = f"entry {key!r} dtype {dtype}"
    if sort:
        header = [p for p in pairs if p[0] == b""][:1]
        pairs = header + sorted(p for p in pairs if p[0] != b"")
        # A header that is not first (after a rename onto "") stays where sorting puts it.
    return build_table(pairs, **layout), description


def _add_slices(
    pairs: list[tuple[bytes, bytes]], i: int, rng: random.Random
) -> tuple[list[tuple[bytes, bytes]], str]:
    """Make entry i a partitioned tensor: a full entry with slices, and an entry per slice."""
    key, value = pairs[i]
    fields = decode_message(value) or []
    shape = []
    for f in fields:
        if f.number == 2 and f.wire_type == LENGTH:
            for dim in decode_message(f.value) or []:
                if dim.wire_type != LENGTH:
                    continue
                size = [d.value for d in decode_message(dim.value) or [] if d.number == 1]
                shape.append(size[0] if size else 0)
    if not shape:
        shape = [rng.randrange(1, 5)]
    full = [rng.choice([d, d, d + 1, interesting_int(rng)]) for d in shape]
    rank = len(full) + rng.choice([0, 0, 0, 1, -1])
    count = rng.choice([1, 2, 3])
    slices = []
    for _ in range(count):
        extents = []
        for axis in range(max(rank, 0)):
            size = full[axis] if axis < len(full) else 3
            start = rng.choice([0, 0, 1, size // 2, size, -1, interesting_int(rng)])
            length = rng.choice([-1, size, size - start, 1, 0, interesting_int(rng)])
            extents.append((start, length))
        slices.append(extents)
    dtype = next((f.value for f in fields if f.number == 1 and _is_int(f)), 1)
    pairs[i] = (key, _entry(dtype, full, 0, 0, 0, 0, slices))
    for extents in slices:
        slice_dtype = rng.choice([dtype, dtype, 3, 1, 9])
        target = rng.choice(pairs)[1]
        target_fields = decode_message(target) or []
        offset = next((f.value for f in target_fields if f.number == 4 and _is_int(f)), 0)
        size = next((f.value for f in target_fields if f.number == 5 and _is_int(f)), 0)
        crc = next((f.value for f in target_fields if f.number == 6 and _is_int(f)), 0)
        slice_shape = [
            n if n >= 0 else (full[a] if a < len(full) else 3) for a, (_, n) in enumerate(extents)
        ]
        try:
            slice_name = slice_key(key, extents)
        except (OverflowError, KeyError):
            continue
        pairs.append((slice_name, _entry(slice_dtype, slice_shape, 0, offset, size, crc)))
    return pairs, f"entry {key!r} partitioned: full shape {full[:6]}, slices {slices}"


def _is_int(field: Field) -> bool:
    return isinstance(field.value, int)
