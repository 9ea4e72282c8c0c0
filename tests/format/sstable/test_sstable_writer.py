"""The SSTable writer: TensorFlow's exact layout, checked against the format doc's worked example.

Byte-for-byte agreement with TensorFlow on real checkpoints (many blocks, long keys) is tested in
test_writer.py, where TensorFlow writes the same tensors; here the table is read back with the
project's reader to cover what TensorFlow never writes (huge values, odd keys).
"""

from __future__ import annotations

import io

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ckpt_browser.format import protos
from ckpt_browser.format.sstable.reader import Table
from ckpt_browser.format.sstable.writer import (
    BLOCK_SIZE,
    TableBuilder,
    encode_varint,
    short_successor,
    shortest_separator,
)

# Format doc 2.9: a checkpoint holding only `a` = float32 [0, 0].
WORKED_EXAMPLE = bytes.fromhex(
    "00 00 06 08 01 1a 02 08 01"
    "00 01 0f 61 08 01 12 04 12 02 08 02 28 08 35 29 03 98 07"
    "00 00 00 00 01 00 00 00"
    "00 1f 95 c2 4d"
    "00 00 00 00 01 00 00 00 00 c0 f2 a1 b0"
    "00 01 02 62 00 24 00 00 00 00 01 00 00 00 00 5a 99 6b 35"
    "29 08 36 0e" + "00" * 36 + "57 fb 80 8b 24 75 47 db"
)


def build(entries: list[tuple[bytes, bytes]], **options: int) -> bytes:
    file = io.BytesIO()
    builder = TableBuilder(file, **options)
    for key, value in entries:
        builder.add(key, value)
    size = builder.finish()
    assert size == len(file.getvalue())
    return file.getvalue()


def test_worked_example_is_reproduced_byte_for_byte() -> None:
    header = protos.BundleHeaderProto(num_shards=1)
    header.version.producer = 1
    entry = protos.BundleEntryProto(dtype=1, size=8, crc32c=0x07980329)
    entry.shape.dim.add(size=2)
    table = build([(b"", header.SerializeToString()), (b"a", entry.SerializeToString())])
    assert len(table) == 121
    assert table == WORKED_EXAMPLE


def test_empty_table_reads_back_empty() -> None:
    assert list(Table(build([]), "empty.index")) == []


@pytest.mark.parametrize("keys", [[b"b", b"a"], [b"a", b"a"], [b"", b""], [b"ab", b"a"]])
def test_keys_out_of_order_are_refused(keys: list[bytes]) -> None:
    builder = TableBuilder(io.BytesIO())
    builder.add(keys[0], b"v")
    with pytest.raises(ValueError, match="strictly increasing"):
        builder.add(keys[1], b"v")


def test_adding_after_finish_is_refused() -> None:
    builder = TableBuilder(io.BytesIO())
    builder.finish()
    with pytest.raises(ValueError, match="finished"):
        builder.add(b"a", b"v")


@pytest.mark.parametrize(
    ("start", "limit", "separator"),
    [
        (b"the quick brown fox", b"the who", b"the r"),
        (b"abc", b"abd", b"abc"),  # the differing bytes are adjacent: nothing shorter fits
        (b"ab", b"abc", b"ab"),  # a prefix of the other
        (b"a\xff\x01", b"b", b"a\xff\x01"),
        (b"a\xffz", b"a\xff\xff", b"a\xff{"),
    ],
)
def test_shortest_separator(start: bytes, limit: bytes, separator: bytes) -> None:
    assert shortest_separator(start, limit) == separator
    assert start <= separator < limit


@pytest.mark.parametrize(
    ("key", "successor"),
    [
        (b"save_counter/.ATTRIBUTES/VARIABLE_VALUE", b"t"),
        (b"\xff\xffa", b"\xff\xffb"),
        (b"\xff\xff", b"\xff\xff"),
        (b"", b""),
    ],
)
def test_short_successor(key: bytes, successor: bytes) -> None:
    assert short_successor(key) == successor


@pytest.mark.parametrize(
    ("value", "encoded"),
    [(0, "00"), (127, "7f"), (128, "8001"), (300, "ac02"), (2**64 - 1, "ffffffffffffffffff01")],
)
def test_varint(value: int, encoded: str) -> None:
    assert encode_varint(value) == bytes.fromhex(encoded)


def test_many_blocks_round_trip_and_blocks_stay_near_the_block_size() -> None:
    entries = [
        (f"scope_{i // 100:04d}/variable_{i:06d}/kernel".encode(), b"v" * (i % 50))
        for i in range(30_000)
    ]
    table = build(entries)
    assert list(Table(table, "many.index")) == entries
    # About 1.5 MB of entries in 256 KiB blocks: several blocks, none much over the block size.
    assert len(table) > 4 * BLOCK_SIZE


def test_an_overly_large_value_gets_a_block_of_its_own() -> None:
    # A value of twice the block size flushes the block before it; the one after it flushes too.
    entries = [(b"a", b"small"), (b"b", b"x" * (2 * BLOCK_SIZE)), (b"c", b"small")]
    table = build(entries)
    assert list(Table(table, "large.index")) == entries
    # Block a: 1 entry of 3+1+5 bytes, one restart: 9 + 4 + 4 = 17 bytes, then its trailer; so the
    # big entry's block starts right after, at offset 22.
    assert table[22:25] == bytes([0, 1]) + encode_varint(2 * BLOCK_SIZE)[:1]


@settings(max_examples=60, deadline=None)
@given(
    st.dictionaries(st.binary(max_size=40), st.binary(max_size=3000), max_size=300),
    st.sampled_from([64, 1024, BLOCK_SIZE]),
)
def test_random_tables_round_trip(entries: dict[bytes, bytes], block_size: int) -> None:
    ordered = sorted(entries.items())
    assert list(Table(build(ordered, block_size=block_size), "random.index")) == ordered
