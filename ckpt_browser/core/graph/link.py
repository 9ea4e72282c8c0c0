"""The link between a graph and a checkpoint: which variable node is which checkpoint key.

The graph says which key each variable is saved under (`GraphFile.variables`); the checkpoint
says which keys it holds. A variable of the graph that the checkpoint lacks, or a tensor of the
checkpoint that no graph variable names, is worth marking: it is why a restore fails. The Const
nodes of a frozen graph are the weights themselves; `GraphConstants` serves them to the tensor
view the way a checkpoint serves its tensors.
"""

from __future__ import annotations

import math
import os
from collections import OrderedDict
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field

import numpy as np

from ckpt_browser.core.formatting import plural
from ckpt_browser.core.graph.kinds import NodeKind
from ckpt_browser.core.graph.model import GraphModel, ItemKind
from ckpt_browser.format import TensorInfo, TensorKind
from ckpt_browser.format.graph.constants import frozen_variable_name
from ckpt_browser.format.graph.meta_graphs import TagSet, format_tags
from ckpt_browser.format.graph.reader import GraphFile

# Checkpoint entries no graph variable stands for (the object graph is bookkeeping).
_NOT_VARIABLES = {TensorKind.OBJECT_GRAPH}
# Decoded constants kept for the values view, which reads one slice at a time: bounded by the
# memory they hold, not by their count (a splat holds one element however large its shape).
KEPT_BYTES = 512 << 20


@dataclass(frozen=True)
class VariableLink:
    """Graph variable ops and checkpoint keys, both ways, with what each side lacks."""

    key_of_op: dict[int, str] = field(default_factory=dict)  # variable op -> checkpoint key
    op_of_key: dict[str, int] = field(default_factory=dict)  # key -> (first) variable op
    graph_keys: list[str] = field(default_factory=list)  # every key the graph declares
    missing_from_checkpoint: list[str] = field(default_factory=list)
    missing_from_graph: list[str] = field(default_factory=list)
    checked: bool = False  # False when no checkpoint was given: nothing is marked missing
    frozen_keys: list[str] = field(default_factory=list)  # keys a Const node holds (frozen)

    @property
    def missing_ops(self) -> set[int]:
        missing = set(self.missing_from_checkpoint)
        return {op for op, key in self.key_of_op.items() if key in missing}


def link_variables(model: GraphModel, checkpoint: Mapping[str, TensorInfo] | None) -> VariableLink:
    """Match the graph's variables with `checkpoint`'s keys (None: no checkpoint to compare)."""
    key_of_op: dict[int, str] = {}
    op_of_key: dict[str, int] = {}
    keys: list[str] = []
    for variable in model.graph.variables:
        if variable.name not in op_of_key and variable.name not in keys:
            keys.append(variable.name)
        op = model.find(variable.node) if variable.node else None
        if op is not None:
            key_of_op[op] = variable.name
            op_of_key.setdefault(variable.name, op)
    if checkpoint is None:
        return VariableLink(key_of_op, op_of_key, keys)
    frozen = _link_constants(model, checkpoint, key_of_op, op_of_key)
    declared = set(keys) | frozen
    missing_from_checkpoint = [key for key in keys if key not in checkpoint]
    missing_from_graph = [
        key
        for key, info in checkpoint.items()
        if key not in declared and info.kind not in _NOT_VARIABLES
    ]
    return VariableLink(
        key_of_op,
        op_of_key,
        keys,
        missing_from_checkpoint,
        missing_from_graph,
        checked=True,
        frozen_keys=sorted(frozen),
    )


def _link_constants(
    model: GraphModel,
    checkpoint: Mapping[str, TensorInfo],
    key_of_op: dict[int, str],
    op_of_key: dict[str, int],
) -> set[str]:
    """Link the Const nodes of a frozen graph to the tensors they hold: those of the graph's own
    constants when it is the open checkpoint, or the variables they were frozen from (by name,
    without `import/` and `/read`). Returns the keys linked so."""
    linked = set()
    for op, node in enumerate(model.nodes):
        if node.op != "Const" or node.function is not None or op in key_of_op:
            continue
        for key in (node.name, frozen_variable_name(node.name)):
            if key in checkpoint and key not in op_of_key:
                key_of_op[op] = key
                op_of_key[key] = op
                linked.add(key)
                break
    return linked


def link_summary(model: GraphModel, link: VariableLink, tags: TagSet | None = None) -> str:
    """One line under the drawing: 'model.meta [serve]: 40 nodes · 52 edges · 6 variables ·
    1 not in the checkpoint'. `tags` names the MetaGraph of a SavedModel."""
    graph = model.graph
    parts = [
        plural(model.top_level_node_count, "node"),
        plural(model.edge_count, "edge"),
    ]
    if link.graph_keys or not link.frozen_keys:  # a frozen graph has no variables to count
        parts.append(plural(len(link.graph_keys), "variable"))
    if link.frozen_keys:
        parts.append(f"{plural(len(link.frozen_keys), 'frozen weight')} linked")
    if graph.functions:
        functions = plural(len(graph.functions), "function")
        parts.insert(1, f"{functions} ({plural(model.node_count, 'node')} in all)")
    if link.checked:
        if link.missing_from_checkpoint:
            parts.append(f"{len(link.missing_from_checkpoint)} not in the checkpoint")
        if link.missing_from_graph:
            missing = plural(len(link.missing_from_graph), "checkpoint tensor")
            parts.append(f"{missing} not in the graph")
    name = os.path.basename(graph.path)
    if tags is not None:
        name += f" [{format_tags(tags)}]"
    return f"{name}: " + " · ".join(parts)


