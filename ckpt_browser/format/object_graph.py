"""The object graph of a TF2 checkpoint: which object each key belongs to, and what it is.

A TF2 (object-based) checkpoint stores, under `_CHECKPOINTABLE_OBJECT_GRAPH`, a serialized
TrackableObjectGraph: node 0 is the object passed to `tf.train.Checkpoint`, children are named
attributes (`model`, `layer_with_weights-0`, `kernel`), and every saved tensor is an attribute of
a node with its checkpoint key (docs/checkpoint-format.md, section 7). From it this module derives
what the key alone does not say well:

- a readable name per key: the object path from the root, local names joined by "/"
  (`model/layer_with_weights-0/kernel`). An attribute other than VARIABLE_VALUE gets its name
  appended (`table/-table`). An optimizer slot reads `<variable> (<optimizer> <slot>)`, e.g.
  `model/dense/kernel (optimizer m)`.
- which keys are optimizer state, which optimizer slot belongs to which variable, and which keys
  are counters (`save_counter`, the optimizer's iteration count, a root `step`/`global_step`).

Two optimizer layouts exist. TF1-style optimizers (`tf.compat.v1.train.*`, tf_keras) list slots in
the optimizer node's `slot_variables`, and their keys contain `/.OPTIMIZER_SLOT/`. Keras 3 keeps
slots as ordinary children: lists such as `_momentums` and `_velocities` whose element `i` belongs
to element `i` of the optimizer's `_trainable_variables` list; the model's own variables also sit
in that list, so the model path is preferred when a variable can be reached both ways.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass

from google.protobuf.message import DecodeError

from ckpt_browser.format import protos
from ckpt_browser.format.errors import CheckpointError
from ckpt_browser.format.names import name_of_key

VARIABLE_VALUE = "VARIABLE_VALUE"

# Children that mark an object as an optimizer (besides having slot_variables).
_KERAS3_OPTIMIZER_CHILDREN = {"_iterations", "_variables"}
_KERAS2_OPTIMIZER_CHILDREN = {"iter"}
_ITERATION_CHILDREN = {"iter", "iterations", "_iterations"}
# Keras 3 optimizer lists that are not per-variable slots.
_KERAS3_NON_SLOT_LISTS = {"_variables", "_trainable_variables", "_trainable_variables_indices"}
_TRAINABLE_LIST = "_trainable_variables"
_ROOT_COUNTERS = {"save_counter", "step", "global_step"}


def escape_local_name(name: str) -> str:
    """A local name as it appears inside a checkpoint key (TensorFlow's escaping)."""
    return name.replace(".", "..").replace("/", ".S")


@dataclass(frozen=True)
class ObjectAttribute:
    """One tensor saved for an object: `VARIABLE_VALUE` for a variable."""

    name: str
    full_name: str  # the variable's own name when TensorFlow stored one (`dense/kernel`)
    checkpoint_key: str  # the name of the key (see `names`)


@dataclass(frozen=True)
class SlotReference:
    """An optimizer slot: node `slot_node` is slot `slot_name` of variable node `original_node`."""

    original_node: int
    slot_name: str
    slot_node: int


@dataclass(frozen=True)
class ObjectNode:
    """One object of the graph, with its named children as (local name, node id) pairs."""

    id: int
    children: tuple[tuple[str, int], ...]
    attributes: tuple[ObjectAttribute, ...]
    slot_variables: tuple[SlotReference, ...]
    path: str | None  # readable path ("" for the root); None if nothing leads to the node


class ObjectGraph:
    """The parsed object graph plus the per-key facts derived from it (see the module text)."""

    def __init__(self, nodes: list[ObjectNode]) -> None:
        self.nodes = nodes
        self.key_nodes: dict[str, int] = {
            attribute.checkpoint_key: node.id for node in nodes for attribute in node.attributes
        }
        self.full_names: dict[str, str] = {
            attribute.checkpoint_key: attribute.full_name
            for node in nodes
            for attribute in node.attributes
            if attribute.full_name
        }
        self.optimizer_nodes: set[int] = {node.id for node in nodes if _is_optimizer(node)}
        # (slot node, original node, optimizer node, slot name) from both layouts.
        self._slots = _tf1_slots(nodes) + _keras3_slots(nodes, self.optimizer_nodes)
        self._set_paths()
        self.readable_names: dict[str, str] = {
            attribute.checkpoint_key: _readable(node, attribute)
            for node in self.nodes
            for attribute in node.attributes
        }
        self.slot_of: dict[str, tuple[str, str]] = {}
        for slot, original, _optimizer, slot_name in self._slots:
            slot_key, original_key = self._value_key(slot), self._value_key(original)
            if slot_key and original_key:
                self.slot_of[slot_key] = (original_key, slot_name)
        self.optimizer_keys: set[str] = self._keys_of(self._optimizer_owned()) | set(self.slot_of)
        self.counter_keys: set[str] = self._keys_of(self._counter_nodes())

    @classmethod
    def parse(cls, data: bytes) -> ObjectGraph:
        """Parse the bytes stored under `_CHECKPOINTABLE_OBJECT_GRAPH`."""
        try:
            proto = protos.TrackableObjectGraph.FromString(bytes(data))
        except (DecodeError, TypeError, ValueError) as exc:
            raise CheckpointError(f"the object graph does not parse ({exc})") from None
        if not proto.nodes:
            raise CheckpointError("the object graph has no objects")
        count = len(proto.nodes)
        nodes = []
        for node_id, node in enumerate(proto.nodes):
            children = tuple((ref.local_name, ref.node_id) for ref in node.children)
            slots = tuple(
                SlotReference(
                    ref.original_variable_node_id, ref.slot_name, ref.slot_variable_node_id
                )
                for ref in node.slot_variables
            )
            referenced = [child for _, child in children]
            referenced += [i for s in slots for i in (s.original_node, s.slot_node)]
            if any(not 0 <= i < count for i in referenced):
                raise CheckpointError(
                    f"the object graph is inconsistent: object {node_id} refers to an object "
                    f"outside 0..{count - 1}"
                )
            # Keys by the names the checkpoint lists them under (the same text for every key
            # but those with a backslash or a character that does not print).
            attributes = tuple(
                ObjectAttribute(a.name, a.full_name, name_of_key(a.checkpoint_key.encode()))
                for a in node.attributes
            )
            nodes.append(ObjectNode(node_id, children, attributes, slots, path=None))
        return cls(nodes)

    def children_of(self, node_id: int) -> list[ObjectNode]:
        return [self.nodes[child] for _, child in self.nodes[node_id].children]

    def _value_key(self, node_id: int) -> str | None:
        for attribute in self.nodes[node_id].attributes:
            if attribute.name == VARIABLE_VALUE:
                return attribute.checkpoint_key
        return None

    def _keys_of(self, node_ids: Iterable[int]) -> set[str]:
        return {a.checkpoint_key for i in node_ids for a in self.nodes[i].attributes}

    def _set_paths(self) -> None:
        """Give every node its readable path: breadth first, model before optimizer."""
        paths: list[str | None] = [None] * len(self.nodes)
        paths[0] = ""
        # First everything reachable without entering an optimizer, then the optimizers' insides,
        # so a Keras 3 weight is `model/.../kernel`, not `optimizer/_trainable_variables/0`.
        deferred = _breadth_first(self.nodes, [0], paths, stop_at=self.optimizer_nodes)
        _breadth_first(self.nodes, deferred, paths, stop_at=set())
        for slot, original, optimizer, slot_name in self._slots:
            if paths[original] is not None:
                owner = paths[optimizer] or "optimizer"
                paths[slot] = f"{paths[original]} ({owner} {slot_name})"
        self.nodes = [
            ObjectNode(n.id, n.children, n.attributes, n.slot_variables, paths[n.id])
            for n in self.nodes
        ]

    def _optimizer_owned(self) -> set[int]:
        """Nodes that only optimizers lead to (the model's variables in a Keras 3 list excepted)."""
        free = {0}
        queue = deque([0])
        while queue:
            node_id = queue.popleft()
            for local_name, child in self.nodes[node_id].children:
                if node_id in self.optimizer_nodes and local_name != _TRAINABLE_LIST:
                    continue
                if child not in free:
                    free.add(child)
                    queue.append(child)
        return {node.id for node in self.nodes} - free

    def _counter_nodes(self) -> set[int]:
        counters = {child for name, child in self.nodes[0].children if name in _ROOT_COUNTERS}
        for optimizer in self.optimizer_nodes:
            counters |= {
                child
                for name, child in self.nodes[optimizer].children
                if name in _ITERATION_CHILDREN
            }
        return counters


def _breadth_first(
    nodes: list[ObjectNode], start: list[int], paths: list[str | None], stop_at: set[int]
) -> list[int]:
    """Fill `paths` outward from `start`; return the nodes of `stop_at` reached but not entered."""
    queue = deque(start)
    stopped = []
    while queue:
        node_id = queue.popleft()
        if node_id in stop_at:
            stopped.append(node_id)
            continue
        for local_name, child in nodes[node_id].children:
            if paths[child] is None:
                parent = paths[node_id]
                paths[child] = f"{parent}/{local_name}" if parent else local_name
                queue.append(child)
    return stopped


def _readable(node: ObjectNode, attribute: ObjectAttribute) -> str:
    if node.path is None:  # not reachable: fall back to the key without its attribute suffix
        return attribute.checkpoint_key.partition("/.ATTRIBUTES/")[0]
    if attribute.name == VARIABLE_VALUE:
        return node.path or attribute.name
    return f"{node.path}/{attribute.name}" if node.path else attribute.name


def _child_names(node: ObjectNode) -> set[str]:
    return {name for name, _ in node.children}


def _is_optimizer(node: ObjectNode) -> bool:
    names = _child_names(node)
    return bool(
        node.slot_variables
        or names >= _KERAS3_OPTIMIZER_CHILDREN
        or (names >= _KERAS2_OPTIMIZER_CHILDREN and names & {"learning_rate", "decay"})
    )


def _tf1_slots(nodes: list[ObjectNode]) -> list[tuple[int, int, int, str]]:
    return [
        (ref.slot_node, ref.original_node, node.id, ref.slot_name)
        for node in nodes
        for ref in node.slot_variables
    ]


def _keras3_slots(nodes: list[ObjectNode], optimizers: set[int]) -> list[tuple[int, int, int, str]]:
    """Slots of Keras 3 optimizers: element k of a per-variable list is a slot of variable k."""
    slots = []
    for optimizer in sorted(optimizers):
        children = dict(nodes[optimizer].children)
        if _TRAINABLE_LIST not in children:
            continue
        trainable = dict(nodes[children[_TRAINABLE_LIST]].children)
        for list_name, list_node in nodes[optimizer].children:
            elements = nodes[list_node].children
            if list_name in _KERAS3_NON_SLOT_LISTS or not elements:
                continue
            if not all(index in trainable and nodes[i].attributes for index, i in elements):
                continue  # not a per-variable list (a scalar hyperparameter, a dict, ...)
            for index, slot in elements:
                original = trainable[index]
                name = _keras3_slot_name(nodes[slot], nodes[original], list_name)
                slots.append((slot, original, optimizer, name))
    return slots


def _keras3_slot_name(slot: ObjectNode, original: ObjectNode, list_name: str) -> str:
    """`momentum` from the slot's name `adam/<variable path with _>_momentum`, else the list's."""
    slot_name = slot.attributes[0].full_name.rpartition("/")[2]
    if original.attributes and original.attributes[0].full_name:
        prefix = original.attributes[0].full_name.replace("/", "_") + "_"
        if slot_name.startswith(prefix) and len(slot_name) > len(prefix):
            return slot_name[len(prefix) :]
    return list_name.lstrip("_")


def saved_variable_keys(saved_object_graph) -> dict[int, str]:
    """The checkpoint key of each variable of a SavedModel's object graph, by node id.

    A SavedModel's object graph mirrors the one in its `variables/` checkpoint but does not store
    keys; TensorFlow names a variable by its first path in breadth-first order, local names
    escaped, and a slot by `<variable>/.OPTIMIZER_SLOT/<optimizer>/<slot>`.
    """
    objects = saved_object_graph.nodes
    if not objects:
        return {}
    paths: dict[int, str] = {0: ""}
    queue = deque([0])
    while queue:
        node_id = queue.popleft()
        for ref in objects[node_id].children:
            if ref.node_id not in paths and 0 <= ref.node_id < len(objects):
                parent = paths[node_id]
                local = escape_local_name(ref.local_name)
                paths[ref.node_id] = f"{parent}/{local}" if parent else local
                queue.append(ref.node_id)
    for node_id, obj in enumerate(objects):
        for ref in obj.slot_variables:
            if ref.original_variable_node_id in paths and node_id in paths:
                paths.setdefault(
                    ref.slot_variable_node_id,
                    f"{paths[ref.original_variable_node_id]}/.OPTIMIZER_SLOT/{paths[node_id]}/"
                    f"{escape_local_name(ref.slot_name)}",
                )
    return {
        node_id: f"{path}/.ATTRIBUTES/{VARIABLE_VALUE}"
        for node_id, path in sorted(paths.items())
        if 0 <= node_id < len(objects) and objects[node_id].WhichOneof("kind") == "variable"
    }
