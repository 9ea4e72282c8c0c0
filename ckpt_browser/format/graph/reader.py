"""TensorFlow graphs: a TF1 `.meta`, a frozen `.pb` GraphDef, a SavedModel's `saved_model.pb`.

`load_graph(path)` turns any of them into a `GraphFile` of plain Python objects (nodes, library
functions, variables, collections, signatures, constants) for the graph panel and the command line.
Parsing uses the project's own protobuf messages (`protos.py`), never TensorFlow.

TF2 SavedModels keep almost all computation inside library functions. Each function's body is
exposed as nodes named `<function>/<node>`, with inputs rewritten the same way, plus one `_Arg`
node per argument and one `_Retval` node per result (`<function>/<result>_RetVal`), the way
TensorFlow itself lays a function out when it runs it. A node's inputs and attributes, and the
graph's variables and collections, are worked out when first asked for, so a graph of tens of
thousands of nodes loads in a fraction of a second.
"""

from __future__ import annotations

import os
import re
from collections import Counter
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np
from google.protobuf.message import DecodeError

from ckpt_browser.format import protos
from ckpt_browser.format.dtypes import DType
from ckpt_browser.format.errors import CheckpointError
from ckpt_browser.format.files import read_graph_bytes
from ckpt_browser.format.graph.constants import is_graph_file
from ckpt_browser.format.graph.meta_graphs import (
    SAVED_MODEL_FILE,
    TagSet,
    list_meta_graphs,
    select_meta_graph,
)
from ckpt_browser.format.graph.tensor_proto import (
    declared_type,
    describe,
    dtype_name,
    shape_of,
    to_numpy,
)
from ckpt_browser.format.graph.variables import (
    VARIABLE_COLLECTIONS,
    GraphVariable,
    Partition,
    graph_variables,
    variable_def,
)
from ckpt_browser.format.paths import meta_file_of, resolve_prefix
from ckpt_browser.format.sources import locations as where

__all__ = [
    "GraphFile",
    "GraphFunction",
    "GraphNode",
    "GraphVariable",
    "Partition",
    "Signature",
    "TagSet",
    "TensorSpec",
    "attr_value",
    "find_graph",
    "list_meta_graphs",
    "load_graph",
]

_SSTABLE_MAGIC = bytes.fromhex("57fb808b247547db")
_OP_NAME = re.compile(r"[A-Za-z_][\w.>-]*")


class GraphNode:
    """One node: data inputs as written (`x`, `x:1`), control inputs without their `^`.

    Inputs and attributes are read from the NodeDef when first asked for: a graph panel needs
    them for the part of a large graph it shows, and loading stays fast.
    """

    __slots__ = (
        "_attrs",
        "_control_inputs",
        "_index",
        "_inputs",
        "_node_defs",
        "function",
        "name",
        "op",
    )

    def __init__(self, node_defs, index: int, name: str, op: str, function: str | None) -> None:
        # The node keeps its NodeDef's place rather than the message itself: holding tens of
        # thousands of message objects costs more than the whole parse.
        self._node_defs = node_defs
        self._index = index
        self.name = name
        self.op = op
        self.function = function  # the library function holding the node; None at the top level
        self._inputs: list[str] | None = None
        self._control_inputs: list[str] = []
        self._attrs: dict[str, object] | None = None

    def __repr__(self) -> str:
        return f"GraphNode({self.name!r}, op={self.op!r})"

    @property
    def proto(self):
        """The NodeDef message."""
        return self._node_defs[self._index]

    @property
    def device(self) -> str:
        return self.proto.device

    @property
    def inputs(self) -> list[str]:
        if self._inputs is None:
            self._split_inputs()
        return self._inputs

    @property
    def control_inputs(self) -> list[str]:
        if self._inputs is None:
            self._split_inputs()
        return self._control_inputs

    def _split_inputs(self) -> None:
        inputs, control = [], []
        for name in self.proto.input:
            if name.startswith("^"):
                control.append(name[1:])
            else:
                inputs.append(name)
        if self.function:
            inputs = [f"{self.function}/{name}" for name in inputs]
            control = [f"{self.function}/{name}" for name in control]
        self._inputs, self._control_inputs = inputs, control

    @property
    def attrs(self) -> dict[str, object]:
        """Attributes as Python values: dtype names, shape tuples, short tensor descriptions."""
        if self._attrs is None:
            self._attrs = {key: attr_value(value) for key, value in sorted(self.proto.attr.items())}
        return self._attrs

    def attr_proto(self, name: str):
        """The raw AttrValue message of one attribute, or None if the node has no such attr."""
        return self.proto.attr.get(name)

    @property
    def called_functions(self) -> list[str]:
        """Library functions named by function-valued attributes (`f` of a PartitionedCall).

        A node whose op is itself the name of a library function calls that function too.
        """
        names = []
        for value in self.proto.attr.values():
            kind = value.WhichOneof("value")
            if kind == "func":
                names.append(value.func.name)
            elif kind == "list":
                names.extend(item.name for item in value.list.func)
        return names


