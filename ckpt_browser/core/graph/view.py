"""What the graph panel draws for a given set of expanded items: nested boxes, placed.

The way TensorBoard does it: each expanded item is a box holding a layered layout of its own
children, a collapsed child being a small node and an expanded one a box laid out the same way
inside. Each layout covers one level only (a few dozen children, typically), so expanding a scope
of thousands of nodes costs little, and the boxes already laid out are reused from a cache.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import numpy as np

from ckpt_browser.core.graph.layout import LayoutCancelled, layered_layout
from ckpt_browser.core.graph.model import GraphModel, ItemKind, Level


@dataclass(frozen=True)
class Metrics:
    """Text sizes in scene units; the panel passes its font's, tests use these defaults."""

    char_width: float = 7.0
    line_height: float = 15.0
    padding: float = 8.0
    header: float = 22.0  # the title row of an expanded box
    max_label_chars: int = 30
    min_node_width: float = 60.0
    h_gap: float = 18.0
    v_gap: float = 34.0


@dataclass(frozen=True)
class ViewState:
    expanded: frozenset[int] = frozenset()
    hide_plumbing: bool = False


@dataclass(frozen=True)
class PlacedItem:
    """An item on screen: top-left corner and size in scene units."""

    item: int
    x: float
    y: float
    width: float
    height: float
    expanded: bool
    depth: int  # 0 for the children of the root
    fed_from_outside: bool = False  # an input comes from outside the enclosing box
    feeds_outside: bool = False


@dataclass(frozen=True)
class PlacedEdge:
    container: int
    source: int  # item ids
    target: int
    count: int  # graph edges it stands for
    control: bool  # all of them control dependencies
    points: np.ndarray  # (k, 2) scene coordinates, source to target


@dataclass
class Scene:
    state: ViewState
    items: list[PlacedItem]  # a box comes before the items inside it
    edges: list[PlacedEdge]
    width: float
    height: float
    _by_item: dict[int, PlacedItem] = field(default_factory=dict, repr=False)

    def placed(self, item: int) -> PlacedItem | None:
        if not self._by_item:
            self._by_item = {placed.item: placed for placed in self.items}
        return self._by_item.get(item)


@dataclass(frozen=True)
class _Box:
    """The layout inside one expanded item, relative to its top-left corner."""

    width: float
    height: float
    children: list[tuple[int, float, float, float, float, bool, bool]]  # id x y w h fed feeds
    edges: list[tuple[int, int, int, bool, np.ndarray]]  # source, target, count, control, points
    nested: dict[int, _Box]


