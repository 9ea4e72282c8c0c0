"""Graphs TensorFlow wrote (.meta, frozen .pb), read by us, compared with TensorFlow."""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from graph_oracle import (
    assert_functions_match,
    assert_nodes_match,
    checkpoint_listing,
    their_meta_graph,
)
from tf_checkpoints import import_tensorflow

from ckpt_browser.format import CheckpointError
from ckpt_browser.format.graph.reader import find_graph, load_graph

# --- a TF1 graph with every kind of variable ---------------------------------------------------


@dataclass(frozen=True)
class Tf1Graph:
    prefix: str
    meta_path: Path
    variables: (
        dict  # checkpoint key or part name -> (key, dtype, shape, trainable, is_resource, part)
    )


@pytest.fixture(scope="module")
def tf1_graph(tmp_path_factory) -> Tf1Graph:
    """Ref, resource, partitioned and non-trainable variables, devices, a v2 while loop."""
    tf = import_tensorflow()
    v1 = tf.compat.v1
    directory = tmp_path_factory.mktemp("tf1_graph")
    with tf.Graph().as_default(), v1.Session() as session:
        with tf.device("/cpu:0"):
            ref = v1.get_variable("ref", [3, 2], use_resource=False)
        resource = v1.get_variable("scope/res", [4], dtype=tf.float64, use_resource=True)
        part = v1.get_variable(
            "part", [7, 2], partitioner=v1.fixed_size_partitioner(2), use_resource=False
        )
        counter = v1.get_variable(
            "counter", [], dtype=tf.int64, trainable=False, initializer=v1.zeros_initializer()
        )
        with tf.control_dependencies([counter.assign_add(1)]):
            total = tf.reduce_sum(ref) + tf.cast(tf.reduce_sum(resource), tf.float32)
        loop = tf.while_loop(lambda i, x: i < 3, lambda i, x: (i + 1, x * 2.0), [0, total])
        tf.nn.leaky_relu(total, alpha=0.1, name="leaky")
        tf.identity(loop[1] + tf.reduce_sum(part.as_tensor()), name="output")
        saver = v1.train.Saver()
        session.run(v1.global_variables_initializer())
        prefix = saver.save(session, str(directory / "model.ckpt"))
        trainable = {v.name for v in v1.trainable_variables()}
        variables = {}
        for v in v1.global_variables():
            info = v._save_slice_info
            key = info.full_name if info else v.op.name
            partition = (
                (tuple(info.full_shape), tuple(info.var_offset), tuple(info.var_shape))
                if info
                else None
            )
            variables[v.op.name] = (
                key,
                v.dtype.base_dtype.name,
                tuple(v.shape.as_list()),
                v.name in trainable,
                v.op.type == "VarHandleOp",
                partition,
            )
    return Tf1Graph(prefix, Path(prefix + ".meta"), variables)


def test_meta_graph_nodes_match_tensorflow(tf1_graph):
    tf = import_tensorflow()
    graph = load_graph(tf1_graph.meta_path)
    theirs = their_meta_graph(tf1_graph.meta_path)
    assert graph.kind == "meta_graph"
    assert_nodes_match(graph.nodes, theirs.graph_def.node)
    assert_functions_match(graph, theirs.graph_def.library)  # the while loop's cond and body
    assert graph.functions  # control flow v2 really put functions in the library
    assert graph.node_by_name["ref"].device == "/device:CPU:0"
    assert graph.node_by_name["leaky"].attrs["alpha"] == 0.1  # as written, not as float32
    assert graph.node_by_name["ref"].attrs["dtype"] == "float32"
    assert graph.node_by_name["ref"].attrs["shape"] == (3, 2)
    assert graph.node_by_name["ref"].attr_proto("dtype").type == 1  # the raw AttrValue
    assert graph.node_by_name["ref"].attr_proto("missing") is None
    (loop,) = [node for node in graph.nodes if node.op == "StatelessWhile" or node.op == "While"]
    assert sorted(loop.called_functions) == sorted(graph.functions)  # its cond and body
    assert graph.tensorflow_version == tf.__version__
    assert graph.producer == theirs.graph_def.versions.producer
    assert graph.tags == []
    assert graph.signatures == {}


def test_meta_graph_variables_match_tensorflow(tf1_graph):
    graph = load_graph(tf1_graph.meta_path)
    ours = {
        v.node: (
            v.name,
            v.dtype,
            v.shape,
            v.trainable,
            v.is_resource,
            (v.partition.full_shape, v.partition.offset, v.partition.shape)
            if v.partition
            else None,
        )
        for v in graph.variables
    }
    assert ours == tf1_graph.variables
    assert {v.name for v in graph.variables} == set(checkpoint_listing(tf1_graph.prefix))


