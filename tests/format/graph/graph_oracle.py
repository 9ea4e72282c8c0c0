"""What TensorFlow's own parse says about a graph, and assertions comparing ours with it."""

from __future__ import annotations

from pathlib import Path

import pytest
from tf_checkpoints import import_tensorflow

from ckpt_browser.format.graph.reader import GraphFile

OBJECT_GRAPH_KEY = "_CHECKPOINTABLE_OBJECT_GRAPH"


def their_meta_graph(path: Path):
    tf = import_tensorflow()
    return tf.compat.v1.MetaGraphDef.FromString(Path(path).read_bytes())


def their_saved_model(directory: Path):
    import_tensorflow()
    from tensorflow.core.protobuf import saved_model_pb2

    return saved_model_pb2.SavedModel.FromString((directory / "saved_model.pb").read_bytes())


def checkpoint_listing(prefix: str) -> dict[str, tuple[str, tuple[int, ...]]]:
    """key -> (dtype name, shape) from TensorFlow's checkpoint reader."""
    tf = import_tensorflow()
    reader = tf.train.load_checkpoint(prefix)
    dtypes = reader.get_variable_to_dtype_map()
    return {
        name: (dtypes[name].name, tuple(shape))
        for name, shape in reader.get_variable_to_shape_map().items()
        if name != OBJECT_GRAPH_KEY
    }


def their_attr(kind: str, item) -> object:
    tf = import_tensorflow()
    if kind == "s":
        try:
            return item.decode("utf-8")
        except UnicodeDecodeError:
            return item
    if kind == "type":
        return tf.dtypes.as_dtype(item).name
    if kind == "shape":
        shape = tf.TensorShape(item)
        if shape.rank is None:
            return None
        return tuple(-1 if size is None else size for size in shape.as_list())
    if kind == "func":
        return item.name
    if kind == "placeholder":
        return "$" + item
    if kind == "tensor":
        return tf.dtypes.as_dtype(item.dtype).name  # ours is a description starting with it
    return item


def their_attr_items(value) -> list[tuple[str | None, object]]:
    """(kind, value) of each item of an AttrValue: the value itself, or each item of a list."""
    kind = value.WhichOneof("value")
    if kind is None:
        return [(None, None)]
    if kind != "list":
        return [(kind, their_attr(kind, getattr(value, kind)))]
    for field in ("s", "i", "f", "b", "type", "shape", "tensor", "func"):
        items = getattr(value.list, field)
        if items:
            return [(field, their_attr(field, item)) for item in items]
    return []


def assert_attrs_match(ours: dict, node_def) -> None:
    assert sorted(ours) == sorted(node_def.attr)
    for key, value in node_def.attr.items():
        expected = their_attr_items(value)
        got = ours[key] if value.WhichOneof("value") == "list" else [ours[key]]
        assert len(got) == len(expected), key
        for mine, (kind, theirs) in zip(got, expected, strict=True):
            if kind == "f":
                assert mine == pytest.approx(theirs, rel=1e-6), key
            elif kind == "tensor":
                assert mine.startswith(theirs), key
            else:
                assert mine == theirs, key


def assert_nodes_match(ours: list, node_defs, prefix: str = "") -> None:
    assert [n.name for n in ours] == [prefix + n.name for n in node_defs]
    for mine, theirs in zip(ours, node_defs, strict=True):
        assert mine.op == theirs.op
        assert mine.device == theirs.device
        assert mine.inputs == [prefix + i for i in theirs.input if not i.startswith("^")]
        assert mine.control_inputs == [prefix + i[1:] for i in theirs.input if i.startswith("^")]
        assert_attrs_match(mine.attrs, theirs)


def assert_functions_match(graph: GraphFile, library) -> None:
    assert sorted(graph.functions) == sorted(f.signature.name for f in library.function)
    for function in library.function:
        name = function.signature.name
        ours = graph.functions[name]
        arguments = [node for node in ours.nodes if node.op == "_Arg"]
        results = [node for node in ours.nodes if node.op == "_Retval"]
        body = [node for node in ours.nodes if node.op not in ("_Arg", "_Retval")]
        assert_nodes_match(body, function.node_def, prefix=f"{name}/")
        assert [n.name for n in arguments] == [
            f"{name}/{a.name}" for a in function.signature.input_arg
        ]
        assert [n.inputs for n in results] == [
            [f"{name}/{function.ret[a.name]}"] for a in function.signature.output_arg
        ]
        assert [a for a, _ in ours.inputs] == [a.name for a in function.signature.input_arg]
        # Every input inside the body names a node of the body (or an argument).
        names = {node.name for node in ours.nodes}
        for node in ours.nodes:
            for source in node.inputs + node.control_inputs:
                assert source.split(":")[0] in names
    assert sum(graph.ops.values()) == len(graph.nodes) + sum(
        len(f.nodes) for f in graph.functions.values()
    )
