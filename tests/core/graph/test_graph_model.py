"""The graph model against TensorFlow's own GraphDefs: counts, scopes, plumbing, search, traces."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from tf_checkpoints import import_tensorflow

from ckpt_browser.core.graph.kinds import NodeKind
from ckpt_browser.core.graph.link import (
    GraphConstants,
    choice_of,
    item_of_key,
    link_variables,
)
from ckpt_browser.core.graph.model import GraphModel, ItemKind
from ckpt_browser.format import open_checkpoint, protos
from ckpt_browser.format.graph.reader import load_graph


def their_graph_def(path: Path):
    tf = import_tensorflow()
    data = Path(path).read_bytes()
    if str(path).endswith(".meta"):
        return tf.compat.v1.MetaGraphDef.FromString(data).graph_def
    return tf.compat.v1.GraphDef.FromString(data)


def their_counts(graph_def) -> tuple[int, int, int]:
    """Nodes, data inputs and control inputs, as TensorFlow's GraphDef lists them."""
    inputs = [name for node in graph_def.node for name in node.input]
    control = sum(name.startswith("^") for name in inputs)
    return len(graph_def.node), len(inputs) - control, control


def their_total_counts(graph_def) -> tuple[int, int, int]:
    """The same with the library functions' bodies, each with an `_Arg` node per argument and a
    `_Retval` node (reading the result) per result, as TensorFlow lays a function out."""
    nodes, data, control = their_counts(graph_def)
    for function in graph_def.library.function:
        body_nodes, body_data, body_control = their_counts(type(graph_def)(node=function.node_def))
        signature = function.signature
        nodes += body_nodes + len(signature.input_arg) + len(signature.output_arg)
        data += body_data + len(function.ret)
        control += body_control
    return nodes, data, control


def our_counts(model: GraphModel) -> tuple[int, int, int]:
    return model.node_count, model.data_edge_count, model.control_edge_count


@pytest.fixture(scope="module")
def training_model(tf1_training_dir) -> GraphModel:
    return GraphModel(load_graph(tf1_training_dir.prefix + ".meta"))


def children_labels(model: GraphModel, item: int) -> list[str]:
    return [model.items[child].label for child in model.items[item].children]


def item_named(model: GraphModel, name: str) -> int:
    return next(i for i, item in enumerate(model.items) if item.name == name and item.is_container)


def test_counts_equal_tensorflows_graph_def(tf1_training_dir, training_model):
    graph_def = their_graph_def(tf1_training_dir.prefix + ".meta")
    nodes, data, control = their_total_counts(graph_def)
    assert our_counts(training_model) == (nodes, data, control)
    assert len(training_model.edge_source) == data + control  # every input names a node
    assert not training_model.dangling_inputs
    assert training_model.top_level_node_count == len(graph_def.node)
    top_level = [n.name for n in training_model.nodes if n.function is None]
    assert sorted(top_level) == sorted(n.name for n in graph_def.node)


def test_scopes_nest_and_cover_every_node_once(training_model):
    model = training_model
    covered = np.zeros(model.node_count, dtype=int)
    for item in model.items:
        if item.kind is ItemKind.OP:
            covered[item.op] += 1
            assert model.nodes[item.op].name == item.name
        else:
            sizes = [model.items[child].size for child in item.children]
            assert sum(sizes) == item.size
            starts = [model.items[child].start for child in item.children]
            assert starts == sorted(starts) and (not starts or starts[0] == item.start)
    assert (covered == 1).all()


def test_scopes_group_as_expected(tf1_training_dir, training_model):
    model = training_model
    top = children_labels(model, model.root)
    for scope in ("net", "gradients", "Adam", "save", "ExponentialMovingAverage"):
        assert scope in top
    net = item_named(model, "net")
    layers = [label for label in children_labels(model, net) if label.startswith("layer_")]
    assert layers == ["layer_1", "layer_2", "layer_10"]  # natural order
    kernel = item_named(model, "net/layer_1/kernel")
    own = model.own_op(kernel)  # the variable node sits in its own scope with its read op
    assert model.nodes[own].name == "net/layer_1/kernel"
    assert model.kind_of(own) is NodeKind.VARIABLE
    assert model.representative(own) == kernel
    for name in tf1_training_dir.model_variables:
        assert model.find(name) is not None


