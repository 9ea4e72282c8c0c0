"""String and variant tensors are judged by their layout, as TensorFlow reads them, not by the
size their index entry records.

TensorFlow reads a string tensor's lengths and then exactly the bytes they call for: a recorded
size that is too large or too small is no damage, unless it is below one byte a string, does not
hold the lengths, or is at most TensorFlow's 1 MiB read buffer and runs past the end of the file
(it prefetches that much). `verify` once reported such tensors as damaged, which TensorFlow reads
fine. For every size here TensorFlow is the oracle: where it reads the tensor, we read the same
values and `verify` and the check at open find nothing; where it refuses, so do we.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from index_edits import edit_entry, entry
from tf_checkpoints import import_tensorflow, write_with_tf

from ckpt_browser.format import CheckpointError, open_checkpoint
from ckpt_browser.format.crc import crc32c, mask
from ckpt_browser.format.sstable.reader import Table
from ckpt_browser.format.v2.bundle import BundleIndex
from ckpt_browser.format.v2.string_tensors import string_layout

VOCAB = np.array([b"alpha", b"", b"gamma" * 40], dtype=object)
ITERATOR = "it/.ATTRIBUTES/ITERATOR_STATE"

# New sizes, as functions of the size TensorFlow wrote and the element count.
SIZES = {
    "one more": lambda size, count: size + 1,
    "one less": lambda size, count: size - 1,
    "a byte a string": lambda size, count: count,
    "below a byte a string": lambda size, count: count - 1,
    "past the end, prefetched": lambda size, count: size + 100_000,
    "past the end, not prefetched": lambda size, count: (1 << 20) + 5,
    "2**62": lambda size, count: 1 << 62,
    "2**64 - 1": lambda size, count: -1,  # as the index stores it: the size is an int64 here
}


def tensorflow_reads(prefix: str, name: str, dtype: str) -> object | None:
    """The tensor as TensorFlow's RestoreV2 reads it (the values of a string tensor, the shape of
    a variant one, which has no numpy form), or None if it refuses it."""
    tf = import_tensorflow()
    try:
        (tensor,) = tf.raw_ops.RestoreV2(
            prefix=prefix, tensor_names=[name], shape_and_slices=[""], dtypes=[tf.as_dtype(dtype)]
        )
    except tf.errors.OpError:
        return None
    return tensor.numpy().tolist() if dtype == "string" else tensor.shape.as_list()


def resize(prefix: str, name: str, new_size) -> None:
    stored = entry(dict(Table.open(prefix + ".index").items()), name.encode())
    count = int(np.prod([d.size for d in stored.shape.dim]))
    edit_entry(prefix, name.encode(), size=new_size(stored.size, count))


def assert_judged_as_tensorflow_judges(prefix: str, name: str, dtype: str) -> None:
    theirs = tensorflow_reads(prefix, name, dtype)
    with open_checkpoint(prefix) as checkpoint:
        problems = [p.name for p in checkpoint.verify()]
        at_open = checkpoint.check_shards().problems
        if theirs is not None:
            assert problems == [] and name not in at_open
            ours = checkpoint.read(name)
            assert (ours.tolist() if dtype == "string" else list(ours.shape)) == theirs
        else:
            assert problems == [name]
            with pytest.raises(CheckpointError, match=repr(name)):
                checkpoint.read(name)


@pytest.mark.parametrize("new_size", SIZES.values(), ids=SIZES.keys())
def test_a_string_tensor_of_any_recorded_size_is_judged_as_tensorflow_judges_it(tmp_path, new_size):
    prefix = write_with_tf(tmp_path / "model", {"w": np.arange(3.0), "vocab": VOCAB})
    resize(prefix, "vocab", new_size)
    assert_judged_as_tensorflow_judges(prefix, "vocab", "string")


@pytest.fixture(scope="module")
def iterator_checkpoint(tmp_path_factory) -> str:
    tf = import_tensorflow()
    iterator = iter(tf.data.Dataset.range(10).map(lambda x: x * 2))
    next(iterator)
    directory = tmp_path_factory.mktemp("variant")
    return tf.train.Checkpoint(it=iterator).save(str(directory / "ckpt"))


@pytest.mark.parametrize("new_size", SIZES.values(), ids=SIZES.keys())
def test_a_variant_tensor_of_any_recorded_size_is_judged_as_tensorflow_judges_it(
    tmp_path, iterator_checkpoint, new_size
):
    prefix = str(tmp_path / "ckpt-1")
    for suffix in (".index", ".data-00000-of-00001"):
        with open(iterator_checkpoint + suffix, "rb") as source, open(prefix + suffix, "wb") as out:
            out.write(source.read())
    resize(prefix, ITERATOR, new_size)
    assert_judged_as_tensorflow_judges(prefix, ITERATOR, "variant")


def test_a_wrong_length_checksum_is_refused_as_tensorflow_refuses_it(tmp_path):
    """Even with an entry CRC that matches the wrong bytes: TensorFlow checks both."""
    prefix = write_with_tf(tmp_path / "model", {"vocab": VOCAB})
    stored = BundleIndex(prefix).entries["vocab"]
    path = Path(prefix + ".data-00000-of-00001")
    data = bytearray(path.read_bytes())
    layout = string_layout(data, stored.offset, stored.size, len(VOCAB))
    at = stored.offset + layout.checksum_at
    data[at] ^= 0x01
    path.write_bytes(bytes(data))
    crc = crc32c(bytes(data[at : stored.offset + stored.size]), layout.lengths_crc)
    edit_entry(prefix, b"vocab", crc32c=mask(crc))
    assert tensorflow_reads(prefix, "vocab", "string") is None
    with open_checkpoint(prefix) as checkpoint:
        (problem,) = checkpoint.verify()
        assert "string lengths' checksum does not match" in problem.message
        assert "string lengths' checksum does not match" in checkpoint.checksum_problem("vocab")
