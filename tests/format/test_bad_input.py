"""Damaged, truncated, absurd and wrong files: a CheckpointError in one sentence, never a crash."""

from __future__ import annotations

import io
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ckpt_browser.format import CheckpointError, open_checkpoint, protos, resolve_prefix
from ckpt_browser.format.sstable.writer import TableBuilder


def copy_checkpoint(prefix: str, directory: Path) -> str:
    """Copy a prefix's files into `directory`; return the new prefix (tests damage the copy)."""
    source_dir, base = os.path.split(prefix)
    for name in os.listdir(source_dir):
        if name.startswith(base + "."):
            shutil.copy(os.path.join(source_dir, name), directory / name)
    return str(directory / base)


def write_index(prefix: str, entries: dict[bytes, bytes], num_shards: int = 1) -> None:
    header = protos.BundleHeaderProto(num_shards=num_shards)
    header.version.producer = 1
    with open(prefix + ".index", "wb") as file:
        table = TableBuilder(file)
        table.add(b"", header.SerializeToString())
        for key in sorted(entries):
            table.add(key, entries[key])
        table.finish()


def entry(dtype: int, shape: list[int], offset: int = 0, size: int = 0) -> bytes:
    proto = protos.BundleEntryProto(dtype=dtype, offset=offset, size=size)
    for d in shape:
        proto.shape.dim.add(size=d)
    proto.shape.SetInParent()
    return proto.SerializeToString()


def read_everything(path: str) -> None:
    """What a user does: open, list, read every tensor, verify."""
    with open_checkpoint(path) as ckpt:
        for name in ckpt:
            ckpt.read(name)
        ckpt.verify()


def expect_error(path: str, match: str) -> CheckpointError:
    with pytest.raises(CheckpointError, match=match) as info:
        read_everything(path)
    message = str(info.value)
    assert "\n" not in message
    return info.value


@pytest.fixture
def damaged(all_dtypes_ckpt, tmp_path) -> str:
    return copy_checkpoint(all_dtypes_ckpt.prefix, tmp_path)


def test_empty_index(damaged):
    Path(damaged + ".index").write_bytes(b"")
    error = expect_error(damaged, "too short to be an sstable")
    assert damaged + ".index" in str(error)