def test_bare_graph_def_variables_come_from_variable_nodes(tmp_path, tf1_graph):
    graph_def = their_meta_graph(tf1_graph.meta_path).graph_def
    path = tmp_path / "graph.pb"
    path.write_bytes(graph_def.SerializeToString())
    graph = load_graph(path)
    assert graph.kind == "graph_def"
    expected = {
        node.name: node.op == "VarHandleOp"
        for node in graph_def.node
        if node.op in ("VariableV2", "VarHandleOp")
    }
    assert {v.name: v.is_resource for v in graph.variables} == expected
    for variable in graph.variables:
        _, dtype, shape, _, _, _ = tf1_graph.variables[variable.name]
        assert (variable.node, variable.dtype, variable.shape) == (variable.name, dtype, shape)
        assert variable.trainable is None  # a bare GraphDef does not say


def test_meta_graph_saver_and_collections(tf1_graph):
    import_tensorflow()
    from tensorflow.core.framework import variable_pb2

    graph = load_graph(tf1_graph.meta_path)
    theirs = their_meta_graph(tf1_graph.meta_path)
    saver = theirs.saver_def
    assert graph.saver == {
        "filename_tensor_name": saver.filename_tensor_name,
        "save_tensor_name": saver.save_tensor_name,
        "restore_op_name": saver.restore_op_name,
        "max_to_keep": saver.max_to_keep,
        "sharded": saver.sharded,
        "keep_checkpoint_every_n_hours": pytest.approx(saver.keep_checkpoint_every_n_hours),
        "version": saver.version,
    }
    assert sorted(graph.collections) == sorted(theirs.collection_def)
    assert graph.collections["variables"] == [
        variable_pb2.VariableDef.FromString(data).variable_name
        for data in theirs.collection_def["variables"].bytes_list.value
    ]


def test_training_meta_graph_declares_every_checkpoint_key(tf1_training_dir):
    graph = load_graph(tf1_training_dir.prefix + ".meta")
    listing = checkpoint_listing(tf1_training_dir.prefix)
    assert {v.name for v in graph.variables} == set(listing)
    for variable in graph.variables:
        assert (variable.dtype, variable.shape) == listing[variable.name]
    trainable = {v.name for v in graph.variables if v.trainable}
    assert trainable == set(tf1_training_dir.model_variables)


def test_partitioned_meta_graph(tf1_partitioned):
    graph = load_graph(tf1_partitioned.meta_path)
    parts: dict[str, list] = {}
    for variable in graph.variables:
        if variable.partition:
            parts.setdefault(variable.name, []).append(variable)
            assert variable.shape == variable.partition.shape
            assert variable.partition.full_shape == tf1_partitioned.expected[variable.name].shape
    assert {name: len(p) for name, p in parts.items()} == dict(tf1_partitioned.partitions)


# --- frozen graphs -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def frozen_constants_pb(tmp_path_factory) -> Path:
    """A frozen graph whose Const nodes cover dtypes, scalars, splats and tensor_content."""
    tf = import_tensorflow()
    v1 = tf.compat.v1
    path = tmp_path_factory.mktemp("frozen_many") / "graph.pb"
    with tf.Graph().as_default(), v1.Session() as session:
        weights = v1.get_variable("weights", [3, 4], use_resource=False)
        steps = v1.get_variable("steps", [2], dtype=tf.int32, initializer=v1.ones_initializer())
        constants = [
            tf.constant(1.5, name="scalar_float"),
            tf.constant(7, shape=[3, 4], name="splat_int"),
            tf.constant(0.0, shape=[2, 5], name="splat_zero"),
            tf.constant(np.arange(6, dtype=np.int64).reshape(2, 3), name="int64_matrix"),
            tf.constant([True, False, True], name="bools"),
            tf.constant(True, shape=[4], name="bool_splat"),
            tf.constant([b"ab", b"", b"\xff"], name="strings"),
            tf.constant(b"same", shape=[2, 2], name="string_splat"),
            tf.constant(np.array([0.5, -2.0, 65504], np.float16), name="halves"),
            tf.constant(np.float16(3.0), shape=[2, 2], name="half_splat"),
            tf.constant([1.5, -0.25], dtype=tf.bfloat16, name="bfloats"),
            tf.constant(np.arange(8, dtype=np.uint8), name="bytes"),
            tf.constant([1 + 2j], dtype=tf.complex64, name="complex"),
        ]
        outputs = [tf.identity(weights, name="out_weights"), tf.identity(steps, name="out_steps")]
        outputs += [tf.identity(c, name=f"out_{i}") for i, c in enumerate(constants)]
        session.run(v1.global_variables_initializer())
        graph_def = v1.graph_util.convert_variables_to_constants(
            session, session.graph.as_graph_def(), [o.op.name for o in outputs]
        )
    path.write_bytes(graph_def.SerializeToString())
    return path


def assert_same_array(ours: np.ndarray, theirs: np.ndarray) -> None:
    assert ours.shape == theirs.shape
    if theirs.dtype == object:
        assert ours.dtype == object
        assert ours.tolist() == theirs.tolist()
    else:
        assert ours.dtype == theirs.dtype
        assert ours.tobytes() == theirs.tobytes()


