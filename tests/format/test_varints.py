"""Varints read as TensorFlow reads them: at most 5 or 10 bytes, bits past the width dropped.

A string tensor's lengths are 64-bit varints; a hostile one of 10 bytes can spell 2**64 and more,
which once made `verify` fail with an OverflowError traceback.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from tf_checkpoints import import_tensorflow, write_with_tf

from ckpt_browser.cli import main
from ckpt_browser.format import CheckpointError, open_checkpoint, protos
from ckpt_browser.format.crc import crc32c, mask
from ckpt_browser.format.sstable.reader import Table
from ckpt_browser.format.sstable.writer import TableBuilder, encode_varint
from ckpt_browser.format.varint import VarintError, read_varint

# 3 + 2**64 in 10 bytes: TensorFlow keeps the low 64 bits, 3.
LENGTH_3_PLUS_2_TO_64 = bytes([0x83, *[0x80] * 8, 0x02])


@given(st.integers(0, (1 << 64) - 1))
def test_every_64_bit_value_reads_back(value):
    encoded = encode_varint(value)
    assert read_varint(encoded + b"\xff", 0, len(encoded)) == (value, len(encoded))


@pytest.mark.parametrize(
    ("encoded", "bits", "value"),
    [
        (LENGTH_3_PLUS_2_TO_64, 64, 3),
        (bytes([0xFF] * 9 + [0x7F]), 64, (1 << 64) - 1),
        (bytes([0x81, 0x80, 0x80, 0x80, 0x10]), 32, 1),  # 1 + 2**32
        (b"\x80\x00", 64, 0),  # padded: longer than needed, still the value
    ],
)
def test_bits_past_the_width_are_dropped_as_tensorflow_drops_them(encoded, bits, value):
    assert read_varint(encoded, 0, len(encoded), bits) == (value, len(encoded))


@pytest.mark.parametrize(
    ("encoded", "bits", "message"),
    [
        (bytes([0x80] * 10 + [0x01]), 64, "longer than the 10 bytes of a 64-bit varint"),
        (bytes([0x80] * 5 + [0x01]), 32, "longer than the 5 bytes of a 32-bit varint"),
        (b"\x80\x80", 64, "runs past the end"),
        (b"", 64, "runs past the end"),
    ],
)
def test_malformed_varints_say_what_is_wrong(encoded, bits, message):
    with pytest.raises(VarintError, match=message):
        read_varint(encoded, 0, len(encoded), bits)


def string_tensor_with_first_length(directory: Path, length: bytes, fix_crc: bool) -> str:
    """A TensorFlow checkpoint of ["abc", "de"] whose first length varint is `length`; with
    `fix_crc`, the stored checksum is the one TensorFlow computes over the lengths it reads."""
    prefix = write_with_tf(directory / "model", {"s": np.array([b"abc", b"de"], dtype=object)})
    header, (key, value) = Table.open(prefix + ".index").items()
    entry = protos.BundleEntryProto.FromString(value)
    data = Path(prefix + ".data-00000-of-00001").read_bytes()
    stored = data[entry.offset : entry.offset + entry.size]
    assert stored[:2] == b"\x03\x02"
    new = length + stored[1:]
    entry.size = len(new)
    if fix_crc:
        lengths_crc = crc32c((3).to_bytes(4, "little") + (2).to_bytes(4, "little"))
        entry.crc32c = mask(crc32c(stored[2:], lengths_crc))
    Path(prefix + ".data-00000-of-00001").write_bytes(
        data[: entry.offset] + new + data[entry.offset + len(stored) :]
    )
    with open(prefix + ".index", "wb") as file:
        table = TableBuilder(file)
        table.add(*header)
        table.add(key, entry.SerializeToString())
        table.finish()
    return prefix


def test_a_string_length_past_2_to_64_reads_as_tensorflow_reads_it(tmp_path):
    prefix = string_tensor_with_first_length(tmp_path, LENGTH_3_PLUS_2_TO_64, fix_crc=True)
    theirs = import_tensorflow().train.load_checkpoint(prefix).get_tensor("s")
    assert theirs.tolist() == [b"abc", b"de"]
    with open_checkpoint(prefix) as ckpt:
        assert ckpt.read("s").tolist() == [b"abc", b"de"]
        assert ckpt.verify() == []


def test_verify_of_a_string_length_of_2_to_70_is_one_sentence(capsys, tmp_path):
    """The fuzzed case: ten bytes of ones, 2**70 - 1, of which TensorFlow keeps 2**64 - 1."""
    prefix = string_tensor_with_first_length(tmp_path, bytes([0xFF] * 9 + [0x7F]), False)
    assert main(["verify", prefix]) != 0
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err
    assert "damaged: s: " in out and "checksum does not match" in out
    with (
        open_checkpoint(prefix) as ckpt,
        pytest.raises(
            CheckpointError, match="tensor 's': its string lengths' checksum does not match"
        ),
    ):
        ckpt.read("s")


def test_a_string_length_of_eleven_bytes_is_refused_naming_the_tensor(capsys, tmp_path):
    prefix = string_tensor_with_first_length(tmp_path, bytes([0x83, *[0x80] * 9, 0x01]), False)
    with open_checkpoint(prefix) as ckpt:
        with pytest.raises(CheckpointError, match="tensor 's': the length of string 0 is longer"):
            ckpt.read("s")
        [problem] = ckpt.verify()
    assert "the length of string 0 is longer than the 10 bytes of a 64-bit varint" in (
        problem.message
    )
    assert main(["verify", prefix]) != 0
    assert "damaged: s: " in capsys.readouterr().out


def test_a_block_entry_varint_longer_than_5_bytes_is_a_bad_entry(tmp_path):
    """Keys and values are 32-bit varints in LevelDB's blocks."""
    block = bytes([0x80] * 5 + [0x01]) + b"\x01\x01ab"
    block += (0).to_bytes(4, "little") + (1).to_bytes(4, "little")
    table = Table.__new__(Table)
    table.path = str(tmp_path / "x.index")
    with pytest.raises(CheckpointError, match="bad entry in block"):
        table._entries(block, "data block", 0)