def test_numbered_siblings_fold_into_a_series(tmp_path):
    graph_def = protos.GraphDef()
    for index in range(12):
        for leaf, op in (("w", "VariableV2"), ("MatMul", "MatMul")):
            node = graph_def.node.add(name=f"model/layer_{index}/{leaf}", op=op)
            if leaf == "MatMul":
                node.input.append(f"model/layer_{index}/w")
                if index:
                    node.input.append(f"model/layer_{index - 1}/MatMul")
    for index in range(1, 7):
        graph_def.node.add(name=f"Assign_{index}", op="Assign")
    graph_def.node.add(name="mul_1", op="Mul")
    graph_def.node.add(name="mul_2", op="Mul")
    path = tmp_path / "layers.pb"
    path.write_bytes(graph_def.SerializeToString())
    model = GraphModel(load_graph(str(path)))
    assert children_labels(model, model.root) == ["Assign_[1-6]", "model", "mul_1", "mul_2"]
    series = model.items[model.items[item_named(model, "model")].children[0]]
    assert series.kind is ItemKind.SERIES and series.label == "layer_[0-11]"
    assert [model.items[c].label for c in series.children][:3] == ["layer_0", "layer_1", "layer_2"]
    level = model.level(item_named(model, "model/layer_[0-11]"), hide_plumbing=False)
    labels = [model.items[child].label for child in level.children]
    pairs = {(labels[a], labels[b]) for a, b in level.edges}
    assert pairs == {(f"layer_{i}", f"layer_{i + 1}") for i in range(11)}


def test_hidden_plumbing_is_hidden(training_model):
    model = training_model
    kinds = [model.kind_of(op) for op in range(model.node_count)]
    for op, node in enumerate(model.nodes):
        parts = node.name.split("/")
        if parts[0] == "save" or "Initializer" in parts or node.name == "init":
            assert kinds[op] is NodeKind.PLUMBING, node.name
    shown = children_labels(model, model.root)
    level = model.level(model.root, hide_plumbing=True)
    visible_top = [model.items[c].label for c in level.children]
    assert "save" in shown and "save" not in visible_top and "init" not in visible_top
    # No item at any level is drawn with nothing but plumbing in it.
    for container, item in enumerate(model.items):
        if item.is_container and model.shown_size(container, True):
            for child in model.level(container, hide_plumbing=True).children:
                assert model.shown_size(int(child), True) > 0
    # Variables stay: hiding removes plumbing only.
    variables = [op for op in range(model.node_count) if kinds[op] is NodeKind.VARIABLE]
    assert variables and all(model.visible_ops[op] for op in variables)


def test_every_edge_is_drawn_at_exactly_one_level(training_model):
    model = training_model
    drawn = 0
    for container, item in enumerate(model.items):
        if item.is_container:
            drawn += int(model.level(container, hide_plumbing=False).edge_counts.sum())
    self_loops = int((model.edge_source == model.edge_target).sum())
    assert drawn == len(model.edge_source) - self_loops


def test_search_finds_nodes(tf1_training_dir, training_model):
    model = training_model
    matches, total = model.search("LAYER_10/kernel")
    names = [model.nodes[op].name for op in matches]
    assert total == len(names) > 0
    assert all("layer_10/kernel" in name.lower() for name in names)
    assert names[0] == "net/layer_10/kernel" or names[0].endswith("/kernel")
    exact, _ = model.search("kernel")
    assert model.nodes[exact[0]].name.rsplit("/", 1)[-1] == "kernel"
    globbed, _ = model.search("net/layer_?/bias")
    assert {model.nodes[op].name for op in globbed} == {"net/layer_1/bias", "net/layer_2/bias"}
    assert model.search("no such node") == ([], 0)


def test_trace_inputs_matches_tensorflows_subgraph(frozen_pb):
    tf = import_tensorflow()
    graph_def = their_graph_def(frozen_pb.path)
    needed = tf.compat.v1.graph_util.extract_sub_graph(graph_def, ["output"])
    model = GraphModel(load_graph(str(frozen_pb.path)))
    reached = model.trace_inputs(model.find("output"))
    assert {model.nodes[op].name for op in np.flatnonzero(reached)} == {n.name for n in needed.node}


