"""The graph panel's model: name scopes as nested groups, folded series, edges, search, tracing.

A graph of tens of thousands of nodes is shown the way TensorBoard shows it: name scopes become
groups ("meta-nodes") that are drawn collapsed until the user expands them, and a run of numbered
siblings (`layer_0` .. `layer_11`, `Assign_1` .. `Assign_90` of one op) folds into one series.
Library functions (the body of a SavedModel) sit in one `functions` group, a group per function.

Every item of the hierarchy (op, group, series) covers a contiguous range of ops in depth-first
order, so "which visible item holds op i" and "the edges between the children of one group" are
numpy range queries, not walks over the tree. Edges are kept once, in arrays sorted by target.
"""

from __future__ import annotations

import fnmatch
import functools
import re
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from enum import Enum

import numpy as np

from ckpt_browser.core.graph.kinds import NodeKind, classify
from ckpt_browser.core.graph.layout import concatenated_ranges
from ckpt_browser.format.gc_pause import gc_paused
from ckpt_browser.format.graph.reader import GraphFile, GraphNode

SERIES_MIN = 5  # at least this many numbered siblings fold into a series
LIBRARY_NAME = "[functions]"  # brackets cannot occur in a TensorFlow node name
_NUMBERED = re.compile(r"^(?P<base>.*?\D)(?P<number>\d+)$")
_DIGITS = re.compile(r"(\d+)")
KIND_CODES = list(NodeKind)
_NO_CHILDREN: list[int] = []  # shared by every op item, which never has children


class ItemKind(str, Enum):
    OP = "op"
    GROUP = "group"  # a name scope
    SERIES = "series"  # numbered siblings folded into one
    FUNCTION = "function"  # a library function's body
    LIBRARY = "library"  # the group of all library functions


@dataclass(slots=True)
class Item:
    """One node of the hierarchy; `start`/`end` is the range of ops it covers (depth-first)."""

    kind: ItemKind
    name: str  # ops: the node name; groups: the scope path; series: path with the number range
    label: str  # what the drawing shows
    parent: int
    start: int = 0
    end: int = 0
    children: list[int] = field(default_factory=list)
    op: int = -1  # for an op item: its index in depth-first order

    @property
    def is_container(self) -> bool:
        return self.kind is not ItemKind.OP

    @property
    def size(self) -> int:
        return self.end - self.start


@dataclass(frozen=True)
class Level:
    """The children of one expanded item and the edges among them (indices into `children`)."""

    container: int
    children: np.ndarray  # item ids, in drawing order
    edges: np.ndarray  # (k, 2) child positions
    edge_counts: np.ndarray  # how many graph edges each drawn edge stands for
    edge_control: np.ndarray  # True when every one of them is a control dependency
    fed_from_outside: np.ndarray  # per child: an input comes from outside the container
    feeds_outside: np.ndarray  # per child: an output goes outside the container


class _Scope:
    __slots__ = ("ops", "scopes")

    def __init__(self) -> None:
        self.scopes: dict[str, _Scope] = {}
        self.ops: list[tuple[str, int]] = []  # (last name part, node position)


