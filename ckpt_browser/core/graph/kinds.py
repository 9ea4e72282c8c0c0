"""What each node of a TensorFlow graph is, for colouring and for hiding the plumbing.

Plumbing is what TensorFlow adds around a model to save, restore and initialise it: the Saver's
scope (`save/`, `save_1/`), each variable's initializer, assign and is-initialized ops, `init`
and `report_uninitialized_variables`, and in a SavedModel the traced save and restore functions
with the calls to them. Hiding it leaves the model's own computation.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from enum import Enum

from ckpt_browser.format.graph.reader import GraphFile, GraphNode

VARIABLE_OPS = frozenset(
    {"VariableV2", "Variable", "VarHandleOp", "AutoReloadVariable", "_VarHandlesOp"}
)
CONSTANT_OPS = frozenset({"Const", "HostConst"})
INPUT_OPS = frozenset({"Placeholder", "PlaceholderV2", "PlaceholderWithDefault", "_Arg"})
SAVER_OPS = frozenset(
    {
        "SaveV2",
        "RestoreV2",
        "Save",
        "SaveSlices",
        "Restore",
        "RestoreSlice",
        "MergeV2Checkpoints",
        "ShardedFilename",
        "ShardedFilespec",
    }
)
INITIALIZED_OPS = frozenset({"VarIsInitializedOp", "IsVariableInitialized"})
ASSIGN_OPS = frozenset({"Assign", "AssignVariableOp"})
# Whole top-level names (and their scopes) that only initialise variables.
_INIT_NAME = re.compile(r"^(init(_\d+)?|init_all_tables|init_all_vars_op)$")
_INIT_SCOPE = re.compile(r"^report_uninitialized_(variables|resources)(_\d+)?$")
_INIT_PARTS = frozenset({"Initializer", "IsInitialized", "initial_value"})
_SAVER_FUNCTION = re.compile(r"_traced_(save|restore)(_\d+)?$")


class NodeKind(str, Enum):
    """The kind a node is drawn as."""

    VARIABLE = "variable"
    CONSTANT = "constant"
    INPUT = "input"
    COMPUTE = "compute"
    PLUMBING = "plumbing"


def classify(graph: GraphFile, nodes: list[GraphNode]) -> list[NodeKind]:
    """The kind of each of `nodes` (the graph's nodes and its functions' bodies)."""
    saver_scopes = _saver_scopes(graph, nodes)
    saver_functions = {name for name in graph.functions if _SAVER_FUNCTION.search(name)}
    variable_names = {node.name for node in nodes if node.op in VARIABLE_OPS}
    kinds = []
    for node in nodes:
        if _is_plumbing(node, saver_scopes, saver_functions, variable_names):
            kinds.append(NodeKind.PLUMBING)
        elif node.op in VARIABLE_OPS:
            kinds.append(NodeKind.VARIABLE)
        elif node.op in CONSTANT_OPS:
            kinds.append(NodeKind.CONSTANT)
        elif node.op in INPUT_OPS:
            kinds.append(NodeKind.INPUT)
        else:
            kinds.append(NodeKind.COMPUTE)
    return kinds


def _saver_scopes(graph: GraphFile, nodes: Iterable[GraphNode]) -> set[str]:
    """Top-level scopes holding a Saver (`save`, `save_1`), and single nodes the saver names."""
    scopes = set()
    for node in nodes:
        if node.op in SAVER_OPS and node.function is None and "/" in node.name:
            scopes.add(node.name.split("/", 1)[0])
    if graph.saver:
        for key in ("filename_tensor_name", "save_tensor_name", "restore_op_name"):
            name = str(graph.saver.get(key) or "").split(":", 1)[0]
            if name:
                scopes.add(name.split("/", 1)[0] if "/" in name else name)
    return scopes


def _calls_a_function(node: GraphNode) -> bool:
    """Cheap test first: reading every node's attributes would slow down a large graph."""
    return node.op.endswith("PartitionedCall") or node.op.startswith("__inference")


def _is_plumbing(
    node: GraphNode, saver_scopes: set[str], saver_functions: set[str], variables: set[str]
) -> bool:
    if node.function is not None and node.function in saver_functions:
        return True
    if node.op in SAVER_OPS or node.op in INITIALIZED_OPS:
        return True
    if (
        saver_functions
        and _calls_a_function(node)
        and any(name in saver_functions for name in node.called_functions)
    ):
        return True
    name = node.name
    parts = name.split("/")
    if node.function is None:
        top = parts[0]
        if top in saver_scopes:
            return True
        if top[:1] in "ir" and (_INIT_SCOPE.match(top) or _INIT_NAME.match(name)):
            return True
    if not _INIT_PARTS.isdisjoint(parts):
        return True
    # `v/Assign` writes the initial value into variable `v`.
    return node.op in ASSIGN_OPS and len(parts) > 1 and name.rpartition("/")[0] in variables
