"""Reading checkpoints TensorFlow wrote: names, dtypes, shapes and values as TensorFlow has them."""

from __future__ import annotations

import mmap
import os
import shutil

import numpy as np
import pytest
from tf_checkpoints import import_tensorflow

from ckpt_browser.format import CheckpointError, TensorKind, open_checkpoint, resolve_prefix
from ckpt_browser.format.sstable.reader import Table
from ckpt_browser.format.v2.bundle import BundleIndex


def tf_listing(prefix: str) -> dict[str, tuple[str, tuple[int, ...]]]:
    """name -> (dtype name, shape) as TensorFlow's own reader reports them."""
    tf = import_tensorflow()
    reader = tf.train.load_checkpoint(prefix)
    shapes = reader.get_variable_to_shape_map()
    dtypes = reader.get_variable_to_dtype_map()
    out = {}
    for name, shape in shapes.items():
        dtype = dtypes[name]
        dtype_name = dtype.name if dtype.is_quantized or dtype == tf.string else None
        if dtype_name is None:
            dtype_name = np.dtype(dtype.as_numpy_dtype).name
        out[name] = (dtype_name, tuple(shape))
    return out


def assert_same_values(ours: np.ndarray, theirs: object) -> None:
    """Equal shapes and bit patterns (so NaN payloads, -0.0 and ml_dtypes compare exactly)."""
    if ours.dtype == object:
        theirs = np.asarray(theirs, dtype=object)
        assert ours.shape == theirs.shape
        assert ours.tolist() == theirs.tolist()
        return
    theirs = np.asarray(theirs)
    assert ours.shape == theirs.shape
    assert ours.dtype.itemsize == theirs.dtype.itemsize
    assert np.ascontiguousarray(ours).tobytes() == np.ascontiguousarray(theirs).tobytes()


def assert_matches_tensorflow(prefix: str) -> None:
    tf = import_tensorflow()
    reader = tf.train.load_checkpoint(prefix)
    with open_checkpoint(prefix) as ckpt:
        listing = {name: (info.dtype.name, info.shape) for name, info in ckpt.items()}
        assert listing == tf_listing(prefix)
        for name in ckpt:
            assert_same_values(ckpt.read(name), reader.get_tensor(name))


def test_every_dtype_reads_as_tensorflow_reads_it(all_dtypes_ckpt):
    assert_matches_tensorflow(all_dtypes_ckpt.prefix)
    with open_checkpoint(all_dtypes_ckpt.prefix) as ckpt:
        for name, expected in all_dtypes_ckpt.expected.items():
            assert_same_values(ckpt.read(name), expected)


def test_fixed_size_tensors_are_memory_mapped_not_copied(all_dtypes_ckpt):
    with open_checkpoint(all_dtypes_ckpt.prefix) as ckpt:
        big = max(
            (n for n, i in ckpt.items() if i.dtype.name == "float32"), key=lambda n: ckpt[n].size
        )
        array = ckpt.read(big)
        assert not array.flags.writeable
        base = array
        while isinstance(base, np.ndarray) and base.base is not None:
            base = base.base
        assert isinstance(base, memoryview)
        assert isinstance(base.obj, mmap.mmap)


def test_reading_an_index_equals_indexing_the_whole(all_dtypes_ckpt):
    with open_checkpoint(all_dtypes_ckpt.prefix) as ckpt:
        for name, info in ckpt.items():
            if len(info.shape) == 2 and info.size:
                whole = ckpt.read(name)
                for index in [(0,), (slice(1, 3),), (slice(None), 1), (slice(None, None, 2), -1)]:
                    assert_same_values(ckpt.read(name, index), whole[index])


def test_sharded_checkpoint_reads_from_every_shard(sharded_ckpt):
    assert_matches_tensorflow(sharded_ckpt.prefix)
    with open_checkpoint(sharded_ckpt.prefix) as ckpt:
        assert ckpt.num_shards == 3
        assert {name: ckpt[name].shard for name in sharded_ckpt.shard_of} == sharded_ckpt.shard_of
        assert set(sharded_ckpt.shard_of.values()) == {0, 1, 2}
        assert ckpt.verify() == []


def test_partitioned_variable_listed_once_with_full_shape(tf1_partitioned):
    assert_matches_tensorflow(tf1_partitioned.prefix)
    with open_checkpoint(tf1_partitioned.prefix) as ckpt:
        for name, parts in tf1_partitioned.partitions.items():
            info = ckpt[name]
            assert info.partitioned and parts > 1
            full = tf1_partitioned.expected[name]
            assert info.shape == full.shape
            assert info.nbytes == full.nbytes
            np.testing.assert_array_equal(ckpt.read(name), full)
            # A read across slice boundaries takes only what it needs from each slice.
            np.testing.assert_array_equal(ckpt.read(name, (slice(2, 8), 1)), full[2:8, 1])
            np.testing.assert_array_equal(ckpt.read(name, (-1,)), full[-1])
        assert ckpt.verify() == []


