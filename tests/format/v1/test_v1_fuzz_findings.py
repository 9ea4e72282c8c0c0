"""What the V1 fuzz campaign (`tests/fuzz`, families v1-bytes and v1-fields) found, one test each.

Each file starts as one TensorFlow wrote (`SaveSlices`) and is changed as the fuzzer changed it;
TensorFlow restores each one (or refuses it), and the reader must give the same values (or refuse
the same tensors): before the fixes it refused files TensorFlow restores, ran out of memory, or
gave a region of a string tensor in another form than the whole.
"""

from __future__ import annotations

import shutil
import struct

import numpy as np
import pytest
import v1_edits as edits
from tf_checkpoints import import_tensorflow
from tf_v1_checkpoints import assert_same_bits, restore_with_tf

from ckpt_browser import cli
from ckpt_browser.format import CheckpointError, open_checkpoint
from ckpt_browser.format.crc import crc32c, mask
from ckpt_browser.format.names import name_of_key
from ckpt_browser.format.sstable.writer import BlockBuilder, encode_varint


@pytest.fixture
def slices(tmp_path, v1_slices_ckpt) -> str:
    """A copy of the SaveSlices file: tensors in one slice and in several, of several dtypes."""
    return str(shutil.copy(v1_slices_ckpt.path, tmp_path / "slices.ckpt"))


def assert_reads_as_tensorflow(path: str) -> None:
    """The same names, dtypes and shapes as TensorFlow lists, and each tensor either restored
    by TensorFlow and read with the same bits, or refused by both."""
    tf = import_tensorflow()
    reader = tf.train.load_checkpoint(path)
    dtypes, shapes = reader.get_variable_to_dtype_map(), reader.get_variable_to_shape_map()
    ours = {name: name_of_key(name.encode("utf-8", "surrogateescape")) for name in dtypes}
    with open_checkpoint(path) as ckpt:
        assert sorted(ckpt) == sorted(ours.values())
        for name, shown in ours.items():
            assert (ckpt[shown].dtype.name, list(ckpt[shown].shape)) == (
                dtypes[name].name,
                shapes[name],
            )
            try:
                expected = restore_with_tf(path, [name])[name]
            except tf.errors.OpError:
                with pytest.raises(CheckpointError):
                    ckpt.read(shown)
                continue
            assert_same_bits(ckpt.read(shown), expected)


def unordered_table(path: str, pairs: list[tuple[bytes, bytes]]) -> None:
    """A table of `pairs` in the order given (the project's writer rightly refuses disorder)."""
    block = BlockBuilder(16)
    for key, value in pairs:
        block.add(key, value)
    out = bytearray()

    def write(contents: bytes) -> bytes:
        handle = encode_varint(len(out)) + encode_varint(len(contents))
        out.extend(contents + b"\0" + struct.pack("<I", mask(crc32c(b"\0", crc32c(contents)))))
        return handle

    data = write(block.finish())
    index = BlockBuilder(1)
    index.add(b"\xff", data)
    handles = write(BlockBuilder(16).finish()) + write(index.finish())
    out.extend(handles + bytes(40 - len(handles)) + struct.pack("<Q", 0xDB4775248B80FB57))
    with open(path, "wb") as file:
        file.write(out)


@pytest.mark.parametrize("disorder", ["an entry twice", "two entries swapped"])
def test_entries_out_of_order_read_as_tensorflow_reads_them(slices, disorder):
    """TensorFlow looks a key up by a seek and never checks the order of keys: the reader
    refused the whole file ("keys out of order")."""
    pairs = sorted(edits.read_entries(slices).items())
    if disorder == "an entry twice":
        pairs.insert(3, pairs[3])
    else:
        pairs[2], pairs[5] = pairs[5], pairs[2]
    unordered_table(slices, pairs)
    assert_reads_as_tensorflow(slices)


def test_a_value_field_under_another_wire_type_is_skipped(slices):
    """Protobuf keeps a field whose wire type does not match its number as an unknown field:
    TensorFlow restores the values beside it; the reader refused the tensor or counted the
    stray field as a value."""
    for name, stray in (("cols", b"\x28\x07"), ("words", b"\x41" + bytes(8))):
        key = edits.data_keys(slices, name)[0]
        edits.edit_data(slices, key, lambda saved, stray=stray: saved.data.MergeFromString(stray))
    assert_reads_as_tensorflow(slices)


def test_a_scalar_marked_of_unknown_rank_is_a_scalar(slices):
    """TensorFlow builds a saved tensor's shape from its dimensions alone and ignores
    `unknown_rank`, also when there are none: a scalar. The reader refused the file."""
    edits.edit_meta(
        slices, lambda meta: setattr(edits.meta_of(meta, "scalar").shape, "unknown_rank", True)
    )
    assert_reads_as_tensorflow(slices)


