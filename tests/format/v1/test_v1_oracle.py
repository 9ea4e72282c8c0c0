"""V1 checkpoints written by TensorFlow read as TensorFlow reads them: names, dtypes, shapes and
every value bit for bit, whole or by region, and the same as the V2 checkpoint of the same
variables."""

from __future__ import annotations

import os

import numpy as np
import pytest
from tf_checkpoints import import_tensorflow
from tf_v1_checkpoints import assert_regions_read_like_numpy, assert_same_bits

from ckpt_browser.format import TensorKind, history, open_checkpoint
from ckpt_browser.format.names import name_of_key

# fixture name -> attribute holding the path TensorFlow was given (a file or a sharded glob)
SOURCES = {"v1_ckpt": "path", "v1_sharded_ckpt": "glob", "v1_slices_ckpt": "path"}


def shown(tf_name: str) -> str:
    """The name the browser gives TensorFlow's tensor name (escaped when it holds control
    characters, as `esc\\x00name\\x01end`)."""
    return name_of_key(tf_name.encode("utf-8"))


@pytest.fixture(params=list(SOURCES))
def source(request) -> tuple[str, dict[str, np.ndarray]]:
    """(path, expected values by the browser's names) of each TensorFlow-made V1 checkpoint."""
    fixture = request.getfixturevalue(request.param)
    expected = {shown(name): value for name, value in fixture.expected.items()}
    return getattr(fixture, SOURCES[request.param]), expected


def test_names_dtypes_and_shapes_are_tensorflows(source):
    path, _ = source
    reader = import_tensorflow().train.load_checkpoint(path)
    tf_dtypes = reader.get_variable_to_dtype_map()
    tf_shapes = reader.get_variable_to_shape_map()
    with open_checkpoint(path) as ckpt:
        assert set(ckpt) == {shown(name) for name in tf_shapes}
        for tf_name, tf_shape in tf_shapes.items():
            info = ckpt[shown(tf_name)]
            assert info.name == info.readable_name == shown(tf_name)
            assert info.shape == tuple(tf_shape), tf_name
            assert info.dtype.name == tf_dtypes[tf_name].name, tf_name
            assert info.dtype.enum == tf_dtypes[tf_name].as_datatype_enum, tf_name


def test_every_value_is_restorev2s_bit_for_bit(source):
    path, expected = source
    with open_checkpoint(path) as ckpt:
        for name, value in expected.items():
            assert_same_bits(ckpt.read(name), value)


def test_a_region_reads_like_numpy_indexing(source):
    path, expected = source
    with open_checkpoint(path) as ckpt:
        for name, value in expected.items():
            assert_regions_read_like_numpy(ckpt, name, value)


def test_verify_finds_nothing_wrong_in_tensorflows_files(source):
    path, _ = source
    with open_checkpoint(path) as ckpt:
        assert ckpt.verify() == []


def test_unsharded_kinds_name_the_optimizer_the_averages_and_the_step(v1_ckpt):
    other = set(v1_ckpt.expected) - set(v1_ckpt.optimizer_slots) - set(v1_ckpt.ema_shadows)
    other -= set(v1_ckpt.counters)
    with open_checkpoint(v1_ckpt.path) as ckpt:
        for name in v1_ckpt.optimizer_slots:
            assert ckpt[name].kind is TensorKind.OPTIMIZER, name
        for name in v1_ckpt.ema_shadows:
            assert ckpt[name].kind is TensorKind.EMA, name
        assert ckpt["global_step"].kind is TensorKind.COUNTER
        assert set(v1_ckpt.model_variables) <= other
        for name in other:
            assert ckpt[name].kind is TensorKind.VARIABLE, name
        for name, info in ckpt.items():
            assert info.slot_of == v1_ckpt.slot_of.get(name), name
            assert not info.partitioned
            assert info.shard == 0


def test_partitioned_variables_are_listed_once_whole(v1_sharded_ckpt):
    fixture = v1_sharded_ckpt
    with open_checkpoint(fixture.glob) as ckpt:
        for name, info in ckpt.items():
            assert info.partitioned == (name in fixture.partitions), name
            if info.partitioned:
                assert info.shard is None
            else:  # the shard file TensorFlow finds it in
                holders = [i for i, names in enumerate(fixture.names_in_shard) if name in names]
                assert [info.shard] == holders, name


def test_hand_made_slices_are_partitioned_and_whole_tensors_not(v1_slices_ckpt):
    with open_checkpoint(v1_slices_ckpt.path) as ckpt:
        for name, specs in v1_slices_ckpt.slices.items():
            assert ckpt[shown(name)].partitioned == (len(specs) > 1), name