def test_tf1_training_directory(tf1_training_dir):
    for prefix in tf1_training_dir.prefixes:
        assert_matches_tensorflow(prefix)
    with open_checkpoint(tf1_training_dir.directory) as ckpt:
        assert ckpt.prefix == os.path.abspath(tf1_training_dir.prefixes[-1])
        assert ckpt.step == tf1_training_dir.steps[-1]
        kinds = {name: info.kind for name, info in ckpt.items()}
        for name in tf1_training_dir.model_variables:
            assert kinds[name] is TensorKind.VARIABLE
        for name in tf1_training_dir.optimizer_slots:
            assert kinds[name] is TensorKind.OPTIMIZER
        for name in tf1_training_dir.ema_shadows:
            assert kinds[name] is TensorKind.EMA
        for name in tf1_training_dir.counters:
            assert kinds[name] is TensorKind.COUNTER
        for slot, owner in tf1_training_dir.slot_of.items():
            assert ckpt[slot].slot_of == owner
        history = ckpt.history()
        assert [r.prefix for r in history] == [
            os.path.abspath(p) for p in tf1_training_dir.prefixes
        ]
        assert [r.step for r in history] == list(tf1_training_dir.steps)
        assert all(r.listed for r in history)


def test_tf2_checkpoint_names_are_readable(tf2_keras_ckpt):
    prefix = tf2_keras_ckpt.prefixes[-1]
    assert_matches_tensorflow(prefix)
    with open_checkpoint(tf2_keras_ckpt.directory) as ckpt:
        assert ckpt.prefix == os.path.abspath(prefix)
        assert ckpt["_CHECKPOINTABLE_OBJECT_GRAPH"].kind is TensorKind.OBJECT_GRAPH
        assert ckpt["save_counter/.ATTRIBUTES/VARIABLE_VALUE"].kind is TensorKind.COUNTER
        for key in tf2_keras_ckpt.expected:
            info = ckpt[key]
            assert info.kind is TensorKind.VARIABLE
            # Keras 3 reaches layers through private attributes; the variable's own name shows.
            assert info.readable_name == info.full_name
            assert info.readable_name.split("/")[-1] in ("kernel", "bias")
        history = ckpt.history()
        assert [r.prefix for r in history] == [os.path.abspath(p) for p in tf2_keras_ckpt.prefixes]
        assert all(r.timestamp is not None and r.listed for r in history)


def test_tf2_optimizer_slots_link_to_their_variables(tf2_module_ckpt):
    with open_checkpoint(tf2_module_ckpt.prefixes[-1]) as ckpt:
        for slot, owner in tf2_module_ckpt.slot_of.items():
            assert ckpt[slot].kind is TensorKind.OPTIMIZER
            assert ckpt[slot].slot_of == owner


def test_savedmodel_variables(savedmodel_dir):
    assert resolve_prefix(str(savedmodel_dir.directory)) == os.path.abspath(
        savedmodel_dir.variables_prefix
    )
    with open_checkpoint(savedmodel_dir.directory) as ckpt:
        for key, value in savedmodel_dir.expected.items():
            np.testing.assert_array_equal(ckpt.read(key), value)


def test_every_way_of_naming_a_checkpoint(tf1_training_dir, tmp_path):
    prefix = os.path.abspath(tf1_training_dir.prefixes[-1])
    for path in [
        tf1_training_dir.directory,
        prefix,
        prefix + ".index",
        prefix + ".data-00000-of-00001",
        prefix + ".meta",
        os.path.join(tf1_training_dir.directory, "checkpoint"),
    ]:
        assert resolve_prefix(str(path)) == prefix, path


def test_moved_directory_with_absolute_paths_still_opens(tf1_training_dir, tmp_path):
    """TF1's Saver writes absolute paths; a copied directory must still open its latest."""
    copy = tmp_path / "copied"
    shutil.copytree(tf1_training_dir.directory, copy)
    state = (copy / "checkpoint").read_text()
    assert os.path.isabs(state.split('"')[1])  # the fixture's file really has absolute paths
    latest = os.path.basename(tf1_training_dir.prefixes[-1])
    assert resolve_prefix(str(copy)) == str(copy / latest)


def test_directory_without_state_file_takes_newest_index(all_dtypes_ckpt, tmp_path):
    for name in os.listdir(os.path.dirname(all_dtypes_ckpt.prefix)):
        shutil.copy(os.path.join(os.path.dirname(all_dtypes_ckpt.prefix), name), tmp_path)
    (tmp_path / "checkpoint").unlink(missing_ok=True)
    with open_checkpoint(tmp_path) as ckpt:
        assert os.path.basename(ckpt.prefix) == os.path.basename(all_dtypes_ckpt.prefix)


def test_unknown_name_raises_with_tensorflows_words(all_dtypes_ckpt):
    with (
        open_checkpoint(all_dtypes_ckpt.prefix) as ckpt,
        pytest.raises(CheckpointError, match="not found in checkpoint"),
    ):
        ckpt.read("no/such/variable")


def test_many_variables(many_variables_ckpt):
    tf = import_tensorflow()
    with open_checkpoint(many_variables_ckpt.prefix) as ckpt:
        names = {name for name, _ in tf.train.list_variables(many_variables_ckpt.prefix)}
        assert set(ckpt) == names
        assert len(ckpt) >= 20_000


@pytest.mark.parametrize(
    "fixture", ["all_dtypes_ckpt", "sharded_ckpt", "tf1_partitioned", "many_variables_ckpt"]
)
def test_fast_entry_decoding_agrees_with_protobuf(request, fixture):
    """The hand-written entry decoder and the protobuf one give the same entry, field by field."""
    index = BundleIndex(request.getfixturevalue(fixture).prefix)
    table = Table.open(index.index_path).items()[1:]
    fields = ("dtype", "shape", "shard_id", "offset", "size", "crc32c", "slices")
    for key, value in table:
        fast, slow = index._parse_entry(key, value), index._parse_entry_proto(key, value)
        assert [getattr(fast, f) for f in fields] == [getattr(slow, f) for f in fields], key
