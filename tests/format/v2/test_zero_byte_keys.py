"""Keys that start with a zero byte: slices of a partitioned tensor only when an entry says so.

Every slice key starts with a zero byte, but TensorFlow's reader hides a key from its listing only
when some entry names it among its slices; any other such key is a tensor TensorFlow lists and
reads. Hiding it would make a tensor disappear from `ls`, `verify` and `remap`.
"""

from __future__ import annotations

import numpy as np
import pytest
from index_edits import edit_index
from tf_checkpoints import import_tensorflow

from ckpt_browser.cli import main
from ckpt_browser.format import open_checkpoint
from ckpt_browser.format.names import name_of_key
from ckpt_browser.format.v2.slice_keys import slice_key

PART = np.arange(8, dtype=np.float32).reshape(4, 2)
W = np.array([10, 20, 30], dtype=np.int32)
# Keys TensorFlow lists: stray ones, and a slice key of "part" that "part" does not list (its
# bytes are not UTF-8, so TensorFlow's Python API cannot name it; its C++ reader lists it too).
STRAY = b"\x00stray"
STRAY_LIKE_PART = b"\x00part"
UNLISTED_SLICE = slice_key(b"part", ((0, 1), (0, -1)))


@pytest.fixture
def zero_byte_keys(tmp_path) -> str:
    """TensorFlow's partitioned "part" (two slices) and "w", plus two zero-byte keys holding
    copies of w's entry."""
    tf = import_tensorflow()
    prefix = str(tmp_path / "model")
    tf.raw_ops.SaveV2(
        prefix=prefix,
        tensor_names=["part", "part", "w"],
        shape_and_slices=["4 2 0,2:-", "4 2 2,2:-", ""],
        tensors=[tf.constant(PART[:2]), tf.constant(PART[2:]), tf.constant(W)],
    )

    def add_copies(items):
        items[STRAY] = items[STRAY_LIKE_PART] = items[b"w"]

    edit_index(prefix, add_copies)
    return prefix


def tensorflow_listing(prefix: str) -> dict[str, list[int]]:
    """TensorFlow's listing by our names (a key's text, escaped where it does not print)."""
    tf = import_tensorflow()
    return {
        name_of_key(key.encode("utf-8", "surrogateescape")): shape
        for key, shape in tf.train.list_variables(prefix)
    }


def test_zero_byte_keys_list_and_read_as_tensorflow_lists_and_reads_them(zero_byte_keys):
    tf = import_tensorflow()
    listing = tensorflow_listing(zero_byte_keys)
    assert set(listing) == {"part", "w", "\\x00stray", "\\x00part"}
    reader = tf.train.load_checkpoint(zero_byte_keys)
    with open_checkpoint(zero_byte_keys) as checkpoint:
        assert {name: list(info.shape) for name, info in checkpoint.items()} == listing
        np.testing.assert_array_equal(checkpoint.read("part"), reader.get_tensor("part"))
        for key in (STRAY, STRAY_LIKE_PART):
            theirs = reader.get_tensor(key.decode("utf-8"))
            np.testing.assert_array_equal(checkpoint.read(name_of_key(key)), theirs)
        assert checkpoint.verify() == []


def test_a_slice_key_no_entry_lists_is_a_tensor(zero_byte_keys):
    edit_index(zero_byte_keys, lambda items: {**items, UNLISTED_SLICE: items[b"w"]})
    with open_checkpoint(zero_byte_keys) as checkpoint:
        assert name_of_key(UNLISTED_SLICE) in checkpoint
        np.testing.assert_array_equal(checkpoint.read(name_of_key(UNLISTED_SLICE)), W)
        # The slices "part" does list stay hidden, and "part" still reads whole.
        assert len(checkpoint) == 5
        np.testing.assert_array_equal(checkpoint.read("part"), PART)


def test_ls_shows_the_stray_key_escaped(capsys, zero_byte_keys):
    assert main(["ls", zero_byte_keys]) == 0
    out = capsys.readouterr().out
    assert "\\x00stray" in out and "\x00" not in out
    assert "4 tensors" in out


def test_remap_copies_the_stray_keys_as_tensorflow_reads_them(capsys, tmp_path, zero_byte_keys):
    output = str(tmp_path / "out" / "model")
    assert main(["remap", zero_byte_keys, output]) == 0, capsys.readouterr().err
    tf = import_tensorflow()
    assert tensorflow_listing(output) == tensorflow_listing(zero_byte_keys)
    source, copy = tf.train.load_checkpoint(zero_byte_keys), tf.train.load_checkpoint(output)
    for key in ("part", "w", STRAY.decode(), STRAY_LIKE_PART.decode()):
        np.testing.assert_array_equal(copy.get_tensor(key), source.get_tensor(key))
