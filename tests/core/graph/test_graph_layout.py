"""The layered layout and the nested scene: no overlaps, edges down, boxes hold their children."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ckpt_browser.core.graph.layout import LayoutCancelled, layered_layout
from ckpt_browser.core.graph.model import GraphModel
from ckpt_browser.core.graph.view import SceneBuilder, ViewState
from ckpt_browser.format.graph.reader import load_graph

GAP = 16.0


def assert_no_overlap(layout, widths: np.ndarray) -> None:
    for layer in np.unique(layout.layers):
        members = np.flatnonzero(layout.layers == layer)
        order = members[np.argsort(layout.x[members])]
        left = layout.x[order] - widths[order] / 2
        right = layout.x[order] + widths[order] / 2
        assert (left[1:] >= right[:-1] + GAP - 1e-6).all()


@st.composite
def graphs(draw):
    n = draw(st.integers(1, 60))
    pairs = st.tuples(st.integers(0, n - 1), st.integers(0, n - 1))
    edges = draw(st.lists(pairs, max_size=3 * n))
    widths = draw(st.lists(st.floats(10, 200), min_size=n, max_size=n))
    return n, np.array(edges, dtype=np.int64).reshape(-1, 2), np.array(widths)


@settings(max_examples=60, deadline=None)
@given(graphs())
def test_any_graph_gets_a_layout_without_overlaps(graph):
    n, edges, widths = graph
    heights = np.full(n, 30.0)
    layout = layered_layout(widths, heights, edges, h_gap=GAP)
    assert len(layout.x) == n and np.isfinite(layout.x).all() and np.isfinite(layout.y).all()
    assert_no_overlap(layout, widths)
    assert len(layout.edge_points) == len(edges)
    assert ((layout.x - widths / 2) >= -1e-6).all() and layout.width > 0
    for (source, target), points in zip(edges.tolist(), layout.edge_points):
        if source == target:
            continue
        # Each edge runs from its source's border to its target's border.
        assert abs(points[0][0] - layout.x[source]) < 1e-6
        assert abs(points[-1][0] - layout.x[target]) < 1e-6


@settings(max_examples=40, deadline=None)
@given(st.integers(2, 80), st.randoms(use_true_random=False))
def test_acyclic_edges_point_down(n, random):
    edges = [(a, b) for b in range(1, n) for a in random.sample(range(b), min(b, 2))]
    layout = layered_layout(np.full(n, 50.0), np.full(n, 20.0), np.array(edges))
    for source, target in edges:
        assert layout.layers[target] > layout.layers[source]
        assert layout.y[target] > layout.y[source]


def test_sources_sit_just_above_their_consumer():
    # A chain 0 -> 1 -> 2 -> 3 and a constant 4 read only by 3.
    edges = np.array([(0, 1), (1, 2), (2, 3), (4, 3)])
    layout = layered_layout(np.full(5, 40.0), np.full(5, 20.0), edges)
    assert layout.layers.tolist() == [0, 1, 2, 3, 2]


def test_layout_can_be_cancelled():
    edges = np.array([(i, i + 1) for i in range(200)])
    with pytest.raises(LayoutCancelled):
        layered_layout(np.full(201, 40.0), np.full(201, 20.0), edges, cancelled=lambda: True)


def test_empty_graph():
    layout = layered_layout(np.zeros(0), np.zeros(0), np.zeros((0, 2)))
    assert layout.width == 0 and len(layout.x) == 0


@pytest.fixture(scope="module")
def training_model(tf1_training_dir) -> GraphModel:
    return GraphModel(load_graph(tf1_training_dir.prefix + ".meta"))


def test_expanded_boxes_hold_their_children(training_model):
    model = training_model
    builder = SceneBuilder(model)
    collapsed = builder.build(ViewState())
    top_level = {placed.item for placed in collapsed.items}
    assert top_level == set(model.items[model.root].children)
    net = next(i for i, item in enumerate(model.items) if item.name == "net")
    gradients = next(i for i, item in enumerate(model.items) if item.name == "gradients")
    scene = builder.build(ViewState(frozenset({net, gradients})))
    for placed in scene.items:
        parent = model.items[placed.item].parent
        if parent == model.root:
            continue
        box = scene.placed(parent)
        assert box is not None and box.expanded
        assert box.x <= placed.x and placed.x + placed.width <= box.x + box.width + 1e-6
        assert box.y <= placed.y and placed.y + placed.height <= box.y + box.height + 1e-6
    assert len(scene.items) == len(collapsed.items) + len(model.items[net].children) + len(
        model.items[gradients].children
    )
    # Laying out the same state again reuses every box.
    again = builder.build(ViewState(frozenset({net, gradients})))
    assert [p.item for p in again.items] == [p.item for p in scene.items]


def test_hiding_plumbing_removes_its_items(training_model):
    model = training_model
    builder = SceneBuilder(model)
    shown = builder.build(ViewState(hide_plumbing=False))
    hidden = builder.build(ViewState(hide_plumbing=True))
    labels = {model.items[p.item].label for p in hidden.items}
    assert "save" in {model.items[p.item].label for p in shown.items}
    assert "save" not in labels and "init" not in labels
    assert len(hidden.items) < len(shown.items)
