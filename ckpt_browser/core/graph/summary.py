"""`ckpt-browser graph PATH`: which graph file a path means, and what to print about it.

The JSON lists every node of the GraphDef as TensorFlow stores it (inputs as written, control
inputs with their `^`), the variables under their checkpoint keys, and the bodies of the library
functions separately, so `node_count` is the GraphDef's own node count.
"""

from __future__ import annotations

import os
from collections import Counter

from ckpt_browser.core.formatting import format_shape, plural
from ckpt_browser.core.graph.model import GraphModel, ItemKind
from ckpt_browser.core.printable import printable
from ckpt_browser.format import CheckpointError
from ckpt_browser.format.graph.meta_graphs import format_tags
from ckpt_browser.format.graph.reader import SAVED_MODEL_FILE, GraphFile, GraphNode, find_graph
from ckpt_browser.format.sources import locations as where

GRAPH_SUFFIXES = (".meta", ".pb", ".graphdef")
TOP_OPS = 15
TOP_SCOPES = 20


def resolve_graph_path(path: str) -> str:
    """A graph file itself, a SavedModel directory, or a checkpoint with a `.meta` beside it."""
    path = where.abspath(where.normalize(path))
    if where.isdir(path) and where.isfile(os.path.join(path, SAVED_MODEL_FILE)):
        return os.path.join(path, SAVED_MODEL_FILE)
    # Any file, not only a regular one: loading a FIFO or a device says what is wrong with it.
    if where.exists(path) and not where.isdir(path) and path.endswith(GRAPH_SUFFIXES):
        return path
    found = find_graph(path)
    if found is None:
        raise CheckpointError("no graph here or beside it (no .meta and no saved_model.pb)", path)
    return found


def _node_record(node: GraphNode) -> dict:
    return {
        "name": node.proto.name if node.function else node.name,
        "op": node.op,
        "inputs": list(node.proto.input),
        "device": node.device,
    }


def graph_record(graph: GraphFile) -> dict:
    """The JSON of `ckpt-browser graph --json`."""
    return {
        "path": graph.path,
        "kind": graph.kind,
        "tags": list(graph.tags),
        "meta_graphs": [list(tags) for tags in graph.meta_graphs],
        "node_count": len(graph.nodes),
        "nodes": [_node_record(node) for node in graph.nodes],
        "variables": [
            {
                "name": variable.name,
                "node": variable.node,
                "dtype": variable.dtype,
                "shape": list(variable.shape) if variable.shape is not None else None,
                "trainable": variable.trainable,
            }
            for variable in graph.variables
        ],
        "functions": [
            {
                "name": function.name,
                "node_count": len(function.nodes),
                "nodes": [_node_record(node) for node in function.nodes],
            }
            for function in graph.functions.values()
        ],
    }


def graph_summary(model: GraphModel) -> str:
    """A few readable lines: sizes, the commonest ops, the top-level scopes, the variables."""
    graph = model.graph
    version = f", TensorFlow {graph.tensorflow_version}" if graph.tensorflow_version else ""
    tags = f", tags {format_tags(graph.tags)}" if graph.tags else ""
    lines = [f"graph: {printable(graph.path)} ({graph.kind}{tags}{version})"]
    nodes = f"nodes: {len(graph.nodes):,}"
    if graph.functions:
        inside = model.node_count - len(graph.nodes)
        nodes += f" (and {inside:,} in {plural(len(graph.functions), 'library function')})"
    lines.append(
        f"{nodes}; edges: {model.edge_count:,} ({model.data_edge_count:,} data, "
        f"{model.control_edge_count:,} control)"
    )
    ops = Counter(node.op for node in graph.nodes)
    common = ", ".join(f"{printable(op)} {count:,}" for op, count in ops.most_common(TOP_OPS))
    lines.append(f"ops: {plural(len(ops), 'type')}; {common}")
    top = [model.items[c] for c in model.items[model.root].children]
    scopes = [item for item in top if item.kind in (ItemKind.GROUP, ItemKind.SERIES)]
    listed = ", ".join(f"{printable(item.label)} ({item.size:,})" for item in scopes[:TOP_SCOPES])
    more = f", … {len(scopes) - TOP_SCOPES} more" if len(scopes) > TOP_SCOPES else ""
    lines.append(f"scopes: {len(model.scope_names()):,}; top level: {listed or '-'}{more}")
    variables = graph.variables
    trainable = sum(1 for v in variables if v.trainable)
    lines.append(f"variables: {len(variables):,} ({trainable:,} trainable)")
    names = [printable(v.name) for v in variables]
    width = max((len(name) for name in names), default=0)
    for variable, name in zip(variables, names):
        shape = format_shape(variable.shape) if variable.shape is not None else "?"
        flag = "  trainable" if variable.trainable else ""
        dtype = printable(variable.dtype or "?")
        lines.append(f"  {name:<{width}}  {dtype:<9} {shape}{flag}")
    return "\n".join(lines)
