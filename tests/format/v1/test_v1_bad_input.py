"""Damaged and hostile V1 files: a CheckpointError in one line naming the file or tensor.

Every file here starts as one TensorFlow wrote and has one thing changed (`v1_edits`), and
TensorFlow itself refuses each changed file, so the test asks of the reader only what TensorFlow
asks of the file. The damaged copies are never modified by reading them.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import struct
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

import numpy as np
import pytest
import v1_edits as edits
from tf_checkpoints import import_tensorflow
from tf_v1_checkpoints import assert_same_bits, restore_with_tf

from ckpt_browser.format import CheckpointError, open_checkpoint
from ckpt_browser.format.sstable.writer import encode_varint

# --- making damaged copies ----------------------------------------------------------------------


@dataclass(frozen=True)
class Copy:
    path: str  # what a user opens: the file, or the glob of a sharded checkpoint
    edited: str  # the file an edit changes (the second shard of a sharded checkpoint)
    tensors: tuple[str, ...]  # every tensor the undamaged checkpoint holds


@pytest.fixture
def copy_of(tmp_path, v1_ckpt, v1_sharded_ckpt, v1_slices_ckpt, v1_mixed_dir):
    """`copy_of(source)` copies one of the TensorFlow-made checkpoints into `tmp_path`:
    "small" (w [2,3] and global_step), "unsharded" (every dtype, big), "slices" (SaveSlices) or
    "sharded"."""

    def copy(source: str) -> Copy:
        if source == "sharded":
            directory = shutil.copytree(v1_sharded_ckpt.directory, tmp_path / "sharded")
            files = [str(directory / os.path.basename(f)) for f in v1_sharded_ckpt.shard_files]
            glob = str(directory / os.path.basename(v1_sharded_ckpt.glob))
            return Copy(glob, files[1], tuple(v1_sharded_ckpt.expected))
        fixture = {"small": v1_mixed_dir, "unsharded": v1_ckpt, "slices": v1_slices_ckpt}[source]
        original = fixture.paths[0] if source == "small" else fixture.path
        expected = fixture.expected[1] if source == "small" else fixture.expected
        path = shutil.copy(original, tmp_path / os.path.basename(original))
        return Copy(str(path), str(path), tuple(expected))

    return copy


def digest(path: str) -> dict[str, str]:
    files = Path(path).parent.iterdir()
    return {str(f): hashlib.sha256(f.read_bytes()).hexdigest() for f in files if f.is_file()}


def tensorflow_refuses(path: str) -> bool:
    """Whether TensorFlow fails to list or restore every tensor of `path`."""
    try:
        restore_with_tf(path)
    except Exception:  # TensorFlow's errors (OpError, ValueError, TypeError) vary by damage
        return True
    return False


def tensorflow_lists(path: str) -> bool:
    """Whether TensorFlow opens `path` and lists its names, shapes and dtypes."""
    try:
        reader = import_tensorflow().train.load_checkpoint(path)
        reader.get_variable_to_shape_map()
        reader.get_variable_to_dtype_map()
    except Exception:  # TensorFlow's errors vary by damage
        return False
    return True


def assert_one_line(error: CheckpointError, *words: str) -> None:
    message = str(error)
    assert "\n" not in message and message.strip(), message
    for word in words:
        assert word in message, (word, message)


def assert_refused(copy: Copy, tensor: str | None, must_open: bool = False) -> None:
    """Opening fails with a CheckpointError in one line that names the file (and the damaged
    `tensor`, if one), or (always, with `must_open`) the checkpoint opens, `verify()` names that
    tensor and reading it fails with an error naming the file and the tensor. The files stay as
    they were."""
    before = digest(copy.edited)
    file_word = os.path.basename(copy.edited).split("-0000")[0]  # a shard's common stem
    try:
        ckpt = open_checkpoint(copy.path)
    except CheckpointError as error:
        assert not must_open, f"TensorFlow lists this checkpoint, the reader refused it: {error}"
        assert_one_line(error, file_word, *([tensor] if tensor else []))
    else:
        with ckpt:
            assert tensor is not None, "a checkpoint damaged as a whole opened"
            problems = ckpt.verify()
            assert tensor in [problem.name for problem in problems], problems
            for problem in problems:
                assert "\n" not in problem.message and problem.message
            with pytest.raises(CheckpointError) as error:
                ckpt.read(tensor)
            assert_one_line(error.value, file_word, tensor)
    assert digest(copy.edited) == before


# --- the cases ----------------------------------------------------------------------------------

Edit = Callable[[str], None]


def meta_edit(change: Callable[[object], None]) -> Edit:
    return lambda path: edits.edit_meta(path, change)


def tensor_meta_edit(name: str, change: Callable[[object], None]) -> Edit:
    """Change the `SavedSliceMeta` of tensor `name`."""
    return meta_edit(lambda meta: change(edits.meta_of(meta, name)))


def data_edit(name: str, change: Callable[[object], None]) -> Edit:
    """Change the `SavedSlice` of the first data entry of tensor `name`."""
    return lambda path: edits.edit_data(path, edits.data_keys(path, name)[0], change)


def block_edit(block: int, change: Callable[[str, tuple[int, int]], None]) -> Edit:
    return lambda path: change(path, edits.data_blocks(path)[block])


def cut_to(size: Callable[[int], int]) -> Edit:
    return lambda path: edits.truncate(path, size(os.path.getsize(path)))


def set_dim(tensor_meta, axis: int, size: int) -> None:
    tensor_meta.shape.dim[axis].size = size


def set_versions(meta, **fields) -> None:
    for field, value in fields.items():
        field_value = getattr(meta.versions, field)
        if isinstance(value, list):
            field_value.extend(value)
        else:
            setattr(meta.versions, field, value)


def values_to_tensor_content(saved_slice) -> None:
    """The values as raw bytes in `tensor_content`, which V1 readers must not use."""
    values = np.asarray(saved_slice.data.float_val, np.float32)
    saved_slice.data.ClearField("float_val")
    saved_slice.data.tensor_content = values.tobytes()


def values_as_doubles(saved_slice) -> None:
    """A float32 slice whose values sit in the double field."""
    saved_slice.data.double_val.extend(saved_slice.data.float_val)
    saved_slice.data.ClearField("float_val")


class Case(NamedTuple):
    source: str  # see `copy_of`
    edit: Edit
    damaged: str | None = None  # the tensor it damages; None: the file as a whole


def flip_in_block(block: int) -> Edit:
    return block_edit(block, lambda path, span: edits.flip_byte(path, span[0] + span[1] // 2))


def block_type(block: int, block_type: int) -> Edit:
    return block_edit(block, lambda path, span: edits.set_block_type(path, span, block_type))


def drop_data(name: str) -> Edit:
    return lambda path: edits.drop_entry(path, edits.data_keys(path, name)[0])


# Damage to the file as a whole, or to what its metadata says of one tensor: refused when
# opening (naming the tensor, if one) or when reading that tensor.
REFUSED: dict[str, Case] = {
    "empty file": Case("unsharded", cut_to(lambda size: 0)),
    "shorter than a footer": Case("unsharded", cut_to(lambda size: 47)),
    "cut in half": Case("unsharded", cut_to(lambda size: size // 2)),
    "last byte cut": Case("unsharded", cut_to(lambda size: size - 1)),
    "bad magic": Case("unsharded", lambda path: edits.flip_byte(path, -3)),
    "flipped byte in the metadata block": Case("unsharded", flip_in_block(0)),
    "metadata block of type 2": Case("unsharded", block_type(0, 2)),
    "no metadata entry": Case("small", lambda path: edits.drop_entry(path, b"")),
    "metadata not a proto": Case("small", lambda path: edits.set_raw_value(path, b"", b"\xff")),
    "min_consumer 2": Case("small", meta_edit(lambda meta: set_versions(meta, min_consumer=2))),
    "bad consumer 1": Case("small", meta_edit(lambda meta: set_versions(meta, bad_consumers=[1]))),
    "unknown dtype 99": Case("small", tensor_meta_edit("w", lambda t: setattr(t, "type", 99)), "w"),
    "resource dtype": Case("small", tensor_meta_edit("w", lambda t: setattr(t, "type", 20)), "w"),
    "negative dimension": Case("small", tensor_meta_edit("w", lambda t: set_dim(t, 0, -2)), "w"),
    "extent past the shape": Case(
        "slices", tensor_meta_edit("cols", lambda t: set_dim(t, 1, 4)), "cols"
    ),
    "zero length extent": Case(
        "slices",
        tensor_meta_edit("mixed", lambda t: setattr(t.slice[1].extent[0], "length", 0)),
        "mixed",
    ),
    "negative start": Case(
        "slices",
        tensor_meta_edit("mixed", lambda t: setattr(t.slice[1].extent[0], "start", -1)),
        "mixed",
    ),
    "slice of higher rank": Case(
        "slices", tensor_meta_edit("cols", lambda t: t.slice[0].extent.add()), "cols"
    ),
    "dtypes differ between shards": Case(
        "sharded", tensor_meta_edit("pv", lambda t: setattr(t, "type", 2)), "pv"
    ),
    "shapes differ between shards": Case(
        "sharded", tensor_meta_edit("pv", lambda t: set_dim(t, 0, 11)), "pv"
    ),
}

# Damage to one tensor's stored values: TensorFlow still opens and lists the checkpoint and fails
# only when restoring that tensor, and so must the reader.
DATA_DAMAGE: dict[str, Case] = {
    "flipped byte in big's block": Case("unsharded", flip_in_block(1), "big"),
    "big's block of type 2": Case("unsharded", block_type(1, 2), "big"),
    "big's block claims snappy": Case("unsharded", block_type(1, 1), "big"),
    "missing data entry": Case("small", drop_data("w"), "w"),
    "one value short": Case("small", data_edit("w", lambda s: s.data.float_val.pop()), "w"),
    "one value too many": Case("small", data_edit("w", lambda s: s.data.float_val.append(1)), "w"),
    "values in tensor_content": Case("small", data_edit("w", values_to_tensor_content), "w"),
    "values in the wrong field": Case("small", data_edit("w", values_as_doubles), "w"),
}


@pytest.mark.parametrize("case", list(REFUSED))
def test_damaged_file_is_refused_in_one_line(copy_of, case):
    source, edit, damaged = REFUSED[case]
    copy = copy_of(source)
    edit(copy.edited)
    assert tensorflow_refuses(copy.path)
    assert_refused(copy, damaged)


@pytest.mark.parametrize("case", list(DATA_DAMAGE))
def test_damaged_values_fail_only_that_tensor(copy_of, case):
    source, edit, damaged = DATA_DAMAGE[case]
    copy = copy_of(source)
    edit(copy.edited)
    assert tensorflow_lists(copy.path) and tensorflow_refuses(copy.path)
    assert_refused(copy, damaged, must_open=True)


def test_a_flipped_byte_in_one_block_spares_the_others(copy_of, v1_ckpt):
    """Like TensorFlow, which checks each block as it reads it: only `big` is lost."""
    copy = copy_of("unsharded")
    offset, size = edits.data_blocks(copy.path)[1]
    edits.flip_byte(copy.path, offset + size // 2)
    with open_checkpoint(copy.path) as ckpt:
        assert set(ckpt) == set(v1_ckpt.expected)
        problems = ckpt.verify()
        assert [problem.name for problem in problems] == [v1_ckpt.big]
        for name, value in v1_ckpt.expected.items():
            if name != v1_ckpt.big:
                assert_same_bits(ckpt.read(name), value)


def test_slices_tensorflow_wrote_but_cannot_restore(tmp_path):
    """`SaveSlices` writes overlapping slices and slices that leave part of a tensor uncovered;
    TensorFlow refuses to restore either, and so must the reader."""
    tf = import_tensorflow()
    value = np.arange(20, dtype=np.float32).reshape(4, 5)
    layouts = {"overlapping": ["0,3:-", "2,2:-"], "incomplete": ["0,3:-"]}
    for label, specs in layouts.items():
        path = str(tmp_path / label)
        rows = [tuple(map(int, spec.split(":")[0].split(","))) for spec in specs]
        tf.raw_ops.SaveSlices(
            filename=path,
            tensor_names=["a"] * len(specs),
            shapes_and_slices=[f"4 5 {spec}" for spec in specs],
            data=[tf.constant(value[start : start + length]) for start, length in rows],
        )
        assert tensorflow_refuses(path)
        assert_refused(Copy(path, path, ("a",)), "a", must_open=tensorflow_lists(path))


def test_a_slice_declared_larger_than_memory_is_refused_before_allocating(copy_of):
    """A shape of 2^31 x 3 float32 (24 GiB) over a six-value entry: the count does not match,
    and neither a whole read nor a region read allocates the declared size."""
    copy = copy_of("small")
    edits.edit_meta(copy.edited, lambda meta: set_dim(edits.meta_of(meta, "w"), 0, 2**31))
    assert_refused(copy, "w", must_open=True)
    with open_checkpoint(copy.path) as ckpt:
        assert ckpt["w"].shape == (2**31, 3)
        with pytest.raises(CheckpointError) as error:
            ckpt.read("w", (slice(0, 1),))
        assert_one_line(error.value, "w")


def test_a_removed_shard(copy_of, v1_sharded_ckpt):
    """TensorFlow then restores nothing that had a part in it; the reader names what is missing
    (the file, when opening; the tensors, when reading) and still reads what lies in the other."""
    copy = copy_of("sharded")
    os.remove(copy.edited)
    missing = os.path.basename(copy.edited)
    assert tensorflow_refuses(copy.path)
    kept, lost = v1_sharded_ckpt.names_in_shard
    try:
        ckpt = open_checkpoint(copy.path)
    except CheckpointError as error:
        assert_one_line(error, missing)
        return
    with ckpt:
        for name in lost:
            with pytest.raises(CheckpointError) as error:
                ckpt.read(name)
            assert "\n" not in str(error.value)
            assert name in str(error.value) or missing in str(error.value)
        for name in kept - lost:
            assert_same_bits(ckpt.read(name), v1_sharded_ckpt.expected[name])
        assert ckpt.verify()
        # Said once at open, as for a V2 checkpoint whose shard is missing.
        (sentence,) = ckpt.check_shards().messages
        assert "1 of 2 files" in sentence and missing in sentence
        partitioned = [name for name in kept & lost if ckpt[name].partitioned]
        assert partitioned and set(partitioned) <= set(ckpt.check_shards().problems)
        with pytest.raises(CheckpointError, match=f"the rest may lie in the missing {missing}"):
            ckpt.read(partitioned[0])


@pytest.mark.parametrize("how", ["the file", "the glob", "a shard file", "the directory"])
def test_a_truncated_v1_file_says_what_is_wrong_however_it_is_opened(copy_of, how):
    """Not "not a checkpoint": the file is named as a Saver names V1 files, so it is read as one
    and the reader says what is wrong with it, as TensorFlow does."""
    copy = copy_of("sharded" if how in ("the glob", "a shard file") else "small")
    edits.truncate(copy.edited, 10)
    where = {
        "the file": copy.edited,
        "the glob": copy.path,
        "a shard file": copy.edited,
        "the directory": os.path.dirname(copy.edited),
    }[how]
    if how == "the directory":
        with open(os.path.join(where, "checkpoint"), "w") as state:
            state.write(f'model_checkpoint_path: "{os.path.basename(copy.edited)}"\n')
    with pytest.raises(CheckpointError) as error:
        open_checkpoint(where)
    assert_one_line(error.value, os.path.basename(copy.edited), "too short")


@pytest.mark.parametrize(
    "where", ["model.ckpt-9", "model.ckpt-3-?????-of-00009", "model.ckpt-3-00005-of-00009"]
)
def test_nothing_to_open(tmp_path, v1_sharded_ckpt, where):
    shutil.copytree(v1_sharded_ckpt.directory, tmp_path / "run")
    with pytest.raises(CheckpointError) as error:
        open_checkpoint(tmp_path / "run" / where)
    assert_one_line(error.value, where[: len("model.ckpt-3")])


def test_a_directory_whose_state_names_a_deleted_v1_file(tmp_path, v1_mixed_dir):
    """The `checkpoint` file names `model.ckpt-1` (and only it), which is gone."""
    directory = shutil.copytree(v1_mixed_dir.directory, tmp_path / "run")
    for name in os.listdir(directory):
        if name.startswith("model.ckpt"):
            os.remove(directory / name)
    (directory / "checkpoint").write_text(
        'model_checkpoint_path: "model.ckpt-1"\nall_model_checkpoint_paths: "model.ckpt-1"\n'
    )
    with pytest.raises(CheckpointError) as error:
        open_checkpoint(directory)
    assert_one_line(error.value)


# --- odd but valid: TensorFlow reads these, so must the reader ----------------------------------


def test_a_name_that_is_not_utf8_is_listed_escaped(tmp_path):
    """TensorFlow writes such a name (logging an error) but then refuses the whole file; the
    reader lists it escaped, as it lists V2 keys that are not UTF-8, and reads it."""
    tf = import_tensorflow()
    path = str(tmp_path / "names")
    tf.raw_ops.SaveSlices(
        filename=path,
        tensor_names=tf.constant([b"bad\xffname", b"ok"]),
        shapes_and_slices=["", ""],
        data=[tf.constant([1.5, 2.5], tf.float32), tf.constant([1, 2], tf.int32)],
    )
    assert tensorflow_refuses(path)
    with open_checkpoint(path) as ckpt:
        assert list(ckpt) == ["bad\\xffname", "ok"]
        assert_same_bits(ckpt.read("bad\\xffname"), np.array([1.5, 2.5], np.float32))
        assert ckpt.verify() == []


def unpacked_floats(saved_slice) -> bytes:
    """A `SavedTensorSlices` value whose floats are written one field each, not packed."""
    values = list(saved_slice.data.float_val)
    saved_slice.data.ClearField("float_val")
    head = saved_slice.SerializeToString()
    # SavedSlice.data (field 3) is rewritten by hand: proto3 serializers always pack.
    data_field = b"".join(b"\x2d" + struct.pack("<f", v) for v in values)
    assert head.endswith(b"\x1a\x00")  # the emptied TensorProto
    body = head[:-2] + b"\x1a" + encode_varint(len(data_field)) + data_field
    return b"\x12" + encode_varint(len(body)) + body  # SavedTensorSlices.data (field 2)


def test_unpacked_values_and_missing_versions_read_like_the_original(copy_of, v1_mixed_dir):
    copy = copy_of("small")
    (key,) = edits.data_keys(copy.edited, "w")
    pb2 = edits._protos()
    saved = pb2.SavedTensorSlices.FromString(edits.read_entries(copy.edited)[key])
    edits.set_raw_value(copy.edited, key, unpacked_floats(saved.data))
    edits.edit_meta(copy.edited, lambda meta: meta.ClearField("versions"))
    expected = v1_mixed_dir.expected[1]
    restored = restore_with_tf(copy.path)
    for name, value in expected.items():
        assert_same_bits(restored[name], value)
    with open_checkpoint(copy.path) as ckpt:
        assert ckpt.verify() == []
        for name, value in expected.items():
            assert_same_bits(ckpt.read(name), value)


def test_a_shape_marked_of_unknown_rank_but_with_dimensions_reads_as_tensorflow_reads_it(
    copy_of, v1_mixed_dir
):
    copy = copy_of("small")
    edits.edit_meta(
        copy.edited, lambda meta: setattr(edits.meta_of(meta, "w").shape, "unknown_rank", True)
    )
    restored = restore_with_tf(copy.path)
    with open_checkpoint(copy.path) as ckpt:
        assert ckpt["w"].shape == restored["w"].shape
        assert_same_bits(ckpt.read("w"), restored["w"])
        assert_same_bits(ckpt.read("w"), v1_mixed_dir.expected[1]["w"])
