"""SavedModels TensorFlow wrote, read by us: graph, functions, signatures, variables and links."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from graph_oracle import (
    assert_functions_match,
    assert_nodes_match,
    checkpoint_listing,
    their_saved_model,
)
from tf_checkpoints import import_tensorflow

from ckpt_browser.format.graph.reader import load_graph


@pytest.fixture(scope="module")
def savedmodel_with_slots(tmp_path_factory) -> Path:
    """Two variables both named "Variable", a non-trainable one, and TF1 Adam slots."""
    tf = import_tensorflow()

    class Model(tf.Module):
        def __init__(self) -> None:
            super().__init__()
            self.a = tf.Variable(np.arange(6, dtype=np.float32).reshape(3, 2))
            self.b = tf.Variable(np.array([10.0, 20.0], np.float32))
            self.frozen = tf.Variable(np.int64(5), trainable=False, name="frozen")
            self.items = [tf.Variable(np.float32(-1.0), name="item.with/odd")]

        @tf.function(input_signature=[tf.TensorSpec([None, 3], tf.float32, name="x")])
        def __call__(self, x):
            return {"y": tf.matmul(x, self.a) + self.b + self.items[0]}

    model = Model()
    optimizer = tf.compat.v1.train.AdamOptimizer(0.1)
    with tf.GradientTape() as tape:
        loss = tf.reduce_sum(model.a) + tf.reduce_sum(model.b)
    optimizer.apply_gradients(zip(tape.gradient(loss, [model.a, model.b]), [model.a, model.b]))
    model.optimizer = optimizer
    directory = tmp_path_factory.mktemp("savedmodel_slots") / "model"
    tf.saved_model.save(model, str(directory))
    return directory


@pytest.fixture(scope="module")
def keras_savedmodel(tmp_path_factory) -> Path:
    """A compiled, trained Keras 3 model (with its Adam state) through tf.saved_model.save."""
    tf = import_tensorflow()
    import keras

    keras.utils.set_random_seed(3)
    model = keras.Sequential(
        [keras.Input((3,)), keras.layers.Dense(4), keras.layers.BatchNormalization()]
    )
    model.compile(optimizer="adam", loss="mse")
    model.fit(np.ones((4, 3)), np.ones((4, 4)), verbose=0)
    directory = tmp_path_factory.mktemp("keras_savedmodel") / "model"
    tf.saved_model.save(model, str(directory))
    return directory


SAVED_MODELS = ["savedmodel_dir", "savedmodel_with_slots", "keras_savedmodel"]


@pytest.mark.parametrize("fixture", SAVED_MODELS)
def test_saved_model_matches_tensorflow(fixture, request):
    tf = import_tensorflow()
    directory = request.getfixturevalue(fixture)
    directory = getattr(directory, "directory", directory)
    graph = load_graph(directory)
    assert graph.kind == "saved_model"
    assert graph.path == str(directory / "saved_model.pb")
    meta = their_saved_model(directory).meta_graphs[0]
    assert graph.tags == ["serve"]
    assert graph.tensorflow_version == tf.__version__
    assert_nodes_match(graph.nodes, meta.graph_def.node)
    assert_functions_match(graph, meta.graph_def.library)
    called = {name for node in graph.all_nodes() for name in node.called_functions}
    assert called and called <= set(graph.functions)
    assert sorted(graph.signatures) == sorted(meta.signature_def)
    for name, signature in meta.signature_def.items():
        ours = graph.signatures[name]
        assert ours.method_name == signature.method_name
        for mine, theirs in ((ours.inputs, signature.inputs), (ours.outputs, signature.outputs)):
            assert sorted(mine) == sorted(theirs)
            for key, info in theirs.items():
                assert mine[key].name == info.name
                dtype = tf.dtypes.as_dtype(info.dtype).name if info.dtype else "invalid"
                assert mine[key].dtype == dtype
                shape = tf.TensorShape(info.tensor_shape)
                expected = None if shape.rank is None else tuple(d or -1 for d in shape.as_list())
                assert mine[key].shape == expected


@pytest.mark.parametrize("fixture", SAVED_MODELS)
def test_saved_model_variables_are_its_checkpoint_keys(fixture, request):
    directory = request.getfixturevalue(fixture)
    directory = getattr(directory, "directory", directory)
    graph = load_graph(directory)
    listing = checkpoint_listing(str(directory / "variables" / "variables"))
    assert {v.name: (v.dtype, v.shape) for v in graph.variables} == listing
    assert all(v.is_resource for v in graph.variables)


@pytest.mark.parametrize("fixture", SAVED_MODELS)
def test_saved_model_variable_nodes_hold_those_variables(fixture, request):
    """Restore the SavedModel in a TF1 session and read each variable through our node link."""
    tf = import_tensorflow()
    v1 = tf.compat.v1
    directory = request.getfixturevalue(fixture)
    directory = getattr(directory, "directory", directory)
    graph = load_graph(directory)
    reader = tf.train.load_checkpoint(str(directory / "variables" / "variables"))
    assert all(v.node for v in graph.variables)
    assert len({v.node for v in graph.variables}) == len(graph.variables)
    with tf.Graph().as_default() as session_graph, v1.Session() as session:
        v1.saved_model.loader.load(session, ["serve"], str(directory))
        for variable in graph.variables:
            handle = session_graph.get_tensor_by_name(variable.node + ":0")
            read = tf.raw_ops.ReadVariableOp(resource=handle, dtype=tf.as_dtype(variable.dtype))
            np.testing.assert_array_equal(session.run(read), reader.get_tensor(variable.name))


def test_saved_model_trainable_and_slots(savedmodel_with_slots):
    graph = load_graph(savedmodel_with_slots)
    trainable = {v.name for v in graph.variables if v.trainable}
    assert trainable == {
        "a/.ATTRIBUTES/VARIABLE_VALUE",
        "b/.ATTRIBUTES/VARIABLE_VALUE",
        "items/0/.ATTRIBUTES/VARIABLE_VALUE",
    }
    slots = {v.name for v in graph.variables if "/.OPTIMIZER_SLOT/" in v.name}
    assert slots == {
        f"{var}/.OPTIMIZER_SLOT/optimizer/{slot}/.ATTRIBUTES/VARIABLE_VALUE"
        for var in ("a", "b")
        for slot in ("m", "v")
    }
