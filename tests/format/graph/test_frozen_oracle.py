"""Frozen graphs open as checkpoints of their Const nodes: the weights are the frozen variables
(names, dtypes, shapes, values of the checkpoint they were frozen from), the shape and axis
Consts are kind CONSTANT, and every value is TensorFlow's MakeNdarray bit for bit, whole or by
region."""

from __future__ import annotations

import numpy as np
import pytest
from tf_checkpoints import import_tensorflow
from tf_frozen_graphs import FrozenPb, constant_values
from tf_v1_checkpoints import assert_regions_read_like_numpy, assert_same_bits

from ckpt_browser.format import TensorKind, open_checkpoint

TF1_GRAPHS = ("plain", "imported", "folded", "folded_imported")
TF2_FIXTURES = ("tf2_keras_frozen", "tf2_loop_frozen")


def expected_kind(value: np.ndarray) -> TensorKind:
    """Scalars, strings and short integer or bool vectors (shapes, axes) are not weights."""
    index_like = value.dtype.kind in "iub" and value.ndim <= 1 and value.size <= 16
    if value.ndim == 0 or value.dtype == object or index_like:
        return TensorKind.CONSTANT
    return TensorKind.VARIABLE


def saved_model_constants(directory) -> tuple[dict[str, np.ndarray], dict[str, str]]:
    """The Consts of a SavedModel's first MetaGraph (graph and function library)."""
    import_tensorflow()
    from tensorflow.core.protobuf import saved_model_pb2

    saved_model = saved_model_pb2.SavedModel()
    saved_model.ParseFromString((directory / "saved_model.pb").read_bytes())
    return constant_values(saved_model.meta_graphs[0].graph_def)


@pytest.fixture(
    params=[*(f"tf1_{name}" for name in TF1_GRAPHS), *TF2_FIXTURES, "constants_pb", "saved_model"]
)
def graph(request) -> tuple[str, dict[str, np.ndarray], dict[str, str]]:
    """(path, Const values, Const dtype names) of every frozen graph the tests make, and of a
    SavedModel's saved_model.pb."""
    name = request.param
    if name.startswith("tf1_"):
        frozen = getattr(request.getfixturevalue("tf1_frozen"), name[len("tf1_") :])
    elif name in TF2_FIXTURES:
        frozen = request.getfixturevalue(name).graph
    elif name == "constants_pb":
        frozen = request.getfixturevalue(name)
    else:
        directory = request.getfixturevalue("savedmodel_dir").directory
        values, dtypes = saved_model_constants(directory)
        return str(directory / "saved_model.pb"), values, dtypes
    return str(frozen.path), dict(frozen.constants), dict(frozen.dtypes)


@pytest.fixture(params=[*(f"tf1_{name}" for name in TF1_GRAPHS), *TF2_FIXTURES])
def frozen(request) -> tuple[FrozenPb, str, dict[str, np.ndarray]]:
    """(frozen graph, checkpoint prefix it came from, checkpoint key -> value) of each freeze."""
    if request.param.startswith("tf1_"):
        fixture = request.getfixturevalue("tf1_frozen")
        return fixture.graphs[request.param[len("tf1_") :]], fixture.prefix, fixture.variables
    fixture = request.getfixturevalue(request.param)
    return fixture.graph, fixture.prefix, fixture.variables


# --- every Const, as TensorFlow decodes it ------------------------------------------------------


def test_every_const_is_listed_with_tensorflows_dtype_and_shape(graph):
    path, values, dtypes = graph
    with open_checkpoint(path) as ckpt:
        assert ckpt.format_name == "graph"
        assert sorted(ckpt) == sorted(values)
        for name, value in values.items():
            info = ckpt[name]
            assert info.name == name
            assert (info.dtype.name, info.shape) == (dtypes[name], value.shape), name
            assert not info.partitioned
            if value.dtype != object:
                assert info.nbytes == value.nbytes, name


def test_every_value_is_make_ndarrays_bit_for_bit(graph):
    path, values, _ = graph
    with open_checkpoint(path) as ckpt:
        for name, value in values.items():
            assert_same_bits(ckpt.read(name), value)


def test_a_region_reads_like_numpy_indexing(graph):
    path, values, _ = graph
    with open_checkpoint(path) as ckpt:
        for name, value in values.items():
            assert_regions_read_like_numpy(ckpt, name, value)


def test_kinds_weights_and_shape_constants(graph):
    """Scalars, strings and shape or axis vectors are CONSTANT (hidden by default); the rest
    are weights, whatever froze them."""
    path, values, _ = graph
    with open_checkpoint(path) as ckpt:
        kinds = {name: ckpt[name].kind for name in values}
    assert kinds == {name: expected_kind(value) for name, value in values.items()}