def test_truncated_index(damaged):
    data = Path(damaged + ".index").read_bytes()
    Path(damaged + ".index").write_bytes(data[: len(data) // 2])
    expect_error(damaged, "bad magic number|too short")


def test_random_bytes_as_index(damaged):
    Path(damaged + ".index").write_bytes(np.random.default_rng(1).bytes(5000))
    expect_error(damaged, "not an sstable")


def test_bit_flip_in_index_block(damaged):
    data = bytearray(Path(damaged + ".index").read_bytes())
    data[20] ^= 0x10
    Path(damaged + ".index").write_bytes(bytes(data))
    expect_error(damaged, "block checksum mismatch")


def test_missing_data_shard(damaged):
    os.remove(damaged + ".data-00000-of-00001")
    error = expect_error(damaged, "data shard is missing")
    assert ".data-00000-of-00001" in str(error)


def test_short_data_shard(damaged):
    data_path = damaged + ".data-00000-of-00001"
    size = os.path.getsize(data_path)
    with open(data_path, "r+b") as file:
        file.truncate(size - 100)
    expect_error(damaged, "past the end of the data file")


def test_bit_flip_in_data_is_found_by_verify(damaged):
    data_path = damaged + ".data-00000-of-00001"
    with open_checkpoint(damaged) as ckpt:
        info = max(ckpt.values(), key=lambda i: i.nbytes if i.dtype.name == "float32" else 0)
        offset = ckpt._index.entries[info.name].offset
    with open(data_path, "r+b") as file:
        file.seek(offset + 7)
        byte = file.read(1)
        file.seek(offset + 7)
        file.write(bytes([byte[0] ^ 1]))
    with open_checkpoint(damaged) as ckpt:
        problems = ckpt.verify()
    assert [p.name for p in problems] == [info.name]
    assert "checksum does not match" in problems[0].message


def test_absurd_shape_is_refused_without_allocating(tmp_path):
    prefix = str(tmp_path / "absurd")
    write_index(prefix, {b"huge": entry(1, [1_000_000, 1_000_000], size=4)})
    Path(prefix + ".data-00000-of-00001").write_bytes(b"\0" * 4)
    expect_error(prefix, "invalid size in bundle entry.*expected size 4000000000000")


def test_absurd_string_count_is_refused(tmp_path):
    prefix = str(tmp_path / "strings")
    write_index(prefix, {b"s": entry(7, [10**12], size=8)})
    Path(prefix + ".data-00000-of-00001").write_bytes(b"\0" * 8)
    expect_error(prefix, "invalid size in bundle entry.*expected at least 1000000000000")


def test_offset_past_end_of_file(tmp_path):
    prefix = str(tmp_path / "offset")
    write_index(prefix, {b"x": entry(1, [2], offset=1 << 40, size=8)})
    Path(prefix + ".data-00000-of-00001").write_bytes(b"\0" * 8)
    expect_error(prefix, "past the end of the data file")


def test_unknown_dtype_and_negative_dims(tmp_path):
    prefix = str(tmp_path / "dtype")
    write_index(prefix, {b"x": entry(77, [2])})
    expect_error(prefix, "unknown dtype number 77")
    write_index(prefix, {b"x": entry(1, [-3])})
    expect_error(prefix, "invalid tensor shape")


def test_state_file_pointing_nowhere(tmp_path):
    (tmp_path / "checkpoint").write_text('model_checkpoint_path: "model.ckpt-9"\n')
    with pytest.raises(CheckpointError, match=r"names 'model.ckpt-9'.*does not exist"):
        resolve_prefix(str(tmp_path))


def test_meta_without_checkpoint(tmp_path, tf1_training_dir):
    meta = tf1_training_dir.prefixes[-1] + ".meta"
    shutil.copy(meta, tmp_path / "lonely.meta")
    with pytest.raises(CheckpointError, match=r"graph \(.meta\)"):
        open_checkpoint(tmp_path / "lonely.meta")


def test_wrong_files(tmp_path, tf1_training_dir):
    text = tmp_path / "notes.txt"
    text.write_text("hello")
    with pytest.raises(CheckpointError, match="not a checkpoint"):
        open_checkpoint(text)
    with pytest.raises(CheckpointError, match="no such file"):
        open_checkpoint(tmp_path / "nothing-here")
    with pytest.raises(CheckpointError, match="no checkpoint here"):
        open_checkpoint(tmp_path)
    # A .meta graph renamed to .index is not an sstable.
    shutil.copy(tf1_training_dir.prefixes[-1] + ".meta", tmp_path / "graph.index")
    with pytest.raises(CheckpointError, match=r"not an sstable|too short"):
        open_checkpoint(tmp_path / "graph.index")


def test_source_is_never_modified(all_dtypes_ckpt):
    before = {
        name: Path(os.path.dirname(all_dtypes_ckpt.prefix), name).read_bytes()
        for name in os.listdir(os.path.dirname(all_dtypes_ckpt.prefix))
    }
    read_everything(all_dtypes_ckpt.prefix)
    after = {
        name: Path(os.path.dirname(all_dtypes_ckpt.prefix), name).read_bytes() for name in before
    }
    assert before == after


@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=st.data())
def test_mutated_index_never_crashes(all_dtypes_ckpt, tmp_path_factory, data):
    """Any change to a real index gives a readable checkpoint or a CheckpointError, nothing else."""
    directory = tmp_path_factory.mktemp("mutated")
    prefix = copy_checkpoint(all_dtypes_ckpt.prefix, directory)
    original = Path(prefix + ".index").read_bytes()
    mutated = bytearray(original)
    action = data.draw(st.sampled_from(["flip", "truncate", "splice", "overwrite"]))
    if action == "flip":
        for _ in range(data.draw(st.integers(1, 8))):
            position = data.draw(st.integers(0, len(mutated) - 1))
            mutated[position] ^= 1 << data.draw(st.integers(0, 7))
    elif action == "truncate":
        del mutated[data.draw(st.integers(0, len(mutated) - 1)) :]
    elif action == "splice":
        position = data.draw(st.integers(0, len(mutated)))
        mutated[position:position] = data.draw(st.binary(min_size=1, max_size=64))
    else:
        position = data.draw(st.integers(0, len(mutated) - 1))
        chunk = data.draw(st.binary(min_size=1, max_size=16))
        mutated[position : position + len(chunk)] = chunk
    Path(prefix + ".index").write_bytes(bytes(mutated))
    try:
        read_everything(prefix)
    except CheckpointError as error:
        assert "\n" not in str(error)


@settings(max_examples=60, deadline=None)
@given(st.binary(max_size=400))
def test_arbitrary_bytes_as_index(tmp_path_factory, blob):
    prefix = str(tmp_path_factory.mktemp("arbitrary") / "x")
    Path(prefix + ".index").write_bytes(blob)
    with pytest.raises(CheckpointError):
        read_everything(prefix)


def test_table_builder_round_trip_in_memory():
    """The helper used above writes tables the reader accepts (guards the tests themselves)."""
    buffer = io.BytesIO()
    table = TableBuilder(buffer)
    for i in range(1000):
        table.add(f"k{i:05d}".encode(), b"v" * (i % 7))
    table.finish()
    from ckpt_browser.format.sstable.reader import Table

    items = Table(buffer.getvalue(), "memory").items()
    assert [k for k, _ in items] == [f"k{i:05d}".encode() for i in range(1000)]