@dataclass
class GraphFunction:
    """A library function: typed arguments and results, and its body as namespaced nodes."""

    name: str
    inputs: list[tuple[str, str]]  # (argument name, dtype name or its type attribute)
    outputs: list[tuple[str, str]]
    nodes: list[GraphNode]


@dataclass(frozen=True)
class TensorSpec:
    name: str  # the graph tensor (`serving_default_x:0`)
    dtype: str
    shape: tuple[int, ...] | None


@dataclass(frozen=True)
class Signature:
    method_name: str
    inputs: dict[str, TensorSpec]
    outputs: dict[str, TensorSpec]


@dataclass
class GraphFile:
    """Everything the browser shows about one graph file.

    Variables, collections and op counts are worked out when first asked for.
    """

    path: str
    kind: str  # "graph_def", "meta_graph" or "saved_model"
    nodes: list[GraphNode] = field(repr=False)
    functions: dict[str, GraphFunction] = field(repr=False)
    node_by_name: dict[str, GraphNode] = field(repr=False)  # top-level and function nodes
    saver: dict[str, object] | None
    tags: list[str]  # the tag set of the MetaGraph shown (empty for a .meta or GraphDef)
    tensorflow_version: str | None
    producer: int | None  # GraphDef version of the TensorFlow that wrote it
    signatures: dict[str, Signature]
    meta_graph: object = field(repr=False)  # the MetaGraphDef message (a GraphDef is wrapped)
    # The tag set of every MetaGraph in the file, in file order; `tags` is one of them.
    meta_graphs: list[TagSet] = field(default_factory=list)
    # One sentence for each part of the file that was left out because it makes no sense (found
    # as it is read: after `variables`, what tracing the restore function met).
    warnings: list[str] = field(default_factory=list)

    @cached_property
    def variables(self) -> list[GraphVariable]:
        with self._errors_name_the_file():
            return graph_variables(self, self.meta_graph)

    @cached_property
    def collections(self) -> dict[str, list]:
        with self._errors_name_the_file():
            return _collections(self.meta_graph.collection_def)

    @cached_property
    def ops(self) -> Counter:
        """How many nodes of each op type, in the graph and in its functions."""
        return Counter(node.op for node in self.all_nodes())

    def all_nodes(self) -> Iterator[GraphNode]:
        yield from self.nodes
        for function in self.functions.values():
            yield from function.nodes

    def constants(self) -> dict[str, np.ndarray]:
        """The value of every top-level Const node (the weights of a frozen graph)."""
        with self._errors_name_the_file():
            return {
                node.name: _const_value(node)
                for node in self.nodes
                if node.op == "Const" and _decodable(node)
            }

    def constant(self, name: str) -> np.ndarray:
        """The value of Const node `name`; a splat is a read-only view (see `to_numpy`)."""
        node = self._const_node(name)
        with self._errors_name_the_file():
            return _const_value(node)

    def constant_type(self, name: str) -> tuple[DType, tuple[int, ...], int]:
        """The dtype, shape and stored size in bytes of Const node `name`, its value not decoded."""
        node = self._const_node(name)
        with self._errors_name_the_file():
            tensor = _const_tensor(node)
            try:
                dtype, shape = declared_type(tensor)
            except CheckpointError as exc:
                raise CheckpointError(f"Const node {node.name!r}: {exc}") from None
            return dtype, shape, tensor.ByteSize()

    def _const_node(self, name: str) -> GraphNode:
        node = self.node_by_name.get(name)
        if node is None or node.op != "Const":
            raise CheckpointError(f"no Const node named {name!r} in the graph", self.path)
        return node

    @contextmanager
    def _errors_name_the_file(self) -> Iterator[None]:
        """Errors found after loading (a bad constant, a bad VariableDef) still say which file."""
        try:
            yield
        except CheckpointError as exc:
            if exc.path:
                raise
            raise CheckpointError(str(exc), self.path) from None


def attr_value(value) -> object:
    """An AttrValue as a readable Python value (None for an unset one)."""
    kind = value.WhichOneof("value")
    if kind is None:
        return None
    if kind == "list":
        return _list_value(value.list)
    return _scalar(kind, getattr(value, kind))


