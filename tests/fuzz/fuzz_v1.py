"""Mutations of a legacy V1 checkpoint file: its table's bytes, or its entries' protobuf fields.

"v1-bytes" changes the file as bytes: flips and cuts anywhere, a block's bytes with its CRC
sealed again (so the change reaches the entries), the footer, or the table laid out again as
TensorFlow also reads it (small blocks, other restart intervals, snappy). "v1-fields" changes
what the entries say and writes the table again with valid CRCs: element counts that do not
match the slice, overlapping, out-of-bounds or malformed slices, huge or invalid shapes, version
fields, missing data entries, values written unpacked or in two runs (TensorFlow reads these: the
values must be the same), hostile and non-UTF-8 names, other dtypes, values in `tensor_content`,
stray fields, and any field of the metadata or a data entry at the wire level.
"""

from __future__ import annotations

import random

from fuzz_mutators import mutate_bytes, mutate_proto
from fuzz_v1_entries import V1File
from fuzz_v1_fields import OPERATIONS
from fuzz_wire import build_table, reseal_block, table_blocks, table_items

# -- v1-bytes -------------------------------------------------------------------------------------


def mutate_v1_bytes(data: bytes, rng: random.Random) -> tuple[bytes, str]:
    op = rng.choice(["bytes", "bytes", "flip", "block", "block", "footer", "cut", "layout"])
    if op == "bytes" or len(data) < 48:
        return mutate_bytes(data, rng)
    if op == "flip":
        out = bytearray(data)
        pos = rng.randrange(len(out))
        out[pos] ^= 1 << rng.randrange(8)
        return bytes(out), f"flip a bit at {pos}"
    if op == "footer":
        out = bytearray(data)
        pos = len(out) - 48 + rng.randrange(40)
        out[pos] = rng.choice([0, 0x7F, 0x80, 0xFF, rng.randrange(256)])
        return bytes(out), f"footer byte {pos} set to {out[pos]:#x}"
    try:
        blocks = [(o, n) for o, n in table_blocks(data) if o + n + 5 <= len(data) - 48]
        pairs = table_items(data) if op == "layout" else []
    except Exception:  # an earlier change broke the table: bytes are all that is left
        return mutate_bytes(data, rng)
    if not blocks:
        return mutate_bytes(data, rng)
    if op == "cut":
        offset, size = rng.choice(blocks)
        cut = rng.choice([offset, offset + size, offset + size + 5, len(data) - 48])
        return data[:cut], f"cut to {cut} bytes (at a block boundary)"
    if op == "block":
        out = bytearray(data)
        offset, size = rng.choice(blocks)
        new, what = mutate_bytes(bytes(out[offset : offset + size]), rng)
        out[offset : offset + size] = (new + bytes(size))[:size]
        reseal_block(out, offset, size)
        return bytes(out), f"block at {offset} (CRC sealed again): {what}"
    layout = {
        "block_size": rng.choice([16, 64, 200, 1024]),
        "restart_interval": rng.choice([1, 2, 3, 16]),
        "snappy": rng.random() < 0.5,
    }
    return build_table(pairs, **layout), f"laid out again {layout}"


# -- v1-fields ------------------------------------------------------------------------------------

FIELD_OPERATORS = {
    "meta-wire": 2,
    "data-wire": 2,
    "count": 1.5,
    "slices": 2,
    "resplit": 1.5,
    "shape": 1.5,
    "versions": 1,
    "missing": 1,
    "unpack": 1.5,
    "names": 1.5,
    "dtype": 1,
    "content": 0.7,
    "stray": 1,
    "order": 0.3,
}


def mutate_v1_fields(data: bytes, rng: random.Random) -> tuple[bytes, str]:
    try:
        pairs = table_items(data)
    except Exception:  # an earlier change broke the table: bytes are all that is left
        return mutate_bytes(data, rng)
    file = V1File.parse(pairs)
    op = rng.choices(list(FIELD_OPERATORS), list(FIELD_OPERATORS.values()))[0]
    tensors = file.tensors()
    if not tensors and op not in ("data-wire", "order"):
        op = "meta-wire"
    has_meta = bool(file.pairs) and file.pairs[0][0] == b""
    if op == "meta-wire" and not has_meta:
        op = "data-wire"
    if op == "data-wire" and not file.data_keys():
        op = "order"
    if op == "meta-wire":
        new, what = mutate_proto(file.pairs[0][1], rng)
        file.pairs[0] = (b"", new)
        description = f"metadata: {what}"
    elif op in ("data-wire", "order"):
        if not file.pairs:
            return mutate_bytes(data, rng)
        description = _wire_or_order(file, op, rng)
    else:
        position, tensor = rng.choice(tensors)
        description = OPERATIONS[op](file, position, tensor, rng)
    pairs = file.pairs
    if op != "order":
        pairs = [p for p in pairs if p[0] == b""][:1] + sorted(p for p in pairs if p[0] != b"")
    return build_table(pairs), description


def _wire_or_order(file: V1File, op: str, rng: random.Random) -> str:
    if op == "order":
        i, j = rng.randrange(len(file.pairs)), rng.randrange(len(file.pairs))
        if rng.random() < 0.5:
            file.pairs[i], file.pairs[j] = file.pairs[j], file.pairs[i]
            return f"entries {i} and {j} swapped (keys out of order)"
        file.pairs.insert(j, file.pairs[i])
        return f"entry {file.pairs[i][0]!r} twice"
    i = rng.choice(file.data_keys())
    key, value = file.pairs[i]
    new, what = mutate_proto(value, rng)
    file.pairs[i] = (key, new)
    return f"data entry {key!r}: {what}"


def mutate_v1(data: bytes, rng: random.Random, family: str) -> tuple[bytes, str]:
    if family == "v1-bytes":
        return mutate_v1_bytes(data, rng)
    return mutate_v1_fields(data, rng)