def test_frozen_graph_counts_kinds_and_constants(frozen_pb):
    model = GraphModel(load_graph(str(frozen_pb.path)))
    assert our_counts(model) == their_total_counts(their_graph_def(frozen_pb.path))
    for name in frozen_pb.constants:
        assert model.kind_of(model.find(name)) is NodeKind.CONSTANT
    assert model.kind_of(model.find("input")) is NodeKind.INPUT
    constants = GraphConstants(model.graph)
    assert set(constants) == set(frozen_pb.constants)
    for name, expected in frozen_pb.constants.items():
        info = constants[name]
        assert info.shape == expected.shape and info.dtype.numpy == expected.dtype
        np.testing.assert_array_equal(constants.read(name), expected)
        if expected.ndim:
            np.testing.assert_array_equal(constants.read(name, (slice(0, 1),)), expected[:1])


def test_saved_model_functions_are_grouped_and_counted(savedmodel_dir):
    import_tensorflow()
    from tensorflow.core.protobuf import saved_model_pb2

    saved = saved_model_pb2.SavedModel.FromString(
        (savedmodel_dir.directory / "saved_model.pb").read_bytes()
    )
    graph_def = saved.meta_graphs[0].graph_def
    model = GraphModel(load_graph(str(savedmodel_dir.directory)))
    assert our_counts(model) == their_total_counts(graph_def)
    assert len(model.edge_source) == model.edge_count
    library = [model.items[c] for c in model.items[model.root].children]
    library = [item for item in library if item.kind is ItemKind.LIBRARY]
    assert len(library) == 1
    functions = {model.items[c].name for c in library[0].children}
    assert functions == {f.signature.name for f in graph_def.library.function}
    saver_bodies = [name for name in functions if "_traced_save" in name]
    assert saver_bodies
    for op, node in enumerate(model.nodes):
        if node.function in saver_bodies:
            assert model.kind_of(op) is NodeKind.PLUMBING


def test_variables_link_to_the_checkpoint(tf1_training_dir, training_model):
    with open_checkpoint(tf1_training_dir.prefix) as checkpoint:
        link = link_variables(training_model, checkpoint)
        assert link.checked and not link.missing_from_checkpoint and not link.missing_from_graph
        for key in tf1_training_dir.model_variables:
            assert training_model.nodes[link.op_of_key[key]].name == key
        dropped = next(iter(checkpoint))
        partial = {key: info for key, info in checkpoint.items() if key != dropped}
    link = link_variables(training_model, partial)
    assert link.missing_from_checkpoint == [dropped]
    assert link.missing_ops == {link.op_of_key[dropped]}


def test_choosing_a_node_names_the_variable_it_draws(tf1_training_dir, training_model, frozen_pb):
    model = training_model
    with open_checkpoint(tf1_training_dir.prefix) as checkpoint:
        link = link_variables(model, checkpoint)
        for key in tf1_training_dir.model_variables:
            item = item_of_key(model, link, key)
            assert model.items[item].name == key  # the variable's scope, as the drawing has it
            choice = choice_of(model, link, checkpoint, item)
            assert (choice.key, choice.in_checkpoint) == (key, True)
            op_item = int(model.item_of_op[model.find(key)])  # the op inside, from a search
            assert choice_of(model, link, checkpoint, op_item).key == key
        partial = {k: v for k, v in checkpoint.items() if k != key}
    assert choice_of(model, link, partial, item).in_checkpoint is False
    reader = next(
        op
        for op, node in enumerate(model.nodes)
        if node.name.startswith(key + "/") and op not in link.key_of_op
    )
    reader_item = int(model.item_of_op[reader])  # e.g. its read or assign op: no variable
    assert choice_of(model, link, checkpoint, reader_item).key is None
    assert item_of_key(model, link, "no/such/variable") is None
    frozen = GraphModel(load_graph(str(frozen_pb.path)))
    name = next(iter(frozen_pb.constants))
    constant = int(frozen.item_of_op[frozen.find(name)])
    choice = choice_of(frozen, link_variables(frozen, None), None, constant)
    assert (choice.key, choice.constant) == (None, name)
