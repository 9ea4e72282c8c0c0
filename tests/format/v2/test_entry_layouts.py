"""Index entries in any layout protobuf allows read as TensorFlow reads them.

TensorFlow writes each `BundleEntryProto` in one layout, which the reader decodes by hand; protobuf
also allows fields in any order, a scalar field given twice (the last wins), a message field given
twice (the two merge: a shape's dims concatenate), padded varints and unknown fields. Each test
rewrites the index of a checkpoint TensorFlow wrote with its entries in such a layout, then checks
that we list and read exactly what TensorFlow lists and reads, and that `verify` finds nothing.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_reader import assert_matches_tensorflow
from tf_checkpoints import import_tensorflow, write_with_tf

from ckpt_browser.cli import main
from ckpt_browser.format import CheckpointError, open_checkpoint, protos
from ckpt_browser.format.sstable.reader import Table
from ckpt_browser.format.sstable.writer import TableBuilder, encode_varint
from ckpt_browser.format.v2.bundle import BundleIndex
from ckpt_browser.format.varint import read_varint

# --- protobuf on the wire ------------------------------------------------------------------------

VARINT, FIXED64, LENGTH, FIXED32 = 0, 1, 2, 5
DTYPE, SHAPE, SHARD, OFFSET, SIZE, CRC, SLICES = range(1, 8)
DIM, DIM_SIZE = 2, 1  # TensorShapeProto.dim, Dim.size


def fields(message: bytes) -> list[tuple[int, int, bytes]]:
    """(number, wire type, payload) of each field of a serialized message, in file order; the
    payload of a varint field is its value, of the others their bytes."""
    out = []
    pos = 0
    while pos < len(message):
        tag, pos = read_varint(message, pos, len(message))
        number, wire = tag >> 3, tag & 7
        if wire == VARINT:
            value, pos = read_varint(message, pos, len(message))
        elif wire == LENGTH:
            length, pos = read_varint(message, pos, len(message))
            value, pos = message[pos : pos + length], pos + length
        else:
            width = 8 if wire == FIXED64 else 4
            value, pos = message[pos : pos + width], pos + width
        out.append((number, wire, value))
    return out


def varint(value: int, padding: int = 0) -> bytes:
    """A varint, with `padding` extra bytes of zeros (valid protobuf, not the shortest form)."""
    encoded = encode_varint(value % (1 << 64))
    if padding:
        encoded = encoded[:-1] + bytes([encoded[-1] | 0x80]) + b"\x80" * (padding - 1) + b"\x00"
    return encoded


def field(number: int, wire: int, value: int | bytes, padding: int = 0) -> bytes:
    tag = varint(number << 3 | wire)
    if wire == VARINT:
        return tag + varint(value, padding)
    if wire == LENGTH:
        return tag + varint(len(value), padding) + value
    return tag + value


def serialize(parts: list[tuple[int, int, int | bytes]], padding: int = 0) -> bytes:
    return b"".join(field(n, w, v, padding) for n, w, v in parts)


# --- rewriting a checkpoint's entries -------------------------------------------------------------

Layout = Callable[[bytes], bytes]


def rewritten(prefix: str, directory: Path, layout: Layout) -> str:
    """A copy of the checkpoint at `prefix` in `directory` with every entry put in `layout`."""
    source_dir, base = Path(prefix).parent, Path(prefix).name
    for path in source_dir.glob(base + ".data-*"):
        shutil.copy(path, directory / path.name)
    new_prefix = str(directory / base)
    items = Table.open(prefix + ".index").items()
    with open(new_prefix + ".index", "wb") as file:
        table = TableBuilder(file)
        table.add(*items[0])
        for key, value in items[1:]:
            table.add(key, layout(value))
        table.finish()
    return new_prefix


def head_and_tail(entry: bytes) -> tuple[list, list]:
    """An entry's dtype and shape fields, and the others."""
    parts = fields(entry)
    return [p for p in parts if p[0] <= SHAPE], [p for p in parts if p[0] > SHAPE]


def reversed_fields(entry: bytes) -> bytes:
    """crc, size, offset, shard, shape, dtype: TensorFlow's order backwards."""
    return serialize(fields(entry)[::-1])


def reversed_tail(entry: bytes) -> bytes:
    """dtype and shape as TensorFlow writes them, then crc, size, offset, shard."""
    head, tail = head_and_tail(entry)
    return serialize(head + tail[::-1])