def test_frozen_graph_constants_match_tensorflow(frozen_constants_pb):
    tf = import_tensorflow()
    theirs = tf.compat.v1.GraphDef.FromString(frozen_constants_pb.read_bytes())
    graph = load_graph(frozen_constants_pb)
    assert graph.kind == "graph_def"
    assert graph.saver is None and graph.collections == {} and graph.tensorflow_version is None
    assert_nodes_match(graph.nodes, theirs.node)
    expected = {
        node.name: tf.make_ndarray(node.attr["value"].tensor)
        for node in theirs.node
        if node.op == "Const"
    }
    constants = graph.constants()
    assert sorted(constants) == sorted(expected)
    for name, value in expected.items():
        assert_same_array(constants[name], value)
        assert_same_array(graph.constant(name), value)
    # The frozen variables kept their names and values.
    assert constants["weights"].shape == (3, 4)
    assert constants["steps"].tolist() == [1, 1]
    assert constants["splat_int"].tolist() == [[7] * 4] * 3


def test_shared_frozen_fixture(frozen_pb):
    graph = load_graph(frozen_pb.path)
    constants = graph.constants()
    assert sorted(constants) == sorted(frozen_pb.constants)
    for name, value in frozen_pb.constants.items():
        assert_same_array(constants[name], value)
    assert set(frozen_pb.frozen_variables) <= set(constants)
    assert graph.variables == []  # no variable nodes left
    with pytest.raises(CheckpointError, match="no Const node"):
        graph.constant("output")


# --- recognising files, and bad input ----------------------------------------------------------


def test_kind_comes_from_the_bytes_not_the_name(tmp_path, tf1_graph, savedmodel_dir):
    meta_as_pb = tmp_path / "graph.pb"
    shutil.copy(tf1_graph.meta_path, meta_as_pb)
    assert load_graph(meta_as_pb).kind == "meta_graph"
    saved_model_as_meta = tmp_path / "model.meta"
    shutil.copy(savedmodel_dir.directory / "saved_model.pb", saved_model_as_meta)
    assert load_graph(saved_model_as_meta).kind == "saved_model"
    assert load_graph(savedmodel_dir.directory / "saved_model.pb").kind == "saved_model"


def test_find_graph_beside_a_checkpoint(tf1_training_dir, savedmodel_dir, tf2_module_ckpt):
    assert find_graph(tf1_training_dir.directory) == tf1_training_dir.prefix + ".meta"
    assert (
        find_graph(tf1_training_dir.prefixes[0] + ".index")
        == tf1_training_dir.prefixes[0] + ".meta"
    )
    saved_model = str(savedmodel_dir.directory / "saved_model.pb")
    assert find_graph(savedmodel_dir.directory) == saved_model
    assert find_graph(savedmodel_dir.variables_prefix) == saved_model
    assert find_graph(tf2_module_ckpt.directory) is None


def bad_inputs(tmp_path: Path, meta_path: Path, checkpoint_prefix: str) -> dict[str, Path]:
    data = meta_path.read_bytes()
    files = {
        "truncated_half": data[: len(data) // 2],
        "truncated_last_byte": data[:-1],
        "random": np.random.default_rng(0).integers(0, 256, 4096, dtype=np.uint8).tobytes(),
        "text": b"node {\n  name: 'x'\n  op: 'Const'\n}\n",
        "empty": b"",
    }
    paths = {}
    for name, content in files.items():
        paths[name] = tmp_path / f"{name}.meta"
        paths[name].write_bytes(content)
    paths["index"] = Path(checkpoint_prefix + ".index")
    paths["data"] = Path(checkpoint_prefix + ".data-00000-of-00001")
    paths["missing"] = tmp_path / "missing.pb"
    paths["directory"] = tmp_path
    return paths


@pytest.mark.parametrize(
    "case",
    [
        "truncated_half",
        "truncated_last_byte",
        "random",
        "text",
        "empty",
        "index",
        "data",
        "missing",
        "directory",
    ],
)
def test_bad_input_is_one_line_checkpoint_error(tmp_path, tf1_graph, case):
    path = bad_inputs(tmp_path, tf1_graph.meta_path, tf1_graph.prefix)[case]
    with pytest.raises(CheckpointError) as error:
        load_graph(path)
    message = str(error.value)
    assert "\n" not in message
    assert os.path.basename(path) in message
    if case == "index":
        assert "checkpoint file (an .index" in message
    if case in ("truncated_half", "truncated_last_byte", "random", "text", "data"):
        assert "not a TensorFlow graph" in message


def test_damage_found_after_loading_still_names_the_file(tmp_path):
    tf = import_tensorflow()
    meta = tf.compat.v1.MetaGraphDef()
    node = meta.graph_def.node.add(name="weights", op="Const")
    node.attr["value"].tensor.dtype = 1
    node.attr["value"].tensor.tensor_shape.dim.add(size=4)
    node.attr["value"].tensor.tensor_content = b"\x00" * 5  # a float32[4] needs 16 bytes
    meta.collection_def["variables"].bytes_list.value.append(b"\xff\xff")
    path = tmp_path / "damaged.meta"
    path.write_bytes(meta.SerializeToString())
    graph = load_graph(path)
    for action in (graph.constants, lambda: graph.constant("weights"), lambda: graph.variables):
        with pytest.raises(CheckpointError) as error:
            action()
        assert "damaged.meta" in str(error.value)
    with pytest.raises(CheckpointError, match="'weights'"):
        graph.constant("weights")
