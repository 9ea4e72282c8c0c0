"""Snappy-compressed index blocks, as in TensorFlow Serving's own test SavedModels (tests/data/)."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
from tf_checkpoints import import_tensorflow

from ckpt_browser.format import CheckpointError, open_checkpoint
from ckpt_browser.format.crc import crc32c, mask
from ckpt_browser.format.sstable import reader as sstable
from ckpt_browser.format.varint import read_varint

TF_SERVING = Path(__file__).resolve().parents[2] / "data" / "tf_serving"
PREFIXES = [
    TF_SERVING / model / "00000123" / "variables" / "variables"
    for model in ("saved_model_half_plus_two_cpu", "saved_model_half_plus_two_tf2_cpu")
]
OBJECT_GRAPH_KEY = "_CHECKPOINTABLE_OBJECT_GRAPH"


def first_data_block(index: bytes) -> tuple[int, int]:
    """(size, compression byte) of the block at offset 0, found from the table's index block."""
    table = sstable.Table(index, "index")
    _separator, handle = table._entries(table._index_block, "index block", 0)[0]
    offset, pos = read_varint(handle, 0, len(handle))
    size, _ = read_varint(handle, pos, len(handle))
    assert offset == 0
    return size, index[size]


@pytest.mark.parametrize("prefix", PREFIXES, ids=lambda p: p.parts[-4])
def test_tf_serving_checkpoint_reads_as_tensorflow_reads_it(prefix):
    _size, compression = first_data_block(Path(f"{prefix}.index").read_bytes())
    assert compression == sstable.COMPRESSION_SNAPPY  # the file is what this test is about
    tf = import_tensorflow()
    reader = tf.train.load_checkpoint(str(prefix))
    theirs = dict(tf.train.list_variables(str(prefix)))
    with open_checkpoint(str(prefix)) as ckpt:
        assert {name: list(ckpt[name].shape) for name in ckpt} == theirs
        for name in ckpt:
            if name == OBJECT_GRAPH_KEY:
                assert ckpt.read(name).item() == reader.get_tensor(name)
                continue
            expected = reader.get_tensor(name)
            ours = ckpt.read(name)
            assert ours.dtype == expected.dtype and ours.shape == expected.shape
            np.testing.assert_array_equal(ours, expected)
        assert ckpt.verify() == []


def rewrite_first_block(prefix: Path, tmp_path: Path, damage) -> str:
    """A copy of the checkpoint whose first (snappy) block is `damage(block)`, CRC made right."""
    for path in prefix.parent.iterdir():
        shutil.copy(path, tmp_path / path.name)
    index_path = tmp_path / "variables.index"
    index = bytearray(index_path.read_bytes())
    size, compression = first_data_block(bytes(index))
    block = damage(bytes(index[:size]))
    assert len(block) == size  # block handles stay valid
    trailer = bytes([compression])
    index[:size] = block
    index[size + 1 : size + 5] = mask(crc32c(trailer, crc32c(block))).to_bytes(4, "little")
    index_path.write_bytes(bytes(index))
    return str(tmp_path / "variables")


def test_snappy_block_claiming_too_much_is_refused_before_allocating(tmp_path):
    def claim_four_gigabytes(block: bytes) -> bytes:
        header = b"\xff\xff\xff\xff\x0f"  # 2**32 - 1 as a varint; the rest stays as it was
        return header + block[len(header) :]

    prefix = rewrite_first_block(PREFIXES[0], tmp_path, claim_four_gigabytes)
    with pytest.raises(CheckpointError, match="claims 4294967295 bytes") as caught:
        open_checkpoint(prefix).close()
    assert "\n" not in str(caught.value) and "offset 0" in str(caught.value)


def test_garbage_in_a_snappy_block_is_one_clear_error(tmp_path):
    def scribble(block: bytes) -> bytes:
        return block[:1] + b"\xff" * 40 + block[41:]

    prefix = rewrite_first_block(PREFIXES[0], tmp_path, scribble)
    with pytest.raises(CheckpointError, match="block at offset 0 is not valid snappy data"):
        open_checkpoint(prefix).close()
