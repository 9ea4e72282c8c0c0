"""The TF2 object graph, parsed by us and checked against TensorFlow's own parse and objects."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from tf_checkpoints import import_tensorflow

from ckpt_browser.format import CheckpointError
from ckpt_browser.format.object_graph import ObjectGraph, escape_local_name

OBJECT_GRAPH_KEY = "_CHECKPOINTABLE_OBJECT_GRAPH"


def raw_object_graph(prefix: str) -> bytes:
    tf = import_tensorflow()
    return tf.train.load_checkpoint(prefix).get_tensor(OBJECT_GRAPH_KEY)


def tensorflow_parse(data: bytes):
    import_tensorflow()
    from tensorflow.core.protobuf import trackable_object_graph_pb2

    return trackable_object_graph_pb2.TrackableObjectGraph.FromString(data)


def checkpoint_keys(prefix: str) -> set[str]:
    tf = import_tensorflow()
    return {name for name, _ in tf.train.list_variables(prefix)} - {OBJECT_GRAPH_KEY}


def assert_same_as_tensorflow(graph: ObjectGraph, theirs) -> None:
    assert len(graph.nodes) == len(theirs.nodes)
    for ours, node in zip(graph.nodes, theirs.nodes, strict=True):
        assert ours.children == tuple((c.local_name, c.node_id) for c in node.children)
        assert [(a.name, a.full_name, a.checkpoint_key) for a in ours.attributes] == [
            (a.name, a.full_name, a.checkpoint_key) for a in node.attributes
        ]
        assert [(s.original_node, s.slot_name, s.slot_node) for s in ours.slot_variables] == [
            (s.original_variable_node_id, s.slot_name, s.slot_variable_node_id)
            for s in node.slot_variables
        ]


def node_at(theirs, path: str) -> int:
    """Follow local names from the root in TensorFlow's parse; the node id reached."""
    node_id = 0
    for local_name in path.split("/"):
        children = {c.local_name: c.node_id for c in theirs.nodes[node_id].children}
        node_id = children[local_name]
    return node_id


# --- tf.Module tree with TF1's Adam: `.OPTIMIZER_SLOT` keys -----------------------------------


def test_module_checkpoint_matches_tensorflow(tf2_module_ckpt):
    data = raw_object_graph(tf2_module_ckpt.prefix)
    graph = ObjectGraph.parse(data)
    assert_same_as_tensorflow(graph, tensorflow_parse(data))
    assert set(graph.readable_names) == checkpoint_keys(tf2_module_ckpt.prefix)


def test_module_readable_names_are_object_paths(tf2_module_ckpt):
    graph = ObjectGraph.parse(raw_object_graph(tf2_module_ckpt.prefix))
    for key, path in tf2_module_ckpt.object_paths.items():
        assert graph.readable_names[key] == "/".join(path)
    # Local names keep their dots and slashes; the key escapes them.
    assert (
        graph.readable_names["net/blocks/conv..1/kernel/.ATTRIBUTES/VARIABLE_VALUE"]
        == "net/blocks/conv.1/kernel"
    )
    assert graph.readable_names["net/blocks/in.Sout/bias/.ATTRIBUTES/VARIABLE_VALUE"] == (
        "net/blocks/in/out/bias"
    )


def test_module_slots_optimizer_and_counters(tf2_module_ckpt):
    graph = ObjectGraph.parse(raw_object_graph(tf2_module_ckpt.prefix))
    assert {slot: owner for slot, (owner, _) in graph.slot_of.items()} == tf2_module_ckpt.slot_of
    for slot, (owner, slot_name) in graph.slot_of.items():
        assert slot_name == slot.split("/.OPTIMIZER_SLOT/optimizer/")[1].split("/")[0]
        assert (
            graph.readable_names[slot] == f"{graph.readable_names[owner]} (optimizer {slot_name})"
        )
    beta_powers = {
        f"optimizer/{name}/.ATTRIBUTES/VARIABLE_VALUE" for name in ("beta1_power", "beta2_power")
    }
    assert graph.optimizer_keys == set(tf2_module_ckpt.slot_of) | beta_powers
    assert graph.counter_keys == {
        "step/.ATTRIBUTES/VARIABLE_VALUE",
        "save_counter/.ATTRIBUTES/VARIABLE_VALUE",
    }
    assert graph.full_names["optimizer/beta1_power/.ATTRIBUTES/VARIABLE_VALUE"] == "beta1_power"