@dataclass(frozen=True)
class GraphChoice:
    """What choosing an item in the graph asks of the tree and the tensor view.

    Every way of choosing (a click, a click again, a search result, a row of the variables list)
    goes through `choice_of`, so the three panes cannot disagree about which variable is shown.
    """

    item: int
    op: int | None  # the op the item stands for (a variable's scope stands for the variable)
    key: str | None = None  # the checkpoint key of a variable node
    in_checkpoint: bool = False  # False: the variable is missing, or there is no checkpoint
    constant: str | None = None  # a Const node, shown as a tensor when the graph is frozen


def op_of_item(model: GraphModel, item: int) -> int | None:
    """The op an item stands for: its own op, or the op a group is named after (`kernel`)."""
    entry = model.items[item]
    return entry.op if entry.kind is ItemKind.OP else model.own_op(item)


def choice_of(
    model: GraphModel,
    link: VariableLink,
    checkpoint: Mapping[str, TensorInfo] | None,
    item: int,
) -> GraphChoice:
    """What choosing `item` means: a checkpoint variable, a missing one, a constant, or none."""
    op = op_of_item(model, item)
    if op is None:
        return GraphChoice(item, None)
    key = link.key_of_op.get(op)
    if key is not None:
        return GraphChoice(item, op, key, checkpoint is not None and key in checkpoint)
    if model.kind_of(op) is NodeKind.CONSTANT:
        return GraphChoice(item, op, constant=model.nodes[op].name)
    return GraphChoice(item, op)


def item_of_key(model: GraphModel, link: VariableLink, key: str | None) -> int | None:
    """The item drawn for checkpoint key `key` (its variable's scope); None if none is."""
    op = link.op_of_key.get(key) if key is not None else None
    return None if op is None else model.representative(op)


class GraphConstants(Mapping[str, TensorInfo]):
    """The Const nodes of a graph as a read-only tensor source (`read` like a Checkpoint's).

    Listing and describing a constant decode nothing; `read` decodes it and keeps the most
    recent ones up to KEPT_BYTES of memory (one larger than that is kept alone).
    """

    def __init__(self, graph: GraphFile, kept_bytes: int = KEPT_BYTES) -> None:
        self.graph = graph
        self.prefix = graph.path
        self._names = [node.name for node in graph.nodes if node.op == "Const"]
        self._infos: dict[str, TensorInfo] = {}
        self._arrays: OrderedDict[str, np.ndarray] = OrderedDict()  # least recently read first
        self._kept_bytes = kept_bytes

    def __getitem__(self, name: str) -> TensorInfo:
        info = self._infos.get(name)
        if info is None:
            # raises CheckpointError for a non-Const name or a constant that cannot be decoded
            dtype, shape, stored = self.graph.constant_type(name)
            info = TensorInfo(
                name=name,
                dtype=dtype,
                shape=shape,
                nbytes=math.prod(shape) * dtype.itemsize if dtype.is_fixed_size else stored,
                shard=None,
                kind=TensorKind.VARIABLE,
                readable_name=name,
            )
            self._infos[name] = info
        return info

    def __iter__(self) -> Iterator[str]:
        return iter(self._names)

    def __len__(self) -> int:
        return len(self._names)

    def __contains__(self, name: object) -> bool:
        node = self.graph.node_by_name.get(name) if isinstance(name, str) else None
        return node is not None and node.op == "Const" and node.function is None

    def read(self, name: str, index: tuple | None = None) -> np.ndarray:
        array = self._arrays.get(name)
        if array is None:
            array = self.graph.constant(name)
            array.flags.writeable = False
            self._keep(name, array)
        else:
            self._arrays.move_to_end(name)
        return array if index is None else array[index]

    def held_bytes(self) -> int:
        """Memory held by the decoded constants kept."""
        return sum(_held_bytes(array) for array in self._arrays.values())

    def _keep(self, name: str, array: np.ndarray) -> None:
        size = _held_bytes(array)
        held = self.held_bytes()
        while self._arrays and held + size > self._kept_bytes:
            _name, dropped = self._arrays.popitem(last=False)
            held -= _held_bytes(dropped)
        self._arrays[name] = array


def _held_bytes(array: np.ndarray) -> int:
    """The memory an array holds: a broadcast view (a splat) holds one element."""
    if 0 in array.strides and array.size > 1:
        return array.itemsize
    return int(array.nbytes)