class SceneBuilder:
    """Lays out a view state; keeps the boxes it made for the next state (expand, collapse)."""

    def __init__(self, model: GraphModel, metrics: Metrics | None = None) -> None:
        self.model = model
        self.metrics = metrics or Metrics()
        self._cache: dict[tuple, _Box] = {}

    def build(self, state: ViewState, cancelled: Callable[[], bool] | None = None) -> Scene:
        box = self._box(self.model.root, state, cancelled)
        items: list[PlacedItem] = []
        edges: list[PlacedEdge] = []
        self._flatten(box, self.model.root, 0.0, 0.0, 0, items, edges)
        return Scene(state, items, edges, box.width, box.height)

    # -- sizes ------------------------------------------------------------------------------------

    def node_size(self, item: int) -> tuple[float, float]:
        """The size of a collapsed item: two lines of text (name, then op or count)."""
        metrics = self.metrics
        lines = self.node_lines(item, hide_plumbing=False)
        chars = min(max(len(line) for line in lines), metrics.max_label_chars)
        width = max(metrics.min_node_width, chars * metrics.char_width + 2 * metrics.padding)
        return width, 2 * metrics.line_height + metrics.padding

    def node_lines(self, item: int, hide_plumbing: bool) -> tuple[str, str]:
        """The two lines a collapsed item shows: its name and its op (or what it holds)."""
        entry = self.model.items[item]
        if entry.kind is ItemKind.OP:
            return entry.label, self.model.nodes[entry.op].op
        count = self.model.shown_size(item, hide_plumbing)
        if entry.kind is ItemKind.SERIES:
            return entry.label, f"{len(entry.children)} × {count // len(entry.children)}+ nodes"
        return entry.label, f"{count:,} node{'s' if count != 1 else ''}"

    # -- layout -----------------------------------------------------------------------------------

    def _box(self, container: int, state: ViewState, cancelled) -> _Box:
        """The box of `container`, the expanded boxes inside it made first.

        Boxes nest as deep as the scopes expanded (a hostile node name is thousands of scopes
        deep), so the ones to make are found with a list, not by recursion, and made innermost
        first.
        """
        keys = {item: self._key(item, state) for item in (container, *state.expanded)}
        to_make: list[tuple[int, Level]] = []
        pending = [container]
        while pending:
            item = pending.pop()
            if keys[item] in self._cache:
                continue
            level = self.model.level(item, state.hide_plumbing)
            to_make.append((item, level))
            pending.extend(
                child
                for child in level.children.tolist()
                if child in state.expanded and self.model.items[child].is_container
            )
        for item, level in reversed(to_make):
            self._make_box(item, level, state, keys, cancelled)
        return self._cache[keys[container]]

    def _make_box(self, container: int, level: Level, state: ViewState, keys, cancelled) -> None:
        """Lay out `container`'s level; the boxes of its expanded children are in the cache."""
        if cancelled is not None and cancelled():
            raise LayoutCancelled()
        metrics = self.metrics
        widths, heights, nested = [], [], {}
        for child in level.children.tolist():
            if child in state.expanded and self.model.items[child].is_container:
                inner = self._cache[keys[child]]
                nested[child] = inner
                widths.append(inner.width)
                heights.append(inner.height)
            else:
                width, height = self.node_size(child)
                widths.append(width)
                heights.append(height)
        layout = layered_layout(
            np.array(widths),
            np.array(heights),
            level.edges,
            h_gap=metrics.h_gap,
            v_gap=metrics.v_gap,
            cancelled=cancelled,
        )
        top = 0.0 if container == self.model.root else metrics.header
        pad = metrics.padding
        children = []
        for index, child in enumerate(level.children.tolist()):
            width, height = widths[index], heights[index]
            children.append(
                (
                    child,
                    pad + layout.x[index] - width / 2,
                    top + pad + layout.y[index] - height / 2,
                    width,
                    height,
                    bool(level.fed_from_outside[index]),
                    bool(level.feeds_outside[index]),
                )
            )
        edges = []
        for number, (a, b) in enumerate(level.edges.tolist()):
            points = layout.edge_points[number] + np.array((pad, top + pad))
            edges.append(
                (
                    int(level.children[a]),
                    int(level.children[b]),
                    int(level.edge_counts[number]),
                    bool(level.edge_control[number]),
                    points,
                )
            )
        title = self.model.items[container].label
        title_width = min(len(title) + 12, 60) * metrics.char_width if top else 0.0
        box = _Box(
            width=max(layout.width + 2 * pad, title_width),
            height=top + layout.height + 2 * pad,
            children=children,
            edges=edges,
            nested=nested,
        )
        self._cache[keys[container]] = box

    def _key(self, container: int, state: ViewState) -> tuple:
        """What the box of `container` depends on: the items expanded inside it."""
        items = self.model.items
        entry = items[container]
        inside = sorted(
            item
            for item in state.expanded
            if item != container and entry.start <= items[item].start < entry.end
        )
        return container, state.hide_plumbing, tuple(inside)

    def _flatten(self, box: _Box, container, left, top, depth, items, edges) -> None:
        """Place `box`'s items and edges in the scene: a box before what it holds, the edges of
        a level after its items. A list of boxes being placed stands in for recursion."""
        placing = [self._place(box, container, left, top, depth, items, edges)]
        while placing:
            inner = next(placing[-1], None)
            if inner is None:
                placing.pop()
            else:
                placing.append(self._place(*inner, items, edges))

    def _place(self, box: _Box, container, left, top, depth, items, edges) -> Iterator[tuple]:
        """Place `box`'s children; yield each expanded one, to be placed before the next."""
        for child, x, y, width, height, fed, feeds in box.children:
            inner = box.nested.get(child)
            items.append(
                PlacedItem(
                    child, left + x, top + y, width, height, inner is not None, depth, fed, feeds
                )
            )
            if inner is not None:
                yield inner, child, left + x, top + y, depth + 1
        for source, target, count, control, points in box.edges:
            edges.append(
                PlacedEdge(
                    container, source, target, count, control, points + np.array((left, top))
                )
            )


def traced_in_scene(
    model: GraphModel, scene: Scene, op: int
) -> tuple[np.ndarray, set[tuple[int, int]]]:
    """What 'Trace inputs' lights up in `scene`: the items that `op`'s inputs touch, and the
    drawn edges (pairs of items) they flow along, in every level the scene shows."""
    reached = model.trace_inputs(op)
    edge_mask = model.traced_edges(reached)
    pairs: set[tuple[int, int]] = set()
    for container in [model.root, *scene.state.expanded]:
        if container != model.root and scene.placed(container) is None:
            continue
        level = model.level(container, scene.state.hide_plumbing, edge_mask)
        children = level.children
        pairs.update((int(children[a]), int(children[b])) for a, b in level.edges.tolist())
    return model.items_touched(reached), pairs