def tail_first(entry: bytes) -> bytes:
    """Where the bytes lie first, then slices, then dtype and shape."""
    head, tail = head_and_tail(entry)
    return serialize(tail + head)


def stale_values_first(entry: bytes) -> bytes:
    """Every scalar field given twice, a wrong value first: protobuf keeps the last. The entry
    starts as TensorFlow's do (dtype, shape) and ends with the right dtype."""
    head, tail = head_and_tail(entry)
    stale = {SHARD: 7, OFFSET: 12345, SIZE: 1, CRC: b"\x00\x00\x00\x00"}
    stale_tail = [(n, w, stale[n]) for n, w, _ in tail if n in stale]
    stale_dtype = [(DTYPE, VARINT, 2 if head[0][2] != 2 else 1)]
    return serialize(stale_dtype + head[1:] + stale_tail + tail + head[:1])


def split_shape(entry: bytes) -> bytes:
    """The shape as two fields, its first dim after the dtype and the rest at the end: the two
    merge, so the dims concatenate."""
    head, tail = head_and_tail(entry)
    dims = fields(head[1][2])
    first, last = serialize(dims[:1]), serialize(dims[1:])
    return serialize([head[0], (SHAPE, LENGTH, first), *tail, (SHAPE, LENGTH, last)])


def repeated_dim_sizes(entry: bytes) -> bytes:
    """Each dim's size given twice, 99 first: the last wins."""
    parts = []
    for number, wire, value in fields(entry):
        if number == SHAPE:
            dims = [
                (DIM, LENGTH, serialize([(DIM_SIZE, VARINT, 99), *size_given(dim)]))
                for _, _, dim in fields(value)
            ]
            value = serialize(dims)
        parts.append((number, wire, value))
    return serialize(parts)


def size_given(dim: bytes) -> list[tuple[int, int, int | bytes]]:
    """A Dim's fields with its size written even when zero (proto3 leaves it out)."""
    parts = fields(dim)
    return parts if any(n == DIM_SIZE for n, _, _ in parts) else [(DIM_SIZE, VARINT, 0), *parts]


def padded_varints(entry: bytes) -> bytes:
    """Every varint (values, lengths, dim sizes) one byte longer than it needs to be."""
    parts = []
    for number, wire, value in fields(entry):
        if number == SHAPE:
            dims = [(DIM, LENGTH, serialize(fields(d), padding=1)) for _, _, d in fields(value)]
            value = serialize(dims, padding=1)
        parts.append((number, wire, value))
    return serialize(parts, padding=1)


def padded_tail(entry: bytes) -> bytes:
    """dtype and shape as TensorFlow writes them, then shard, offset and size padded."""
    head, tail = head_and_tail(entry)
    return serialize(head) + serialize(tail, padding=3)


def unknown_fields(entry: bytes) -> bytes:
    """Fields TensorFlow's schema does not have, before, inside and after: protobuf skips them."""
    head, tail = head_and_tail(entry)
    return (
        field(15, VARINT, 3)
        + serialize(head)
        + field(16, LENGTH, b"\x08\x01\x12\x00")
        + serialize(tail)
        + field(17, FIXED32, b"\x01\x02\x03\x04")
        + field(18, FIXED64, bytes(8))
    )


def explicit_zeros(entry: bytes) -> bytes:
    """Shard, offset and size written even when zero (proto3 leaves them out), in order."""
    head, tail = head_and_tail(entry)
    present = {n for n, _, _ in tail}
    zeros = [(n, VARINT, 0) for n in (SHARD, OFFSET, SIZE) if n not in present]
    return serialize(head + sorted(tail + zeros, key=lambda part: part[0]))


LAYOUTS = [
    reversed_fields,
    reversed_tail,
    tail_first,
    stale_values_first,
    split_shape,
    repeated_dim_sizes,
    padded_varints,
    padded_tail,
    unknown_fields,
    explicit_zeros,
]


@pytest.mark.parametrize("layout", LAYOUTS, ids=lambda layout: layout.__name__)
@pytest.mark.parametrize("fixture", ["all_dtypes_ckpt", "sharded_ckpt", "tf1_partitioned"])
def test_entries_in_any_layout_read_as_tensorflow_reads_them(request, tmp_path, fixture, layout):
    prefix = rewritten(request.getfixturevalue(fixture).prefix, tmp_path, layout)
    assert_matches_tensorflow(prefix)
    with open_checkpoint(prefix) as ckpt:
        assert ckpt.verify() == []
        assert not ckpt.check_shards().messages