class GraphModel:
    """Hierarchy, kinds and edges of one loaded graph; plain data, safe to read from any thread."""

    def __init__(self, graph: GraphFile) -> None:
        # Tens of thousands of small objects: without the cyclic collector walking them again and
        # again, the build is faster and never holds the interpreter lock for long.
        with gc_paused():
            self._build(graph)

    def _build(self, graph: GraphFile) -> None:
        self.graph = graph
        nodes = list(graph.nodes)
        for function in graph.functions.values():
            nodes.extend(function.nodes)
        self.items: list[Item] = []
        self.nodes: list[GraphNode] = []  # in depth-first order
        self._build_items(nodes)
        self.index_of_name = {node.name: index for index, node in enumerate(self.nodes)}
        kinds = classify(graph, self.nodes)
        self.kinds = np.array([KIND_CODES.index(kind) for kind in kinds], dtype=np.int8)
        self.item_of_op = np.zeros(len(self.nodes), dtype=np.int64)
        for item_id, item in enumerate(self.items):
            if item.kind is ItemKind.OP:
                self.item_of_op[item.op] = item_id
        self._build_edges()
        visible = self.kinds != KIND_CODES.index(NodeKind.PLUMBING)
        self._visible_before = np.concatenate([[0], np.cumsum(visible)])
        self.visible_ops = visible

    # -- sizes ----------------------------------------------------------------------------------

    @property
    def root(self) -> int:
        return 0

    @property
    def node_count(self) -> int:
        return len(self.nodes)

    @property
    def top_level_node_count(self) -> int:
        return len(self.graph.nodes)

    @property
    def edge_count(self) -> int:
        """Data plus control inputs of every node, as the GraphDef lists them."""
        return self.data_edge_count + self.control_edge_count

    def kind_of(self, op: int) -> NodeKind:
        return KIND_CODES[self.kinds[op]]

    def shown_size(self, item: int, hide_plumbing: bool) -> int:
        """How many ops of `item` are drawn (plumbing excluded when hidden)."""
        entry = self.items[item]
        if not hide_plumbing:
            return entry.size
        return int(self._visible_before[entry.end] - self._visible_before[entry.start])

    # -- building -------------------------------------------------------------------------------

    def _build_items(self, nodes: list[GraphNode]) -> None:
        top, library = _Scope(), _Scope()
        for position, node in enumerate(nodes):
            scope = library if node.function is not None else top
            *path, leaf = node.name.split("/")
            for part in path:
                child = scope.scopes.get(part)
                if child is None:
                    child = scope.scopes[part] = _Scope()
                scope = child
            scope.ops.append((leaf, position))
        self.items.append(Item(ItemKind.GROUP, "", "graph", parent=-1))
        self._fill(0, top, "", nodes, own_op=None)
        if library.scopes:
            library_id = self._new_item(ItemKind.LIBRARY, LIBRARY_NAME, "functions", 0)
            for name in sorted(library.scopes, key=_natural_key):
                function_id = self._new_item(ItemKind.FUNCTION, name, name, library_id)
                self._fill(function_id, library.scopes[name], name + "/", nodes, own_op=None)
                self._close(function_id)
            self._close(library_id)
        self._close(0)

    def _new_item(self, kind: ItemKind, name: str, label: str, parent: int) -> int:
        item_id = len(self.items)
        self.items.append(Item(kind, name, label, parent, start=len(self.nodes)))
        self.items[parent].children.append(item_id)
        return item_id

    def _close(self, item_id: int) -> None:
        self.items[item_id].end = len(self.nodes)

    def _add_op(self, parent: int, leaf: str, position: int, nodes: list[GraphNode]) -> None:
        node = nodes[position]
        op = len(self.nodes)
        items = self.items
        items[parent].children.append(len(items))
        items.append(Item(ItemKind.OP, node.name, leaf, parent, op, op + 1, _NO_CHILDREN, op))
        self.nodes.append(node)

    def _fill(self, item_id: int, scope: _Scope, prefix: str, nodes, own_op) -> None:
        """Create the items under group `item_id` from `scope`, depth first.

        Scopes nest as deep as a node name has parts (a hostile name has thousands), so the
        groups still open are kept on a list, not on Python's call stack.
        """
        open_groups = [(item_id, self._children(item_id, scope, prefix, nodes, own_op))]
        while open_groups:
            group_id, children = open_groups[-1]
            inner = next(children, None)
            if inner is None:
                open_groups.pop()
                if len(open_groups):  # the caller closes the outermost group itself
                    self._close(group_id)
                continue
            inner_id, inner_scope, inner_prefix, inner_own = inner
            children = self._children(inner_id, inner_scope, inner_prefix, nodes, inner_own)
            open_groups.append((inner_id, children))

    def _children(self, item_id: int, scope: _Scope, prefix: str, nodes, own_op) -> Iterator:
        """Create the children of group `item_id`; yield each child group to be filled (the
        caller fills and closes it before asking for the next)."""
        if own_op is not None:  # an op named like its scope (`kernel` beside `kernel/read`)
            self._add_op(item_id, own_op[0], own_op[1], nodes)
        entries: list[tuple[str, str, object]] = [
            ("group", name, s) for name, s in scope.scopes.items()
        ]
        entries += [
            ("op", leaf, position) for leaf, position in scope.ops if leaf not in scope.scopes
        ]
        own_ops = {leaf: position for leaf, position in scope.ops if leaf in scope.scopes}
        for kind, label, members in _fold_series(entries, nodes):
            if kind == "series":
                series_id = self._new_item(ItemKind.SERIES, prefix + label, label, item_id)
                for member_kind, name, payload in members:
                    yield from self._add_entry(
                        series_id, member_kind, name, payload, prefix, nodes, own_ops
                    )
                self._close(series_id)
            else:
                name, payload = members
                yield from self._add_entry(item_id, kind, name, payload, prefix, nodes, own_ops)

    def _add_entry(self, parent, kind, name, payload, prefix, nodes, own_ops) -> Iterator:
        if kind == "op":
            self._add_op(parent, name, payload, nodes)
            return
        group_id = self._new_item(ItemKind.GROUP, prefix + name, name, parent)
        own = (name, own_ops[name]) if name in own_ops else None
        yield group_id, payload, prefix + name + "/", own

    def _build_edges(self) -> None:
        sources, targets, control = [], [], []
        self.dangling_inputs: list[tuple[str, str]] = []  # (node, input naming no node)
        index_of = self.index_of_name
        total = control_count = 0
        for target, node in enumerate(self.nodes):
            # A top-level node's inputs as the GraphDef writes them (`x:1`, `^y`): reading them
            # raw here is three times faster than through GraphNode, and loading is what waits.
            raw = node.proto.input if node.function is None else node.inputs
            total += len(raw)
            for name in raw:
                is_control = name[:1] == "^"
                source = index_of.get(name[is_control:].partition(":")[0])
                if source is None:
                    self.dangling_inputs.append((node.name, name))
                    control_count += is_control
                    continue
                sources.append(source)
                targets.append(target)
                control.append(is_control)
                control_count += is_control
            if node.function is not None:
                total += len(node.control_inputs)
                for name in node.control_inputs:
                    source = index_of.get(name)
                    control_count += 1
                    if source is None:
                        self.dangling_inputs.append((node.name, "^" + name))
                        continue
                    sources.append(source)
                    targets.append(target)
                    control.append(True)
        self.data_edge_count, self.control_edge_count = total - control_count, control_count
        source_array = np.array(sources, dtype=np.int64)
        target_array = np.array(targets, dtype=np.int64)
        by_target = np.argsort(target_array, kind="stable")
        self.edge_source = source_array[by_target]
        self.edge_target = target_array[by_target]
        self.edge_control = np.array(control, dtype=bool)[by_target]
        count = len(self.nodes)
        self._inputs_at = np.searchsorted(self.edge_target, np.arange(count + 1))
        self._by_source = np.argsort(self.edge_source, kind="stable")
        self._outputs_at = np.searchsorted(self.edge_source[self._by_source], np.arange(count + 1))

    # -- what the view draws ----------------------------------------------------------------------

    def level(
        self, container: int, hide_plumbing: bool, edge_mask: np.ndarray | None = None
    ) -> Level:
        """The children of `container` that have something to draw, and the edges among them.

        `edge_mask` (one flag per edge, in `edge_source` order) keeps only some edges; the view
        uses it to light up a traced path.
        """
        item = self.items[container]
        all_children = np.array(item.children, dtype=np.int64)
        starts = np.array([self.items[c].start for c in item.children], dtype=np.int64)
        if hide_plumbing:
            before = self._visible_before
            ends = np.array([self.items[c].end for c in item.children], dtype=np.int64)
            shown = before[ends] > before[starts]
        else:
            shown = np.ones(len(all_children), dtype=bool)
        position = np.cumsum(shown) - 1  # child index -> index among the shown children
        low, high = item.start, item.end

        first, last = self._inputs_at[low], self._inputs_at[high]
        source = self.edge_source[first:last]
        target = self.edge_target[first:last]
        keep = np.ones(len(source), dtype=bool)
        if edge_mask is not None:
            keep &= edge_mask[first:last]
        if hide_plumbing:
            keep &= self.visible_ops[source] & self.visible_ops[target]
        inside = keep & (source >= low) & (source < high)
        child_of_target = np.searchsorted(starts, target, side="right") - 1
        child_of_source = np.searchsorted(starts, source[inside], side="right") - 1
        a = position[child_of_source]
        b = position[child_of_target[inside]]
        different = a != b
        a, b = a[different], b[different]
        is_control = self.edge_control[first:last][inside][different]
        shown_count = int(shown.sum())
        pair = a * shown_count + b
        unique, inverse, counts = np.unique(pair, return_inverse=True, return_counts=True)
        data_per_pair = np.bincount(inverse, weights=~is_control, minlength=len(unique))
        fed = np.zeros(shown_count, dtype=bool)
        fed[position[child_of_target[keep & ~inside]]] = True
        feeds = np.zeros(shown_count, dtype=bool)
        out_first, out_last = self._outputs_at[low], self._outputs_at[high]
        outgoing = self._by_source[out_first:out_last]
        out_keep = np.ones(len(outgoing), dtype=bool)
        if edge_mask is not None:
            out_keep &= edge_mask[outgoing]
        if hide_plumbing:
            out_keep &= self.visible_ops[self.edge_target[outgoing]]
        leaving = outgoing[out_keep]
        leaving = leaving[(self.edge_target[leaving] < low) | (self.edge_target[leaving] >= high)]
        feeds[position[np.searchsorted(starts, self.edge_source[leaving], side="right") - 1]] = True
        return Level(
            container=container,
            children=all_children[shown],
            edges=np.stack([unique // max(shown_count, 1), unique % max(shown_count, 1)], axis=1),
            edge_counts=counts,
            edge_control=data_per_pair == 0,
            fed_from_outside=fed,
            feeds_outside=feeds,
        )

    # -- navigation -------------------------------------------------------------------------------

    def ancestors(self, item: int) -> list[int]:
        """The containers holding `item`, outermost first (the root left out)."""
        chain = []
        parent = self.items[item].parent
        while parent > 0:
            chain.append(parent)
            parent = self.items[parent].parent
        return chain[::-1]

    def find(self, name: str) -> int | None:
        """The op index of the node called `name` (a tensor name like `x:0` works too)."""
        index = self.index_of_name.get(name)
        if index is None:
            index = self.index_of_name.get(name.lstrip("^").split(":", 1)[0])
        return index

    def representative(self, op: int) -> int:
        """The item that stands for `op`: its own scope when it has one (`kernel` and `kernel/read`
        are drawn as the group `kernel`), else the op itself."""
        item = int(self.item_of_op[op])
        parent = self.items[item].parent
        if parent > 0 and self.items[parent].name == self.nodes[op].name:
            return parent
        return item

    def own_op(self, item: int) -> int | None:
        """For a group named like one of its ops (a variable's scope), that op."""
        entry = self.items[item]
        if entry.kind is not ItemKind.GROUP or not entry.children:
            return None
        first = self.items[entry.children[0]]
        return first.op if first.kind is ItemKind.OP and first.name == entry.name else None

    def search(self, text: str, limit: int = 1000) -> tuple[list[int], int]:
        """Ops whose name contains `text` (case-insensitive; `*` and `?` make it a glob).

        Returns up to `limit` matches, exact last-name matches first, and how many there are.
        """
        text = text.strip()
        if not text:
            return [], 0
        lowered = text.lower()
        if any(char in text for char in "*?["):
            pattern = re.compile(fnmatch.translate(lowered))
            matches = [i for i, n in enumerate(self.nodes) if pattern.match(n.name.lower())]
        else:
            matches = [i for i, n in enumerate(self.nodes) if lowered in n.name.lower()]

        def rank(index: int) -> tuple:
            name = self.nodes[index].name.lower()
            return (name.rsplit("/", 1)[-1] != lowered, name.count("/"), _natural_key(name))

        matches.sort(key=rank)
        return matches[:limit], len(matches)

    # -- one node ---------------------------------------------------------------------------------

    def inputs_of(self, op: int) -> list[tuple[int, bool]]:
        """(source op, is control) for each input of `op` that names a node of the graph."""
        first, last = self._inputs_at[op], self._inputs_at[op + 1]
        return list(
            zip(self.edge_source[first:last].tolist(), self.edge_control[first:last].tolist())
        )

    def outputs_of(self, op: int) -> list[tuple[int, bool]]:
        """(consumer op, is control) for each node that reads `op`."""
        picked = self._by_source[self._outputs_at[op] : self._outputs_at[op + 1]]
        return list(zip(self.edge_target[picked].tolist(), self.edge_control[picked].tolist()))

    def trace_inputs(self, op: int, include_control: bool = True) -> np.ndarray:
        """A mask of the ops that feed `op`, directly or through others (`op` included)."""
        reached = np.zeros(len(self.nodes), dtype=bool)
        reached[op] = True
        frontier = np.array([op], dtype=np.int64)
        while len(frontier):
            starts, ends = self._inputs_at[frontier], self._inputs_at[frontier + 1]
            edges = concatenated_ranges(starts, ends)
            if not include_control:
                edges = edges[~self.edge_control[edges]]
            sources = np.unique(self.edge_source[edges])
            frontier = sources[~reached[sources]]
            reached[frontier] = True
        return reached

    def traced_edges(self, reached: np.ndarray, include_control: bool = True) -> np.ndarray:
        """The edges along a trace: both ends reached (and data edges only, if asked)."""
        mask = reached[self.edge_source] & reached[self.edge_target]
        if not include_control:
            mask &= ~self.edge_control
        return mask

    def items_touched(self, reached: np.ndarray) -> np.ndarray:
        """Per item: whether it holds at least one op of `reached`."""
        before = np.concatenate([[0], np.cumsum(reached)])
        starts = np.fromiter((item.start for item in self.items), np.int64, len(self.items))
        ends = np.fromiter((item.end for item in self.items), np.int64, len(self.items))
        return before[ends] > before[starts]

    def op_counts(self, item: int) -> dict[str, int]:
        """How many ops of each type `item` holds, most frequent first."""
        entry = self.items[item]
        counts: dict[str, int] = defaultdict(int)
        for node in self.nodes[entry.start : entry.end]:
            counts[node.op] += 1
        return dict(sorted(counts.items(), key=lambda pair: (-pair[1], pair[0])))

    def scope_names(self) -> list[str]:
        """Every name scope of the graph (groups, not series or functions), in order."""
        return [item.name for item in self.items[1:] if item.kind is ItemKind.GROUP]


def _fold_series(entries: list[tuple[str, str, object]], nodes: list[GraphNode]) -> list:
    """Sort the children of a scope; runs of numbered siblings of one kind become a series.

    Yields ("series", label, members) or (kind, (name, payload)), in natural name order.
    """
    if len(entries) == 1:
        kind, name, payload = entries[0]
        return [(kind, name, (name, payload))]
    runs: dict[tuple, list] = defaultdict(list)
    for kind, name, payload in entries if len(entries) >= SERIES_MIN else ():
        match = _NUMBERED.match(name) if name[-1:].isdigit() else None
        if match:
            op = nodes[payload].op if kind == "op" else ""
            runs[(kind, match["base"], op)].append((int(match["number"]), kind, name, payload))
    folded: dict[str, tuple] = {}
    result = []
    for (kind, base, _op), members in runs.items():
        if len(members) < SERIES_MIN:
            continue
        members.sort()
        numbers = [number for number, *_ in members]
        contiguous = numbers[-1] - numbers[0] + 1 == len(numbers)
        span = f"{numbers[0]}-{numbers[-1]}" if contiguous else f"{numbers[0]}..{numbers[-1]}"
        label = f"{base}[{span}]"
        for _number, _kind, name, _payload in members:
            folded[name] = (kind, label)
        result.append((label, ("series", label, [m[1:] for m in members])))
    for kind, name, payload in entries:
        if name in folded and folded[name][0] == kind:
            continue
        result.append((name, (kind, name, (name, payload))))
    result.sort(key=lambda pair: _natural_key(pair[0]))
    return [entry for _key, entry in result]


@functools.lru_cache(maxsize=65536)  # the same leaf names (`kernel`, `Shape`) recur in every scope
def _natural_key(name: str) -> str:
    """`layer_2` before `layer_10`: numbers padded to a common width, then compared as text."""
    return _DIGITS.sub(_pad_number, name)


def _pad_number(match: re.Match) -> str:
    return match[0].zfill(12)
