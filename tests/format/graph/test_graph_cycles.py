"""Hostile graphs: cycles in what a walk follows, names a thousand scopes deep, odd key lists.

Each walk over a graph (the restore function traced for variable links, input tracing, the
layered layout, nested scopes and boxes) must end whatever the graph holds. The SavedModels here
are TensorFlow's own, with their restore function edited the way a hostile file would be.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from ckpt_browser.core.graph.layout import layered_layout
from ckpt_browser.core.graph.link import link_variables
from ckpt_browser.core.graph.model import GraphModel, ItemKind
from ckpt_browser.core.graph.summary import graph_record, graph_summary
from ckpt_browser.core.graph.view import SceneBuilder, ViewState, traced_in_scene
from ckpt_browser.format import protos
from ckpt_browser.format.graph.reader import load_graph
from tests.format.test_special_files import run_cli


def _edited_saved_model(source: Path, target: Path, edit) -> Path:
    """A copy of SavedModel `source` whose restore function `edit(function)` has changed."""
    shutil.copytree(source, target)
    saved = protos.SavedModel.FromString((target / "saved_model.pb").read_bytes())
    meta = saved.meta_graphs[0]
    restore = meta.saver_def.restore_op_name.partition(":")[0]
    call = next(node for node in meta.graph_def.node if node.name == restore)
    function_name = call.attr["f"].func.name
    function = next(f for f in meta.graph_def.library.function if f.signature.name == function_name)
    edit(function)
    (target / "saved_model.pb").write_bytes(saved.SerializeToString())
    return target


def _node(function, name: str):
    return next(node for node in function.node_def if node.name == name)


def _identity_feeds_itself(function) -> None:
    _node(function, "Identity").input[0] = "Identity:output:0"


def _identities_feed_each_other(function) -> None:
    _node(function, "Identity").input[0] = "Identity_1:output:0"
    _node(function, "Identity_1").input[0] = "Identity:output:0"


@pytest.mark.parametrize("edit", [_identity_feeds_itself, _identities_feed_each_other])
def test_restore_function_with_a_cycle_lists_variables_unlinked(savedmodel_dir, tmp_path, edit):
    directory = _edited_saved_model(savedmodel_dir.directory, tmp_path / "model", edit)
    graph = load_graph(directory)
    nodes = {variable.name: variable.node for variable in graph.variables}
    assert set(nodes) == set(savedmodel_dir.expected)
    assert None in nodes.values()  # the looped ones cannot be traced to a handle
    model = GraphModel(graph)
    assert "variables:" in graph_summary(model)
    link = link_variables(model, None)
    assert set(link.graph_keys) == set(savedmodel_dir.expected)
    restore_op = model.find(graph.saver["restore_op_name"])
    reached = model.trace_inputs(restore_op)
    assert reached[restore_op]


def test_cli_graph_and_remap_target_end_on_a_restore_cycle(savedmodel_dir, tmp_path):
    directory = _edited_saved_model(
        savedmodel_dir.directory, tmp_path / "model", _identity_feeds_itself
    )
    result = run_cli("graph", str(directory))
    assert result.returncode == 0, result.stderr
    assert "variables: 2" in result.stdout
    result = run_cli("graph", "--json", str(directory))
    assert result.returncode == 0, result.stderr

    from ckpt_browser.core.remap.target import load_target

    target = load_target(directory / "saved_model.pb")
    assert set(target.tensors) == set(savedmodel_dir.expected)


def test_a_key_list_that_is_not_strings_is_a_warning(savedmodel_dir, tmp_path):
    def numbers_for_names(function) -> None:
        tensor = _node(function, "RestoreV2/tensor_names").attr["value"].tensor
        tensor.dtype = 3  # int32
        del tensor.string_val[:]
        tensor.int_val.extend([1, 2])

    directory = _edited_saved_model(savedmodel_dir.directory, tmp_path / "model", numbers_for_names)
    graph = load_graph(directory)
    assert {variable.name for variable in graph.variables} == set(savedmodel_dir.expected)
    assert all(variable.node is None for variable in graph.variables)
    assert len(graph.warnings) == 1
    assert "'__inference" in graph.warnings[0] and "not a string tensor" in graph.warnings[0]
    graph_record(graph)

    result = run_cli("graph", str(directory))
    assert result.returncode == 0, result.stderr
    assert result.stderr.startswith("warning: the restore function's key list")
    assert "Traceback" not in result.stderr


def _graph_def(*nodes: tuple[str, str, list[str]]) -> protos.GraphDef:
    graph = protos.GraphDef()
    for name, op, inputs in nodes:
        graph.node.add(name=name, op=op, input=inputs)
    return graph


def _write(tmp_path: Path, graph: protos.GraphDef, name: str = "graph.pb") -> Path:
    path = tmp_path / name
    path.write_bytes(graph.SerializeToString())
    return path


CYCLIC = _graph_def(
    ("self", "Identity", ["self", "^self"]),
    ("loop/a", "Add", ["loop/c", "self"]),
    ("loop/b", "Mul", ["loop/a:0"]),
    ("loop/c", "Identity", ["loop/b", "^loop/a"]),
    ("out", "Identity", ["loop/c"]),
    ("other/x", "Identity", ["out"]),
    ("other/y", "Identity", ["other/x", "loop/b"]),
)


def test_traces_layouts_and_scenes_end_on_cycles(tmp_path):
    model = GraphModel(load_graph(_write(tmp_path, CYCLIC)))
    out = model.find("out")
    reached = model.trace_inputs(out)
    names = {model.nodes[i].name for i in np.flatnonzero(reached)}
    assert names == {"self", "loop/a", "loop/b", "loop/c", "out"}
    data_only = model.trace_inputs(model.find("self"), include_control=False)
    assert {model.nodes[i].name for i in np.flatnonzero(data_only)} == {"self"}

    builder = SceneBuilder(model)
    groups = {item.name: index for index, item in enumerate(model.items)}
    state = ViewState(expanded=frozenset({groups["loop"], groups["other"]}))
    scene = builder.build(state)
    assert {model.items[p.item].name for p in scene.items} >= {"loop/a", "loop/b", "other/y"}
    items, pairs = traced_in_scene(model, scene, model.find("other/y"))
    assert pairs and items[groups["loop"]]


def test_layered_layout_of_self_loops_and_long_cycles():
    ring = [(i, (i + 1) % 50) for i in range(50)]
    edges = np.array([*ring, (3, 3), (7, 7), (10, 2), (2, 10)])
    layout = layered_layout(np.full(50, 40.0), np.full(50, 20.0), edges)
    assert len(layout.edge_points) == len(edges)
    assert np.isfinite(layout.x).all() and np.isfinite(layout.y).all()


DEPTH = 1000


def _deep_graph() -> protos.GraphDef:
    scopes = "/".join(f"s{i}" for i in range(DEPTH))
    return _graph_def(
        ("input", "Placeholder", []),
        (f"{scopes}/leaf", "Identity", ["input"]),
        (f"{scopes}/s_last/other", "Identity", [f"{scopes}/leaf"]),
    )


def test_a_node_a_thousand_scopes_deep(tmp_path):
    graph = load_graph(_write(tmp_path, _deep_graph()))
    model = GraphModel(graph)
    assert len(model.scope_names()) == DEPTH + 1
    leaf = model.find("/".join(f"s{i}" for i in range(DEPTH)) + "/leaf")
    chain = model.ancestors(int(model.item_of_op[leaf]))
    assert len(chain) == DEPTH and all(model.items[i].kind is ItemKind.GROUP for i in chain)
    assert model.items[0].end == 3
    assert "scopes: 1,001" in graph_summary(model)

    # Revealing the leaf expands every scope around it: a thousand nested boxes.
    scene = SceneBuilder(model).build(ViewState(expanded=frozenset(chain)))
    placed = scene.placed(int(model.item_of_op[leaf]))
    assert placed is not None and placed.depth == DEPTH
    assert len(scene.edges) >= 1


def test_cli_graph_of_a_deep_name(tmp_path):
    path = _write(tmp_path, _deep_graph())
    result = run_cli("graph", str(path))
    assert result.returncode == 0, result.stderr
    assert "scopes: 1,001" in result.stdout