def test_verify_finds_nothing_wrong_in_tensorflows_graphs(graph):
    with open_checkpoint(graph[0]) as ckpt:
        assert ckpt.verify() == []


# --- the weights are the variables the graph was frozen from ------------------------------------


def test_weights_are_the_frozen_variables(frozen):
    """Each variable is a Const of kind VARIABLE with the checkpoint's dtype, shape and value."""
    graph, prefix, variables = frozen
    reader = import_tensorflow().train.load_checkpoint(prefix)
    shapes, dtypes = reader.get_variable_to_shape_map(), reader.get_variable_to_dtype_map()
    assert sorted(graph.weights.values()) == sorted(variables)
    with open_checkpoint(str(graph.path)) as ckpt, open_checkpoint(prefix) as saved:
        weights = {name for name, info in ckpt.items() if info.kind == TensorKind.VARIABLE}
        assert set(graph.weights) <= weights
        for const, key in graph.weights.items():
            info = ckpt[const]
            assert info.shape == tuple(shapes[key]), const
            assert info.dtype.name == dtypes[key].name, const
            assert_same_bits(ckpt.read(const), reader.get_tensor(key))
            assert_same_bits(ckpt.read(const), saved.read(key))


def test_shape_and_axis_constants_are_not_weights(frozen):
    graph, _, _ = frozen
    assert graph.shape_constants
    with open_checkpoint(str(graph.path)) as ckpt:
        for name in graph.shape_constants:
            assert ckpt[name].kind == TensorKind.CONSTANT, name


@pytest.mark.parametrize("variant", TF1_GRAPHS)
def test_tf1_readable_names_are_the_variable_names(tf1_frozen, variant):
    """`import/` before and `/read` after a TF1 frozen variable's name are not part of it."""
    graph = tf1_frozen.graphs[variant]
    with open_checkpoint(str(graph.path)) as ckpt:
        for const, variable in graph.weights.items():
            assert ckpt[const].readable_name == variable, const
        for const in graph.shape_constants:
            assert ckpt[const].readable_name == const.removeprefix("import/"), const


@pytest.mark.parametrize("fixture", TF2_FIXTURES)
def test_tf2_consts_keep_the_names_tensorflow_gave_them(request, fixture):
    """TF2 freezing names a Const after the op that read the variable, not after the variable:
    the readable name is that name, which no checkpoint key gives back."""
    graph = request.getfixturevalue(fixture).graph
    with open_checkpoint(str(graph.path)) as ckpt:
        for const in graph.weights:
            assert ckpt[const].readable_name == const


def test_function_library_consts_are_named_by_function_and_node(tf2_loop_frozen):
    """The loop body's own Const (`mix`, a [3, 3] float: a weight) is `<function>/<node>`."""
    graph = tf2_loop_frozen.graph
    mix = next(name for name in graph.constants if name.endswith("/while/mix"))
    function = mix.removesuffix("/while/mix")
    assert "/" not in function and function.startswith("while_body")
    with open_checkpoint(str(graph.path)) as ckpt:
        assert ckpt[mix].kind == TensorKind.VARIABLE
        assert_same_bits(ckpt.read(mix), np.eye(3, dtype=np.float32)[::-1] * 0.5)


# --- how TensorFlow stores a value --------------------------------------------------------------


def test_value_fields_shorter_than_the_shape_repeat_the_last_value(constants_pb):
    with open_checkpoint(str(constants_pb.path)) as ckpt:
        assert_same_bits(ckpt.read(constants_pb.splat), np.full(100, 0.5, np.float32))
        assert_same_bits(ckpt.read(constants_pb.splat, (slice(97, None),)), np.full(3, 0.5, "f4"))
        assert_same_bits(ckpt.read("int64_splat"), np.full((3, 4), 7, np.int64))
        repeated = np.array([[1, 2, 3], [3, 3, 3]], np.float32)
        assert_same_bits(ckpt.read(constants_pb.repeated_last), repeated)
        assert_same_bits(ckpt.read(constants_pb.no_values), np.zeros((2, 2), np.float32))
        assert ckpt[constants_pb.splat].nbytes == 400  # the size of the values, not of the file's


def test_tensor_content_values(constants_pb):
    with open_checkpoint(str(constants_pb.path)) as ckpt:
        expected = np.arange(20, dtype=np.float32).reshape(4, 5) / 8
        assert_same_bits(ckpt.read(constants_pb.content), expected)
        assert_same_bits(ckpt.read(constants_pb.content, (slice(1, 3), 2)), expected[1:3, 2])