@pytest.mark.parametrize("entry", ["holding values", "missing"])
def test_an_empty_tensor_is_restored_without_its_entry(slices, entry):
    """TensorFlow restores a tensor of no elements without reading its data entry; the reader
    refused it for the values the entry holds."""
    name = "esc\x00name\x01end"
    edits.edit_meta(slices, lambda meta: setattr(edits.meta_of(meta, name).shape.dim[0], "size", 0))
    if entry == "missing":
        edits.drop_entry(slices, edits.data_keys(slices, name)[0])
    assert_reads_as_tensorflow(slices)


def test_a_tensor_without_slices_is_not_listed(slices):
    """TensorFlow registers the slices a file's metadata lists: a tensor without one is not in
    the checkpoint. The reader listed it (and could not read it)."""
    edits.edit_meta(slices, lambda meta: edits.meta_of(meta, "scalar").ClearField("slice"))
    assert_reads_as_tensorflow(slices)
    with open_checkpoint(slices) as ckpt:
        assert "scalar" not in ckpt


def test_a_metadata_entry_without_its_meta_lists_nothing(slices):
    """An empty `SavedTensorSlices` is a file of no tensors to TensorFlow; the reader refused it."""
    edits.set_raw_value(slices, b"", b"")
    assert_reads_as_tensorflow(slices)


def test_an_element_of_a_multi_slice_tensor_reads_as_numpy_indexes_it(slices):
    """An int for every axis gives the element itself, as numpy and every other read give it;
    a string tensor stored in several slices gave a 0-d array instead of the bytes."""
    with open_checkpoint(slices) as ckpt:
        for name, index in (("words", (1, 0)), ("words", (-1, 1)), ("cols", (2, 3))):
            whole = ckpt.read(name)
            element = ckpt.read(name, index)
            assert type(element) is type(whole[index]) and element == whole[index]


def test_a_huge_shape_over_a_varint_entry_is_refused_before_allocating(tmp_path):
    """2^45 int64 values (256 TiB) declared over an entry of three: the count is checked before
    the output is allocated (it ran out of memory)."""
    tf = import_tensorflow()
    path = str(tmp_path / "huge.ckpt")
    tf.raw_ops.SaveSlices(
        filename=path,
        tensor_names=["big"],
        shapes_and_slices=[""],
        data=[tf.constant([1, 2, 3], tf.int64)],
    )
    edits.edit_meta(
        path, lambda meta: setattr(edits.meta_of(meta, "big").shape.dim[0], "size", 2**45)
    )
    with open_checkpoint(path) as ckpt, pytest.raises(CheckpointError, match="holds 3 values"):
        ckpt.read("big")


@pytest.mark.parametrize("dtype", [14, 21])  # bfloat16, variant
def test_a_dtype_v1_cannot_hold_fails_only_its_tensor(slices, dtype):
    """TensorFlow lists a tensor of a dtype its V1 reader cannot restore and restores the
    others; the reader refused the whole file."""
    name = "esc\x00name\x01end"
    edits.edit_meta(slices, lambda meta: setattr(edits.meta_of(meta, name), "type", dtype))
    assert_reads_as_tensorflow(slices)


def test_a_reference_dtype_refuses_the_file_in_one_line(slices):
    """A reference dtype (float32_ref), which no writer stores: TensorFlow lists it and restores
    nothing; the reader refuses the file, as the V2 reader refuses one (a meant difference)."""
    edits.edit_meta(slices, lambda meta: setattr(edits.meta_of(meta, "cols"), "type", 101))
    with pytest.raises(CheckpointError, match="'cols' has unknown dtype 101"):
        open_checkpoint(slices)


def test_a_complex_entry_with_a_float_left_over_restores_like_tensorflow(slices):
    """TensorFlow counts a complex slice's values as half the floats stored and restores that
    many; the reader refused the odd float."""
    key = edits.data_keys(slices, "pairs")[0]
    edits.edit_data(slices, key, lambda saved: saved.data.scomplex_val.append(9.5))
    assert_reads_as_tensorflow(slices)


def test_remap_refuses_a_tensor_named_empty_in_one_line(tmp_path, capsys):
    """V1 can hold a tensor named "", a V2 checkpoint cannot (its header has that key): remap
    ended in a traceback from the writer. Now the plan says so, and a rule renames it."""
    tf = import_tensorflow()
    path, out = str(tmp_path / "empty.ckpt"), str(tmp_path / "out" / "model")
    tf.raw_ops.SaveSlices(
        filename=path,
        tensor_names=["", "w"],
        shapes_and_slices=["", ""],
        data=[tf.constant([1.5, 2.5]), tf.constant([3], tf.int32)],
    )
    assert cli.main(["remap", path, out]) == 2
    errors = [line for line in capsys.readouterr().err.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and not (tmp_path / "out").exists()
    assert cli.main(["remap", path, out, "--regex", "^$=renamed"]) == 0
    restored = restore_with_tf(out)
    np.testing.assert_array_equal(restored["renamed"], [1.5, 2.5])