def test_a_shard_given_after_the_offset_is_the_shard_read(tmp_path):
    """The case found by fuzzing: `show` printed another shard's bytes ([111 ...])."""
    tf = import_tensorflow()
    prefix = str(tmp_path / "src" / "model")
    (tmp_path / "src").mkdir()
    tf.raw_ops.SaveV2(
        prefix=prefix,
        tensor_names=["a", "b"],
        shape_and_slices=["", ""],
        tensors=[tf.constant([111, 112, 113, 114]), tf.constant([1, 2, 3, 4])],
    )
    # TensorFlow wrote both into one shard; put "b" alone in shard 1 of two, "a" in shard 0.
    items = dict(Table.open(prefix + ".index").items())
    data = Path(prefix + ".data-00000-of-00001").read_bytes()
    b = protos.BundleEntryProto.FromString(items[b"b"])
    out = str(tmp_path / "model")
    Path(out + ".data-00000-of-00002").write_bytes(data)
    Path(out + ".data-00001-of-00002").write_bytes(data[b.offset : b.offset + b.size])
    header = protos.BundleHeaderProto.FromString(items[b""])
    header.num_shards = 2
    head = [p for p in fields(items[b"b"]) if p[0] in (DTYPE, SHAPE)]
    crc = b.crc32c.to_bytes(4, "little")
    tail = [(OFFSET, VARINT, 0), (SIZE, VARINT, b.size), (CRC, FIXED32, crc), (SHARD, VARINT, 1)]
    b_entry = serialize(head + tail)
    with open(out + ".index", "wb") as file:
        table = TableBuilder(file)
        table.add(b"", header.SerializeToString())
        table.add(b"a", items[b"a"])
        table.add(b"b", b_entry)
        table.finish()
    assert tf.train.load_checkpoint(out).get_tensor("b").tolist() == [1, 2, 3, 4]
    assert_matches_tensorflow(out)
    with open_checkpoint(out) as ckpt:
        assert ckpt["b"].shard == 1
        assert ckpt.verify() == []


def test_remap_copies_what_tensorflow_reads(capsys, tmp_path, sharded_ckpt):
    """`remap` of entries in another layout writes the tensors TensorFlow reads from them."""
    tf = import_tensorflow()
    (tmp_path / "in").mkdir()
    source = rewritten(sharded_ckpt.prefix, tmp_path / "in", reversed_tail)
    output = str(tmp_path / "out" / "model")
    assert main(["remap", source, output]) == 0, capsys.readouterr().err
    before, after = tf.train.load_checkpoint(source), tf.train.load_checkpoint(output)
    for name, _shape in tf.train.list_variables(source):
        np.testing.assert_array_equal(after.get_tensor(name), before.get_tensor(name))


@pytest.mark.parametrize("packed", [True, False], ids=["packed", "unpacked"])
def test_header_listing_this_reader_as_a_bad_consumer_is_refused(tmp_path, packed):
    """TensorFlow refuses a bundle whose header lists consumer version 1 among bad_consumers,
    however the repeated field is encoded."""
    tf = import_tensorflow()
    prefix = write_with_tf(tmp_path / "model", {"x": np.arange(3, dtype=np.int32)})
    items = Table.open(prefix + ".index").items()
    consumers = [0, 1, 5]
    if packed:
        bad = field(3, LENGTH, b"".join(varint(c) for c in consumers))
    else:
        bad = b"".join(field(3, VARINT, c) for c in consumers)
    version = field(1, VARINT, 1) + bad
    header = field(1, VARINT, 1) + field(3, LENGTH, version)
    with open(prefix + ".index", "wb") as file:
        table = TableBuilder(file)
        table.add(b"", header)
        table.add(*items[1])
        table.finish()
    with pytest.raises(Exception, match="disallows consumer version 1"):
        tf.train.load_checkpoint(prefix).get_tensor("x")
    with pytest.raises(CheckpointError, match="disallows consumer version 1"):
        open_checkpoint(prefix)


# --- the hand-written path and protobuf agree on any bytes ---------------------------------------


