"""The V1 fixtures are what they claim to be, checked with TensorFlow alone.

The V1 reader's tests take these files and values as ground truth; a fixture that silently
stopped holding NaN payloads, slices in both shards or a V1 file at all would let them pass for
the wrong reason.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import tf_v1_checkpoints as tfv1
import v1_edits
from tf_checkpoints import import_tensorflow
from tf_v1_checkpoints import assert_same_bits

SSTABLE_MAGIC = bytes.fromhex("57fb808b247547db")


@pytest.fixture(scope="module")
def tf():
    return import_tensorflow()


def is_v1_file(path: str) -> bool:
    """One self-contained table, with no `.index` beside it (which would make it V2)."""
    with open(path, "rb") as file:
        return file.read()[-8:] == SSTABLE_MAGIC and not os.path.exists(path + ".index")


def test_unsharded_holds_every_v1_dtype_as_written(tf, v1_ckpt):
    assert is_v1_file(v1_ckpt.path) and v1_ckpt.path.endswith("model.ckpt-7")
    assert tf.train.latest_checkpoint(str(v1_ckpt.directory)) == v1_ckpt.path
    assert set(tfv1.V1_DTYPES) <= set(v1_ckpt.dtype_names.values())
    for name, written in tfv1._dtype_values().items():
        assert v1_ckpt.dtype_names[f"dtypes/{name}"] == name
        assert_same_bits(v1_ckpt.expected[f"dtypes/{name}"], written)
    assert v1_ckpt.expected["global_step"].shape == ()
    assert v1_ckpt.expected["global_step"] == v1_ckpt.step
    assert {v1_ckpt.expected[f"empty/{t}"].size for t in ("float32", "int64", "string")} == {0}
    assert {"big", "conv/kernel", "dense/kernel/Adam_1"} <= set(v1_ckpt.expected)
    assert v1_ckpt.expected["conv/kernel"].ndim == 4
    tf.compat.v1.MetaGraphDef().ParseFromString(v1_ckpt.meta_path.read_bytes())


def test_big_sits_alone_in_the_second_block(v1_ckpt):
    """The bad-input tests damage that block to damage `big` alone: the blocks before and after
    it hold the metadata and the other tensors, it only `big` (its values one packed run)."""
    data = Path(v1_ckpt.path).read_bytes()
    big = v1_ckpt.expected[v1_ckpt.big]
    blocks = v1_edits.data_blocks(v1_ckpt.path)
    assert len(blocks) == 3 and big.nbytes > 512 * 1024
    offset, size = blocks[1]
    assert data.find(big.tobytes()) in range(offset, offset + size - big.nbytes + 1)
    assert size - big.nbytes < 64  # the key, the name and the slice


def test_the_v2_twin_holds_the_same_tensors(tf, v1_ckpt):
    assert os.path.exists(v1_ckpt.v2_prefix + ".index")
    twin = tfv1.restore_with_tf(v1_ckpt.v2_prefix)
    assert twin.keys() == v1_ckpt.expected.keys()
    for name, value in v1_ckpt.expected.items():
        assert_same_bits(twin[name], value)


def test_sharded_parts_lie_in_both_files(tf, v1_sharded_ckpt):
    fixture = v1_sharded_ckpt
    assert fixture.glob.endswith("model.ckpt-3-?????-of-00002")
    assert sorted(os.path.join(fixture.directory, f) for f in os.listdir(fixture.directory)) == [
        str(fixture.directory / "checkpoint"),
        *fixture.shard_files,
        str(fixture.meta_path),
    ]
    assert all(is_v1_file(file) for file in fixture.shard_files)
    assert tf.train.latest_checkpoint(str(fixture.directory)) == fixture.glob
    first, second = fixture.names_in_shard
    assert set(fixture.partitions) <= first & second
    assert first | second == set(fixture.expected)
    assert fixture.partitions == {
        "pv": ("0,4:0,4", "4,3:0,4", "7,3:0,4"),
        "emb/table": ("0,67:0,3", "67,67:0,3", "134,66:0,3"),
        "wide": ("0,4:0,3", "0,4:3,3", "0,4:6,3"),
    }
    for name, (value, _axis) in tfv1._PARTITIONED.items():
        assert_same_bits(fixture.expected[name], value)


def test_slices_file_restores_to_the_written_tensors(tf, v1_slices_ckpt):
    assert is_v1_file(v1_slices_ckpt.path)
    assert v1_slices_ckpt.expected.keys() == tfv1._SLICED.keys()
    for name, (value, _specs) in tfv1._SLICED.items():
        assert_same_bits(v1_slices_ckpt.expected[name], value)
    assert any("-" in spec and "," in spec for spec in v1_slices_ckpt.slices["cube"])


def test_mixed_directory_lists_v1_then_v2(tf, v1_mixed_dir):
    fixture = v1_mixed_dir
    state = tf.train.get_checkpoint_state(str(fixture.directory))
    assert list(state.all_model_checkpoint_paths) == list(fixture.paths)
    for path, version in zip(fixture.paths, fixture.versions, strict=True):
        assert os.path.exists(path + ".index") == (version == 2)
        assert os.path.isfile(path) == (version == 1)
        if version == 1:
            assert is_v1_file(path)
    for step in fixture.steps:
        assert fixture.expected[step]["global_step"] == step
