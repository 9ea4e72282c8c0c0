"""The TensorFlow-made fixtures are what they claim to be, checked with TensorFlow alone.

Other format tests trust these fixtures as ground truth, so a fixture that silently stopped
producing (say) three shards or quantized dtypes would make them pass for the wrong reason.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np
import pytest
from tf_checkpoints import import_tensorflow, write_with_tf


@pytest.fixture(scope="module")
def tf():
    return import_tensorflow()


def assert_same_tensor(actual, expected) -> None:
    """Equal dtype, shape and bytes (so NaN, -0.0 and bfloat16 compare exactly).

    TensorFlow returns a scalar string as plain `bytes`, hence the object conversion.
    """
    expected = np.asarray(expected)
    actual = np.asarray(actual, dtype=object if expected.dtype == object else None)
    assert actual.dtype == expected.dtype
    assert actual.shape == expected.shape
    if expected.dtype == object:
        assert actual.tolist() == expected.tolist()
    else:
        assert actual.tobytes() == expected.tobytes()


def test_tf1_training_dir_keeps_two_of_three(tf, tf1_training_dir):
    fixture = tf1_training_dir
    state = tf.train.get_checkpoint_state(str(fixture.directory))
    assert list(state.all_model_checkpoint_paths) == list(fixture.prefixes)
    assert tf.train.latest_checkpoint(str(fixture.directory)) == fixture.prefix
    assert len(fixture.prefixes) == 2
    assert not os.path.exists(fixture.deleted_prefixes[0] + ".index")
    for prefix, step in zip(fixture.prefixes, fixture.steps, strict=True):
        assert os.path.exists(prefix + ".meta")
        assert prefix.endswith(f"model.ckpt-{step}")
        assert tf.train.load_checkpoint(prefix).get_tensor("global_step") == step


def test_tf1_training_dir_names_each_kind(tf, tf1_training_dir):
    fixture = tf1_training_dir
    listed = dict(tf.train.list_variables(fixture.prefix))
    assert list(listed) == list(fixture.variable_names)
    assert "net/layer_2/kernel" in fixture.model_variables
    assert "net/layer_10/kernel" in fixture.model_variables
    assert {"beta1_power", "beta2_power"} <= set(fixture.optimizer_slots)
    assert fixture.slot_of["net/layer_2/kernel/Adam_1"] == "net/layer_2/kernel"
    assert "net/layer_10/bias/ExponentialMovingAverage" in fixture.ema_shadows
    for slot, variable in fixture.slot_of.items():
        assert listed[slot] == listed[variable]


def test_tf1_partitioned_is_stored_in_slices(tf, tf1_partitioned):
    fixture = tf1_partitioned
    listed = dict(tf.train.list_variables(fixture.prefix))
    assert listed == {name: list(value.shape) for name, value in fixture.expected.items()}
    reader = tf.train.load_checkpoint(fixture.prefix)
    for name, value in fixture.expected.items():
        assert_same_tensor(reader.get_tensor(name), value)
    # fixed_size_partitioner(3) on 10 rows stores rows 4-6 as the second slice
    (middle,) = tf.raw_ops.RestoreV2(
        prefix=fixture.prefix,
        tensor_names=["pv"],
        shape_and_slices=["10 4 4,3:-"],
        dtypes=[tf.float32],
    )
    assert_same_tensor(middle.numpy(), fixture.expected["pv"][4:7])
    meta = tf.compat.v1.MetaGraphDef()
    meta.ParseFromString(fixture.meta_path.read_bytes())
    assert "VariableV2" in {node.op for node in meta.graph_def.node}


def test_all_dtypes_round_trip_through_tensorflow(tf, all_dtypes_ckpt):
    fixture = all_dtypes_ckpt
    reader = tf.train.load_checkpoint(fixture.prefix)
    stored_dtypes = reader.get_variable_to_dtype_map()
    assert set(stored_dtypes) == set(fixture.expected)
    for name, value in fixture.expected.items():
        assert stored_dtypes[name].name == fixture.dtype_names[name], name
        assert_same_tensor(reader.get_tensor(name), value)


def test_all_dtypes_covers_every_kind(all_dtypes_ckpt):
    kinds = set(all_dtypes_ckpt.dtype_names.values())
    expected_kinds = {"float8_e5m2", "float8_e4m3fn", "bfloat16", "qint8", "quint16", "string"}
    assert expected_kinds <= kinds
    assert all_dtypes_ckpt.skipped_dtypes == ()  # TensorFlow 2.21 saves every one
    assert all_dtypes_ckpt.expected["empty/int8"].shape == (3, 0)
    assert all_dtypes_ckpt.expected["large/float32"].shape == (300, 500)


def test_tf2_keras_uses_relative_paths_and_timestamps(tf, tf2_keras_ckpt):
    fixture = tf2_keras_ckpt
    state_text = (fixture.directory / "checkpoint").read_text()
    assert 'model_checkpoint_path: "ckpt-3"' in state_text
    state = tf.train.get_checkpoint_state(str(fixture.directory))
    assert len(state.all_model_checkpoint_timestamps) == 3
    assert tf.train.latest_checkpoint(str(fixture.directory)) == fixture.prefix
    names = dict(tf.train.list_variables(fixture.prefix))
    assert "_CHECKPOINTABLE_OBJECT_GRAPH" in names
    assert "save_counter/.ATTRIBUTES/VARIABLE_VALUE" in names
    assert len(fixture.expected) == 4  # two Dense layers, kernel and bias
    reader = tf.train.load_checkpoint(fixture.prefix)
    for key, value in fixture.expected.items():
        assert_same_tensor(reader.get_tensor(key), value)


def test_tf2_module_keys_and_values(tf, tf2_module_ckpt):
    fixture = tf2_module_ckpt
    listed = dict(tf.train.list_variables(fixture.prefix))
    assert set(listed) == {"_CHECKPOINTABLE_OBJECT_GRAPH", *fixture.object_paths, *fixture.slot_of}
    assert "net/blocks/conv..1/kernel/.ATTRIBUTES/VARIABLE_VALUE" in listed
    assert "net/blocks/in.Sout/bias/.ATTRIBUTES/VARIABLE_VALUE" in listed
    reader = tf.train.load_checkpoint(fixture.prefix)
    for key, value in fixture.expected.items():
        assert_same_tensor(reader.get_tensor(key), value)


def test_sharded_has_three_data_files(tf, sharded_ckpt):
    fixture = sharded_ckpt
    assert len(fixture.data_files) == 3
    assert all(path.stat().st_size > 0 for path in fixture.data_files)
    reader = tf.train.load_checkpoint(fixture.prefix)
    assert set(reader.get_variable_to_shape_map()) == set(fixture.expected)
    for name, value in fixture.expected.items():
        assert_same_tensor(reader.get_tensor(name), value)


def test_savedmodel_variables_and_signature(tf, savedmodel_dir):
    fixture = savedmodel_dir
    reader = tf.train.load_checkpoint(fixture.variables_prefix)
    for key, value in fixture.expected.items():
        assert_same_tensor(reader.get_tensor(key), value)
    loaded = tf.saved_model.load(str(fixture.directory))
    assert set(loaded.signatures) == set(fixture.signature_names)


def test_frozen_pb_computes_with_its_constants(tf, frozen_pb):
    graph_def = tf.compat.v1.GraphDef()
    graph_def.ParseFromString(frozen_pb.path.read_bytes())
    ops = {node.op for node in graph_def.node}
    assert not ops & {"VariableV2", "VarHandleOp"}
    assert set(frozen_pb.frozen_variables) <= set(frozen_pb.constants)

    inputs = np.array([[1.0, -2.0, 0.5]], np.float32)
    with tf.Graph().as_default() as graph:
        tf.graph_util.import_graph_def(graph_def, name="")
        with tf.compat.v1.Session(graph=graph) as session:
            output = session.run("output:0", {"input:0": inputs})
    constants = frozen_pb.constants
    hidden = np.maximum(inputs @ constants["hidden/kernel"] + constants["hidden/bias"], 0)
    np.testing.assert_allclose(output, hidden @ constants["out/kernel"], rtol=1e-6)


def test_many_variables_spans_several_index_blocks(tf, many_variables_ckpt):
    fixture = many_variables_ckpt
    listed = tf.train.list_variables(fixture.prefix)
    assert len(listed) == len(fixture.names) == 20_000
    assert os.path.getsize(fixture.prefix + ".index") > 2 * 262_144
    reader = tf.train.load_checkpoint(fixture.prefix)
    for name, value in fixture.sample.items():
        assert_same_tensor(reader.get_tensor(name), value)


def test_write_with_tf_round_trips_quantized_and_strings(tf, tmp_path):
    tensors = {
        "q": np.array([-128, 0, 127], np.int8),
        "s": np.array([b"", b"\xff"], dtype=object),
    }
    prefix = write_with_tf(tmp_path / "w", tensors, dtype_names={"q": "qint8"})
    reader = tf.train.load_checkpoint(prefix)
    assert reader.get_variable_to_dtype_map()["q"] == tf.qint8
    for name, value in tensors.items():
        assert_same_tensor(reader.get_tensor(name), value)


DEMO_DIR = Path(__file__).resolve().parents[2] / "resources" / "demo"


def test_demo_folder_restores_anywhere(tf, tmp_path):
    """The shipped demo: relative `checkpoint` paths, three steps, a .meta that restores."""
    copy = shutil.copytree(DEMO_DIR, tmp_path / "demo", ignore=shutil.ignore_patterns("*.py"))
    assert sum(path.stat().st_size for path in copy.iterdir()) < 1_500_000
    state = tf.train.get_checkpoint_state(str(copy))
    assert [os.path.basename(p) for p in state.all_model_checkpoint_paths] == [
        "model.ckpt-100",
        "model.ckpt-200",
        "model.ckpt-300",
    ]
    assert '"model.ckpt-300"' in (copy / "checkpoint").read_text()  # relative, not absolute
    names = dict(tf.train.list_variables(str(copy)))
    for name in ("conv1/kernel", "conv2/bias", "bn1/gamma", "logits/kernel"):
        assert {name, f"{name}/Adam", f"{name}/ExponentialMovingAverage"} <= set(names)
    assert names["bn2/moving_mean"] == [32]
    assert "bn2/moving_mean/Adam" not in names  # not trainable: no slots, no shadow
    assert names["conv2/kernel/Adam_1"] == [3, 3, 16, 32]
    with tf.Graph().as_default(), tf.compat.v1.Session() as session:
        saver = tf.compat.v1.train.import_meta_graph(str(copy / "model.ckpt-200.meta"))
        saver.restore(session, str(copy / "model.ckpt-200"))
        assert session.run(tf.compat.v1.train.get_global_step()) == 200


def run_frozen(tf, path: Path, feed: dict[str, np.ndarray], output: str) -> np.ndarray:
    graph_def = tf.compat.v1.GraphDef()
    graph_def.ParseFromString(path.read_bytes())
    with tf.Graph().as_default() as graph:
        tf.graph_util.import_graph_def(graph_def, name="")
        with tf.compat.v1.Session(graph=graph) as session:
            return session.run(output, feed)


def test_tf1_frozen_graphs_compute_alike_and_hold_the_checkpoint(tf, tf1_frozen):
    """The four frozen graphs give the same output (Grappler and import changed names, not
    values), hold no variables, and each weight Const is its variable's checkpoint value."""
    rng = np.random.default_rng(0)
    feed = {
        "images:0": rng.normal(size=(2, 6, 6, 1)).astype(np.float32),
        "ids:0": np.array([[1, 9], [0, 4]], np.int32),
    }
    reader = tf.train.load_checkpoint(tf1_frozen.prefix)
    outputs = []
    for variant, graph in tf1_frozen.graphs.items():
        scope = "import/" if variant.endswith("imported") else ""
        scoped = {scope + name: value for name, value in feed.items()}
        outputs.append(run_frozen(tf, graph.path, scoped, f"{scope}output:0"))
        for const, variable in graph.weights.items():
            assert_same_tensor(graph.constants[const], reader.get_tensor(variable))
    for output in outputs[1:]:
        assert_same_tensor(output, outputs[0])


@pytest.mark.parametrize("fixture", ["tf2_keras_frozen", "tf2_loop_frozen"])
def test_tf2_frozen_consts_hold_the_checkpoint_keys_they_are_said_to(tf, request, fixture):
    frozen = request.getfixturevalue(fixture)
    reader = tf.train.load_checkpoint(frozen.prefix)
    assert sorted(frozen.graph.weights.values()) == sorted(frozen.variables)
    for const, key in frozen.graph.weights.items():
        assert_same_tensor(frozen.graph.constants[const], reader.get_tensor(key))