def decoded(index: BundleIndex, key: bytes, value: bytes, parse) -> tuple | str:
    """What a parser makes of an entry: its fields, or the error it raises."""
    try:
        entry = parse(key, value)
        return (entry.dtype, entry.shape, entry.shard_id, entry.slices, entry.offset, entry.size,
                entry.crc32c)  # fmt: skip
    except CheckpointError as exc:
        return str(exc)


small_ints = st.one_of(st.integers(0, 300), st.integers(0, 1 << 64), st.integers(-(1 << 63), -1))


@st.composite
def varint_field(draw, number: int) -> bytes:
    return field(number, VARINT, draw(small_ints), draw(st.integers(0, 2)))


@st.composite
def dim(draw) -> bytes:
    parts = draw(st.lists(st.one_of(varint_field(DIM_SIZE), varint_field(2)), max_size=3))
    return field(DIM, LENGTH, b"".join(parts), draw(st.integers(0, 1)))


@st.composite
def shape(draw) -> bytes:
    parts = draw(st.lists(st.one_of(dim(), varint_field(3)), max_size=4))
    return field(SHAPE, LENGTH, b"".join(parts), draw(st.integers(0, 1)))


@st.composite
def canonical_entry(draw) -> bytes:
    """An entry as TensorFlow writes it, through protobuf's own serializer."""
    proto = protos.BundleEntryProto(
        dtype=draw(st.sampled_from([1, 2, 3, 7, 9, 14, 21, 77])),
        shard_id=draw(st.integers(0, (1 << 31) - 1)),
        offset=draw(st.integers(0, (1 << 63) - 1)),
        size=draw(st.integers(0, (1 << 63) - 1)),
        crc32c=draw(st.integers(0, (1 << 32) - 1)),
    )
    for size in draw(st.lists(st.integers(0, 1 << 62), max_size=4)):
        proto.shape.dim.add(size=size)
    proto.shape.SetInParent()
    return proto.SerializeToString()


@st.composite
def any_entry(draw) -> bytes:
    """Canonical entries, then the same with fields moved, repeated, padded, added or cut."""
    parts = fields(draw(canonical_entry()))
    pieces = [field(n, w, v) for n, w, v in parts]
    edits = draw(st.lists(st.integers(0, 6), max_size=3))
    for edit in edits:
        if edit == 0 and len(pieces) > 1:
            i, j = draw(st.integers(0, len(pieces) - 1)), draw(st.integers(0, len(pieces) - 1))
            pieces[i], pieces[j] = pieces[j], pieces[i]
        elif edit == 1 and pieces:
            pieces.insert(draw(st.integers(0, len(pieces))), draw(st.sampled_from(pieces)))
        elif edit == 2:
            number = draw(st.sampled_from([DTYPE, SHARD, OFFSET, SIZE, 9]))
            pieces.insert(draw(st.integers(0, len(pieces))), draw(varint_field(number)))
        elif edit == 3:
            pieces.insert(draw(st.integers(0, len(pieces))), draw(shape()))
        elif edit == 4:
            crc = field(CRC, FIXED32, draw(st.binary(min_size=4, max_size=4)))
            pieces.insert(draw(st.integers(0, len(pieces))), crc)
        elif edit == 5:
            extent = field(1, LENGTH, field(1, VARINT, 0) + field(2, VARINT, 1))
            pieces.append(field(SLICES, LENGTH, extent))
        elif edit == 6 and pieces:
            i = draw(st.integers(0, len(pieces) - 1))
            pieces[i] = pieces[i][: draw(st.integers(0, max(0, len(pieces[i]) - 1)))]
    return b"".join(pieces)


@settings(
    max_examples=1500,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(st.one_of(canonical_entry(), any_entry(), st.binary(max_size=40)))
def test_the_hand_written_path_reads_what_protobuf_reads(all_dtypes_ckpt, value):
    index = BundleIndex(all_dtypes_ckpt.prefix)
    fast = decoded(index, b"x", value, index._parse_entry)
    assert fast == decoded(index, b"x", value, index._parse_entry_proto)


def test_the_hand_written_path_takes_the_entries_tensorflow_writes(many_variables_ckpt):
    """The property above would hold with no fast path at all; this keeps it in use."""
    index = BundleIndex(many_variables_ckpt.prefix)
    stored = dict(Table.open(index.index_path).items())
    assert all(entry.raw == stored[entry.key] for entry in index.entries.values())