def test_plain_variable_tree_without_optimizer(tmp_path):
    tf = import_tensorflow()
    model = tf.Module()
    model.layer = tf.Module()
    model.layer.kernel = tf.Variable(np.ones((2, 2), np.float32), name="kernel")
    model.table = {"first": tf.Variable(1), "second": [tf.Variable(2.0), tf.Variable(3.0)]}
    model.alias = model.layer.kernel  # a shorter second path: TensorFlow keys the kernel by it
    prefix = tf.train.Checkpoint(model=model).save(str(tmp_path / "ckpt"))
    data = raw_object_graph(prefix)
    graph = ObjectGraph.parse(data)
    assert_same_as_tensorflow(graph, tensorflow_parse(data))
    assert graph.readable_names == {
        "model/alias/.ATTRIBUTES/VARIABLE_VALUE": "model/alias",
        "model/table/first/.ATTRIBUTES/VARIABLE_VALUE": "model/table/first",
        "model/table/second/0/.ATTRIBUTES/VARIABLE_VALUE": "model/table/second/0",
        "model/table/second/1/.ATTRIBUTES/VARIABLE_VALUE": "model/table/second/1",
        "save_counter/.ATTRIBUTES/VARIABLE_VALUE": "save_counter",
    }
    assert set(graph.readable_names) == checkpoint_keys(prefix)
    assert graph.full_names["model/alias/.ATTRIBUTES/VARIABLE_VALUE"] == "kernel"
    assert graph.slot_of == {} and graph.optimizer_keys == set()
    assert graph.counter_keys == {"save_counter/.ATTRIBUTES/VARIABLE_VALUE"}
    assert [name for name, _ in graph.nodes[0].children] == ["model", "save_counter"]
    assert [node.path for node in graph.children_of(0)] == ["model", "save_counter"]


@pytest.mark.parametrize("name", ["plain", "conv.1", "in/out", "a..b", ".S", "x/.y"])
def test_escaping_matches_tensorflow(name):
    import_tensorflow()
    from tensorflow.python.trackable import trackable_utils

    assert escape_local_name(name) == trackable_utils.escape_local_name(name)


# --- Keras 3: slots as per-variable lists -----------------------------------------------------

# Keras optimizer attribute holding per-variable slot lists -> the slot name Keras gives them.
KERAS_SLOT_LISTS = {
    "adam": {"_momentums": "momentum", "_velocities": "velocity", "_velocity_hats": "velocity_hat"},
    "sgd": {"momentums": "momentum"},
    "nadam": {"_momentums": "momentum", "_velocities": "velocity"},
}


def make_keras_checkpoint(directory: Path, optimizer_name: str, with_model: bool):
    """Train a Keras model one step; save it (or only its optimizer). Return the objects too."""
    tf = import_tensorflow()
    import keras

    keras.utils.set_random_seed(7)
    model = keras.Sequential(
        [keras.Input((3,)), keras.layers.Dense(4), keras.layers.Dense(2, use_bias=False)]
    )
    optimizer = {
        "adam": lambda: keras.optimizers.Adam(amsgrad=True),
        "sgd": lambda: keras.optimizers.SGD(momentum=0.9),
        "nadam": lambda: keras.optimizers.Nadam(),
    }[optimizer_name]()
    inputs = np.ones((5, 3), np.float32)
    with tf.GradientTape() as tape:
        loss = tf.reduce_sum(model(inputs))
    gradients = tape.gradient(loss, model.trainable_variables)
    optimizer.apply_gradients(zip(gradients, model.trainable_variables))
    objects = {"optimizer": optimizer, **({"model": model} if with_model else {})}
    prefix = tf.train.Checkpoint(**objects).save(str(directory / "ckpt"))
    return prefix, model, optimizer


