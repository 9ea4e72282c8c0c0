"""The variables a graph declares, under the checkpoint keys they are saved as.

Three sources, in order of preference:
- TF1 graphs (`.meta`): the `variables` and `trainable_variables` collections of VariableDef
  messages; a checkpoint key is the variable's node name, or for a part of a partitioned variable
  the full variable's name from its SaveSliceInfoDef.
- TF2 SavedModels: the object graph, which names variables the way TF2 checkpoints do
  (`layer/kernel/.ATTRIBUTES/VARIABLE_VALUE`); the graph node of each is found by following the
  saver's restore function.
- Anything else (a GraphDef with variable nodes): the VariableV2 / VarHandleOp nodes themselves.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
from google.protobuf.message import DecodeError

from ckpt_browser.format import protos
from ckpt_browser.format.errors import CheckpointError
from ckpt_browser.format.graph.tensor_proto import dtype_name, shape_of, to_numpy
from ckpt_browser.format.object_graph import saved_variable_keys

if TYPE_CHECKING:
    from ckpt_browser.format.graph.reader import GraphFile, GraphNode

VARIABLE_OPS = {"VariableV2", "Variable", "VarHandleOp"}

# Collections whose bytes are VariableDef messages.
VARIABLE_COLLECTIONS = {
    "variables",
    "trainable_variables",
    "local_variables",
    "model_variables",
    "moving_average_variables",
    "metric_variables",
    "global_step",
}


@dataclass(frozen=True)
class Partition:
    """Where one part of a partitioned variable sits inside the full tensor."""

    full_shape: tuple[int, ...]
    offset: tuple[int, ...]
    shape: tuple[int, ...]


@dataclass(frozen=True)
class GraphVariable:
    """A variable of the graph, under the checkpoint key it is saved as.

    For a part of a partitioned variable `name` is the full variable's key and `node` the part.
    """

    name: str
    node: str | None  # the graph node holding the variable, when known
    dtype: str | None
    shape: tuple[int, ...] | None
    trainable: bool | None  # None when the graph does not say
    is_resource: bool
    partition: Partition | None = None


def variable_def(data: bytes):
    try:
        return protos.VariableDef.FromString(data)
    except DecodeError:
        raise CheckpointError("a VariableDef in the graph's collections does not parse") from None


def graph_variables(graph: GraphFile, meta) -> list[GraphVariable]:
    """The variables of `graph`, whose MetaGraphDef is `meta` (see the module text)."""
    collections = meta.collection_def
    if "variables" in collections or "trainable_variables" in collections:
        return _collection_variables(graph, collections)
    if meta.HasField("object_graph_def"):
        return _saved_model_variables(graph, meta.object_graph_def)
    return [
        _node_variable(node, node.name, trainable=None)
        for node in graph.nodes
        if node.op in VARIABLE_OPS
    ]


def _collection_variables(graph: GraphFile, collections) -> list[GraphVariable]:
    def defs(name: str) -> list:
        if name not in collections:
            return []
        return [variable_def(data) for data in collections[name].bytes_list.value]

    trainable_defs = defs("trainable_variables")
    trainable = {vd.variable_name for vd in trainable_defs}
    all_defs = defs("variables")
    listed = {vd.variable_name for vd in all_defs}
    all_defs += [vd for vd in trainable_defs if vd.variable_name not in listed]
    result = []
    for vd in all_defs:
        node_name = vd.variable_name.partition(":")[0]
        node = graph.node_by_name.get(node_name)
        is_trainable = vd.variable_name in trainable or vd.trainable
        key, partition = node_name, None
        if vd.HasField("save_slice_info_def"):
            info = vd.save_slice_info_def
            key = info.full_name
            partition = Partition(
                tuple(info.full_shape), tuple(info.var_offset), tuple(info.var_shape)
            )
        if node is not None and node.function is None:
            result.append(_node_variable(node, key, is_trainable, partition))
        else:
            shape = partition.shape if partition else None
            result.append(
                GraphVariable(key, None, None, shape, is_trainable, vd.is_resource, partition)
            )
    return result


def _node_variable(
    node: GraphNode, key: str, trainable: bool | None, partition: Partition | None = None
) -> GraphVariable:
    dtype = node.attr_proto("dtype")
    shape = node.attr_proto("shape")
    return GraphVariable(
        name=key,
        node=node.name,
        dtype=dtype_name(dtype.type) if dtype is not None else None,
        shape=shape_of(shape.shape) if shape is not None else None,
        trainable=trainable,
        is_resource=node.op == "VarHandleOp",
        partition=partition,
    )


def _saved_model_variables(graph: GraphFile, object_graph) -> list[GraphVariable]:
    nodes_by_key = _restored_nodes(graph)
    result = []
    for node_id, key in saved_variable_keys(object_graph).items():
        variable = object_graph.nodes[node_id].variable
        result.append(
            GraphVariable(
                name=key,
                node=nodes_by_key.get(key),
                dtype=dtype_name(variable.dtype),
                shape=shape_of(variable.shape),
                trainable=variable.trainable,
                is_resource=True,
            )
        )
    return result


def _restored_nodes(graph: GraphFile) -> dict[str, str]:
    """Checkpoint key -> VarHandleOp node, traced through the SavedModel's restore function.

    The saver's restore op calls a function whose `AssignVariableOp`s write `RestoreV2` output k
    (the tensor named by entry k of its `tensor_names` constant) into argument i; the caller's
    input i is the variable's handle node. Anything that does not fit this shape is skipped.
    """
    if not graph.saver:
        return {}
    call = graph.node_by_name.get(str(graph.saver["restore_op_name"]).partition(":")[0])
    if call is None or call.function is not None or not call.called_functions:
        return {}
    function = graph.functions.get(call.called_functions[0])
    if function is None:
        return {}
    body = {node.name: node for node in function.nodes}
    result = {}
    unreadable: set[str] = set()
    for node in function.nodes:
        if node.op != "AssignVariableOp" or len(node.inputs) < 2:
            continue
        argument = body.get(node.inputs[0])
        source, producer = _through_identities(body, node.inputs[1])
        if argument is None or argument.op != "_Arg" or producer is None:
            continue
        if producer.op != "RestoreV2" or len(producer.inputs) < 2:
            continue
        names = body.get(producer.inputs[1].partition(":")[0])
        keys = _tensor_names(names)
        index = source.rpartition(":")[2]
        position = argument.proto.attr["index"].i
        if keys is None:
            if names is not None and names.op == "Const":
                unreadable.add(names.name)
            continue
        if not index.isdigit():
            continue
        if int(index) < keys.size and position < len(call.inputs):
            key = keys[int(index)].decode("utf-8", "replace")
            result[key] = call.inputs[position].partition(":")[0]
    graph.warnings.extend(
        f"the restore function's key list {name!r} is not a string tensor, so the variables it "
        "restores are not linked to their graph nodes"
        for name in sorted(unreadable)
    )
    return result


def _through_identities(body: dict[str, GraphNode], source: str) -> tuple[str, GraphNode | None]:
    """The tensor a chain of Identity ops passes on, and the node producing it.

    A chain that runs into itself (an Identity fed by its own output, or a longer loop) has no
    producer: (source, None).
    """
    seen: set[str] = set()
    while (producer := body.get(source.partition(":")[0])) is not None:
        if producer.op != "Identity":
            return source, producer
        if producer.name in seen or not producer.inputs:
            return source, None
        seen.add(producer.name)
        source = producer.inputs[0]
    return source, None


def _tensor_names(node: GraphNode | None) -> np.ndarray | None:
    """The checkpoint keys a RestoreV2 reads: its `tensor_names` Const, a 1-D string tensor.

    Anything else (another op, a number tensor, a value that does not decode) leaves the
    variables it restores unlinked to their nodes, as any restore function we cannot follow.
    """
    if node is None or node.op != "Const":
        return None
    value = node.attr_proto("value")
    if value is None or value.WhichOneof("value") != "tensor":
        return None
    try:
        keys = to_numpy(value.tensor).reshape(-1)
    except CheckpointError:
        return None
    return keys if keys.dtype == object else None