# Regions that cut across the parts (rows 0-3 | 4-6 | 7-9 of pv; 0-66 | 67-133 | 134-199 of
# emb/table; columns 0-2 | 3-5 | 6-8 of wide), with steps, negative and integer indices.
REGIONS = {
    "pv": [
        (slice(3, 8),),
        (slice(None, None, 3), slice(1, 3)),
        (5,),
        (slice(9, 2, -2), -1),
        (slice(4, 7), slice(None)),
        (slice(5, 5),),
    ],
    "emb/table": [(slice(60, 140), 1), (slice(66, 68),), (slice(None, None, 50),), (199, 2)],
    "wide": [(slice(None), slice(2, 7)), (1, slice(None, None, -1)), (slice(1, 3), 8), (3, 3)],
}


@pytest.mark.parametrize("name", list(REGIONS))
def test_regions_across_parts_in_both_shards(v1_sharded_ckpt, name):
    value = v1_sharded_ckpt.expected[name]
    with open_checkpoint(v1_sharded_ckpt.glob) as ckpt:
        for region in REGIONS[name]:
            assert_same_bits(np.asarray(ckpt.read(name, region)), value[region])


def test_hand_made_slices_read_by_region(v1_slices_ckpt):
    expected = v1_slices_ckpt.expected
    regions = {
        "cols": [(slice(None), slice(1, 4)), (2, 0), (slice(1, 3), slice(None, None, 2))],
        "cube": [(slice(None), 0), (slice(None), slice(1, 3), 1), (2,)],
        "mixed": [(slice(1, 4), slice(3, 5)), (3,), (slice(None), 5)],
    }
    with open_checkpoint(v1_slices_ckpt.path) as ckpt:
        for name, name_regions in regions.items():
            for region in name_regions:
                assert_same_bits(np.asarray(ckpt.read(name, region)), expected[name][region])


def test_v1_equals_its_v2_twin_tensor_for_tensor(v1_ckpt):
    with open_checkpoint(v1_ckpt.path) as old, open_checkpoint(v1_ckpt.v2_prefix) as new:
        assert set(old) == set(new)
        for name, info in old.items():
            twin = new[name]
            assert (info.dtype, info.shape, info.kind) == (twin.dtype, twin.shape, twin.kind)
            assert (info.slot_of, info.readable_name) == (twin.slot_of, twin.readable_name)
            assert_same_bits(old.read(name), np.asarray(new.read(name)))


def summary(path: str) -> tuple[dict[str, tuple], dict[str, bytes]]:
    """What a checkpoint lists, and every fixed-size tensor's bytes."""
    with open_checkpoint(path) as ckpt:
        listed = {n: (i.dtype.name, i.shape, i.kind, i.partitioned) for n, i in ckpt.items()}
        values = {n: ckpt.read(n).tobytes() for n, i in ckpt.items() if not i.dtype.is_string}
    return listed, values


def test_glob_either_shard_file_and_directory_open_the_whole_sharded_checkpoint(
    v1_sharded_ckpt,
):
    fixture = v1_sharded_ckpt
    whole = summary(fixture.glob)
    assert set(whole[0]) == set(fixture.expected)
    for path in [*fixture.shard_files, str(fixture.directory)]:
        assert summary(path) == whole, path
    with open_checkpoint(str(fixture.directory)) as ckpt:
        assert ckpt.step == fixture.step


def test_directory_and_file_open_the_unsharded_checkpoint(v1_ckpt):
    whole = summary(v1_ckpt.path)
    assert summary(str(v1_ckpt.directory)) == whole
    with open_checkpoint(str(v1_ckpt.directory)) as ckpt:
        assert ckpt.step == v1_ckpt.step


def test_a_directory_mixing_v1_and_v2_saves(v1_mixed_dir):
    fixture = v1_mixed_dir
    with open_checkpoint(str(fixture.directory)) as latest:
        assert latest.step == fixture.steps[-1]
        assert_same_bits(latest.read("w"), fixture.expected[fixture.steps[-1]]["w"])
    records = history(str(fixture.directory))
    assert [record.step for record in records] == list(fixture.steps)
    assert [os.path.basename(r.prefix) for r in records] == [
        os.path.basename(path) for path in fixture.paths
    ]
    for path, step in zip(fixture.paths, fixture.steps, strict=True):
        with open_checkpoint(path) as ckpt:
            assert ckpt.step == step
            assert ckpt.verify() == []
            for name, value in fixture.expected[step].items():
                assert_same_bits(ckpt.read(name), value)