@pytest.mark.parametrize("optimizer_name", sorted(KERAS_SLOT_LISTS))
def test_keras_optimizer_slots(tmp_path, optimizer_name):
    prefix, model, optimizer = make_keras_checkpoint(tmp_path, optimizer_name, with_model=True)
    data = raw_object_graph(prefix)
    graph = ObjectGraph.parse(data)
    theirs = tensorflow_parse(data)
    assert_same_as_tensorflow(graph, theirs)
    assert set(graph.readable_names) == checkpoint_keys(prefix)

    # Which slot belongs to which variable, from the optimizer's own lists.
    expected = {}
    for attribute, slot_name in KERAS_SLOT_LISTS[optimizer_name].items():
        for variable, slot in zip(
            model.trainable_variables, getattr(optimizer, attribute), strict=True
        ):
            expected[slot.path] = (variable.path, slot_name)
    ours = {
        graph.full_names[slot]: (graph.full_names[owner], slot_name)
        for slot, (owner, slot_name) in graph.slot_of.items()
    }
    assert ours == expected

    optimizer_paths = {variable.path for variable in optimizer.variables}
    assert {graph.full_names[key] for key in graph.optimizer_keys} == optimizer_paths
    assert {graph.full_names[key] for key in graph.counter_keys} == {
        optimizer.iterations.path,
        "save_counter",
    }
    # Model weights read as paths through the model (a real path in TensorFlow's graph), even
    # though TensorFlow keyed them under the optimizer, which it reached first.
    for variable in model.trainable_variables:
        key = next(k for k, name in graph.full_names.items() if name == variable.path)
        assert key.startswith("optimizer/_trainable_variables/")
        readable = graph.readable_names[key]
        assert readable.startswith("model/")
        attributes = theirs.nodes[node_at(theirs, readable)].attributes
        assert [a.checkpoint_key for a in attributes] == [key]


def test_keras_optimizer_alone_does_not_own_the_model_variables(tmp_path):
    prefix, model, optimizer = make_keras_checkpoint(tmp_path, "adam", with_model=False)
    graph = ObjectGraph.parse(raw_object_graph(prefix))
    model_keys = {
        k
        for k, name in graph.full_names.items()
        if name in {v.path for v in model.trainable_variables}
    }
    assert len(model_keys) == len(model.trainable_variables)
    assert not model_keys & graph.optimizer_keys
    assert {graph.full_names[k] for k in graph.optimizer_keys} == {
        v.path for v in optimizer.variables
    }
    for key in model_keys:  # no model path to prefer: the path TensorFlow used
        assert graph.readable_names[key] == key.removesuffix("/.ATTRIBUTES/VARIABLE_VALUE")


def test_shared_keras_fixture(tf2_keras_ckpt):
    graph = ObjectGraph.parse(raw_object_graph(tf2_keras_ckpt.prefix))
    for key in tf2_keras_ckpt.expected:
        assert key not in graph.optimizer_keys
        assert graph.readable_names[key].startswith("model/")
    assert len(graph.slot_of) == 2 * len(tf2_keras_ckpt.expected)  # Adam: momentum, velocity
    assert set(graph.slot_of.values()) == {
        (key, slot) for key in tf2_keras_ckpt.expected for slot in ("momentum", "velocity")
    }


# --- bad input --------------------------------------------------------------------------------


@pytest.mark.parametrize("data", [b"", b"\xff\xff\xff", b"\x0a\x05\x0a\x03"])
def test_junk_is_a_checkpoint_error(data):
    with pytest.raises(CheckpointError) as error:
        ObjectGraph.parse(data)
    assert "object graph" in str(error.value)
    assert "\n" not in str(error.value)


def test_reference_outside_the_graph_is_a_checkpoint_error():
    import_tensorflow()
    from tensorflow.core.protobuf import trackable_object_graph_pb2

    proto = trackable_object_graph_pb2.TrackableObjectGraph()
    proto.nodes.add().children.add(node_id=3, local_name="ghost")
    with pytest.raises(CheckpointError, match="outside"):
        ObjectGraph.parse(proto.SerializeToString())