def _scalar(kind: str, item) -> object:
    if kind == "s":
        try:
            return item.decode("utf-8")
        except UnicodeDecodeError:
            return bytes(item)
    if kind == "f":
        return float(str(np.float32(item)))  # 0.1, not 0.10000000149011612
    if kind == "type":
        return dtype_name(item)
    if kind == "shape":
        return shape_of(item)
    if kind == "tensor":
        return describe(item)
    if kind == "placeholder":
        return "$" + item  # TensorFlow's own notation for a function's attr placeholder
    if kind == "func":
        return item.name
    return item  # i, b


def _list_value(items) -> list:
    for kind in ("s", "i", "f", "b", "type", "shape", "tensor", "func"):
        values = getattr(items, kind)
        if values:
            return [_scalar(kind, item) for item in values]
    return []


def _const_tensor(node: GraphNode):
    value = node.attr_proto("value")
    if value is None or value.WhichOneof("value") != "tensor":
        raise CheckpointError(f"Const node {node.name!r} has no tensor value")
    return value.tensor


def _const_value(node: GraphNode) -> np.ndarray:
    tensor = _const_tensor(node)
    try:
        return to_numpy(tensor)
    except CheckpointError as exc:
        raise CheckpointError(f"Const node {node.name!r}: {exc}") from None


def _decodable(node: GraphNode) -> bool:
    """Resource and variant constants hold handles, not numbers; they are left out."""
    value = node.attr_proto("value")
    return value is not None and dtype_name(value.tensor.dtype) not in ("resource", "variant")


# --- reading and recognising the file ---------------------------------------------------------


def load_graph(path: str, tags: Iterable[str] | None = None) -> GraphFile:
    """Load a `.meta`, a binary GraphDef, a `saved_model.pb` or a SavedModel directory.

    `tags` picks one MetaGraph of a SavedModel by its tag set (`("train",)`, `("serve", "gpu")`);
    None picks the serving one. `GraphFile.meta_graphs` lists the tag sets there are, and
    `list_meta_graphs(path)` lists them without loading a graph.
    """
    path = where.abspath(where.normalize(path))
    if where.isdir(path):
        if not where.exists(os.path.join(path, SAVED_MODEL_FILE)):
            raise CheckpointError(f"directory has no {SAVED_MODEL_FILE}, so no graph", path)
        path = os.path.join(path, SAVED_MODEL_FILE)
    data = read_graph_bytes(path)
    if not data:
        raise CheckpointError("file is empty, not a TensorFlow graph", path)
    if data.endswith(_SSTABLE_MAGIC):
        raise CheckpointError(
            "this is a checkpoint file (an .index or a V1 checkpoint), not a TensorFlow graph",
            path,
        )

    # Bytes of one kind can parse as another without error, so try the kind the name suggests
    # first and accept a parse only if it yields a plausible graph.
    name = os.path.basename(path)
    if name == SAVED_MODEL_FILE:
        order = ("saved_model", "meta_graph", "graph_def")
    elif name.endswith(".meta"):
        order = ("meta_graph", "saved_model", "graph_def")
    else:
        order = ("graph_def", "meta_graph", "saved_model")
    for kind in order:
        meta_graphs = _parse_as(kind, data)
        meta = select_meta_graph(meta_graphs, None, path)
        if meta is None:
            continue
        nodes, functions = _body(meta)
        if not _plausible(nodes, functions):
            continue
        # Only a plausible file is checked for the tags asked for, so that the error is right.
        chosen = meta if tags is None else select_meta_graph(meta_graphs, tags, path)
        if chosen is not meta:
            meta = chosen
            nodes, functions = _body(meta)
        graph = _build(path, kind, meta, nodes, functions)
        graph.meta_graphs = [tuple(m.meta_info_def.tags) for m in meta_graphs]
        return graph
    raise CheckpointError(
        "not a TensorFlow graph (no GraphDef, MetaGraphDef or SavedModel; damaged or truncated?)",
        path,
    )


def find_graph(path: str) -> str | None:
    """The graph file that goes with a checkpoint path, or None if it has none.

    A SavedModel directory (or its `variables/variables` prefix) has `saved_model.pb`; a TF1
    checkpoint may have `<prefix>.meta` beside it. `path` is anything `open_checkpoint` accepts.
    """
    path = where.abspath(where.normalize(path))
    if is_graph_file(path):  # a frozen graph opened for its constants is its own graph
        return path
    if where.isfile(os.path.join(path, SAVED_MODEL_FILE)):
        return os.path.join(path, SAVED_MODEL_FILE)
    prefix = resolve_prefix(path)
    meta = meta_file_of(prefix)
    if where.isfile(meta):
        return meta
    variables_dir = os.path.dirname(prefix)
    if os.path.basename(prefix) == "variables" and os.path.basename(variables_dir) == "variables":
        saved_model = os.path.join(os.path.dirname(variables_dir), SAVED_MODEL_FILE)
        if where.isfile(saved_model):
            return saved_model
    return None


def _parse_as(kind: str, data: bytes) -> list:
    """The MetaGraphDefs in `data` if it parses as `kind` (a bare GraphDef is wrapped in one)."""
    try:
        if kind == "graph_def":
            return [protos.MetaGraphDef(graph_def=protos.GraphDef.FromString(data))]
        if kind == "meta_graph":
            return [protos.MetaGraphDef.FromString(data)]
        return list(protos.SavedModel.FromString(data).meta_graphs)
    except (DecodeError, ValueError):
        return []


def _body(meta) -> tuple[list[GraphNode], dict[str, GraphFunction]]:
    """A MetaGraph's top-level nodes and its library functions."""
    functions = {f.signature.name: _function(f) for f in meta.graph_def.library.function}
    return _nodes(meta.graph_def.node), functions


def _plausible(nodes: list[GraphNode], functions: dict[str, GraphFunction]) -> bool:
    """A real graph has nodes, each with a name and an op name that looks like one."""
    bodies = [nodes] + [function.nodes for function in functions.values()]
    if not any(bodies):
        return False
    ops = set()
    for body in bodies:
        for node in body:
            if not node.name or node.name.endswith("/"):
                return False
            ops.add(node.op)
    return all(_OP_NAME.fullmatch(op) for op in ops)


def _build(path: str, kind: str, meta, nodes: list[GraphNode], functions: dict) -> GraphFile:
    node_by_name: dict[str, GraphNode] = {}
    for function in functions.values():
        node_by_name.update((node.name, node) for node in function.nodes)
    node_by_name.update((node.name, node) for node in nodes)  # top-level names win a clash
    info = meta.meta_info_def
    graph = meta.graph_def
    saver = (
        {f.name: getattr(meta.saver_def, f.name) for f in meta.saver_def.DESCRIPTOR.fields}
        if meta.HasField("saver_def")
        else None
    )
    return GraphFile(
        path=path,
        kind=kind,
        nodes=nodes,
        functions=functions,
        node_by_name=node_by_name,
        saver=saver,
        tags=list(info.tags),
        tensorflow_version=info.tensorflow_version or None,
        producer=graph.versions.producer if graph.HasField("versions") else None,
        signatures={
            name: Signature(
                signature.method_name, _specs(signature.inputs), _specs(signature.outputs)
            )
            for name, signature in sorted(meta.signature_def.items())
        },
        meta_graph=meta,
    )


def _nodes(node_defs, function: str | None = None) -> list[GraphNode]:
    """Nodes for a sequence of NodeDefs; inside a function, named `<function>/<node>`."""
    prefix = f"{function}/" if function else ""
    return [
        GraphNode(node_defs, index, prefix + node_def.name, node_def.op, function)
        for index, node_def in enumerate(node_defs)
    ]


def _arg_type(arg) -> str:
    return dtype_name(arg.type) if arg.type else "$" + (arg.type_attr or arg.type_list_attr)


def _function(proto) -> GraphFunction:
    """A library function's body, with `_Arg` and `_Retval` nodes for its arguments and results."""
    name = proto.signature.name
    nodes = []
    for index, arg in enumerate(proto.signature.input_arg):
        node = protos.NodeDef(name=arg.name, op="_Arg")
        node.attr["index"].i = index
        if arg.type:
            node.attr["T"].type = arg.type
        nodes += _nodes([node], name)
    nodes += _nodes(proto.node_def, name)
    for index, arg in enumerate(proto.signature.output_arg):
        node = protos.NodeDef(name=f"{arg.name}_RetVal", op="_Retval")
        if arg.name in proto.ret:
            node.input.append(proto.ret[arg.name])
        node.attr["index"].i = index
        if arg.type:
            node.attr["T"].type = arg.type
        nodes += _nodes([node], name)
    inputs = [(arg.name, _arg_type(arg)) for arg in proto.signature.input_arg]
    outputs = [(arg.name, _arg_type(arg)) for arg in proto.signature.output_arg]
    return GraphFunction(name, inputs, outputs, nodes)


def _specs(tensor_infos) -> dict[str, TensorSpec]:
    return {
        key: TensorSpec(info.name, dtype_name(info.dtype), shape_of(info.tensor_shape))
        for key, info in sorted(tensor_infos.items())
    }


def _collections(collection_defs) -> dict[str, list]:
    """Each collection's values; VariableDef bytes are shown as their variables' tensor names."""
    result: dict[str, list] = {}
    for name, collection in sorted(collection_defs.items()):
        kind = collection.WhichOneof("kind")
        values = list(getattr(collection, kind).value) if kind else []
        if kind == "bytes_list" and name in VARIABLE_COLLECTIONS:
            values = [variable_def(data).variable_name for data in values]
        result[name] = values
    return result
