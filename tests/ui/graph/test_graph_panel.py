"""The graph panel driven like a user would: load, expand, hide plumbing, search, link, export."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PySide6.QtGui import QImage

from ckpt_browser.ui.graph.panel import GraphPanel

DEMO_META = Path(__file__).resolve().parents[3] / "resources" / "demo" / "model.ckpt-300.meta"


@pytest.fixture
def panel(qtbot):
    widget = GraphPanel()
    qtbot.addWidget(widget)
    widget.resize(900, 700)
    widget.show()
    yield widget
    widget.shutdown()


def wait_for(qtbot, panel: GraphPanel) -> None:
    qtbot.waitUntil(lambda: not panel.busy and panel.model is not None, timeout=30_000)


def drawn_labels(panel: GraphPanel) -> set[str]:
    return {panel.model.items[item].label for item in panel.canvas.node_items()}


def test_loads_collapsed_then_expands_and_collapses_on_double_click(qtbot, panel):
    panel.set_graph(str(DEMO_META))
    wait_for(qtbot, panel)
    model = panel.model
    assert drawn_labels(panel) >= {"conv1", "bn1", "gradients", "Adam"}
    assert "kernel" not in drawn_labels(panel)  # inside conv1, collapsed
    conv1 = next(i for i in panel.canvas.node_items() if model.items[i].label == "conv1")
    panel.canvas.item_activated.emit(conv1)  # what a double-click sends
    wait_for(qtbot, panel)
    assert conv1 in panel.state.expanded
    assert {"kernel", "bias"} <= drawn_labels(panel)
    assert panel.canvas.node_items()[conv1].placed.expanded
    panel.canvas.item_activated.emit(conv1)
    wait_for(qtbot, panel)
    assert "kernel" not in drawn_labels(panel)
    assert "model.ckpt-300.meta" in panel.summary.text()


def test_hidden_plumbing_is_hidden_and_can_be_shown(qtbot, panel):
    panel.set_graph(str(DEMO_META))
    wait_for(qtbot, panel)
    assert panel.hide_plumbing_action.isChecked()
    assert "save" not in drawn_labels(panel)
    panel.hide_plumbing_action.trigger()
    wait_for(qtbot, panel)
    assert "save" in drawn_labels(panel)
    # Data and control edges are told apart in the drawing.
    styles = {edge.edge.control for edge in panel.canvas.edge_items()}
    assert styles == {True, False}


def test_search_lists_nodes_and_selecting_one_reveals_it(qtbot, panel):
    panel.set_graph(str(DEMO_META))
    wait_for(qtbot, panel)
    panel.search_edit.setText("bn2/gamma")
    names = panel.run_search()
    assert names and all("bn2/gamma" in name for name in names)
    assert names[0] == "bn2/gamma"
    panel.results.setCurrentRow(0)
    wait_for(qtbot, panel)
    item = panel.selected_item()
    assert item is not None and panel.model.items[item].name == "bn2/gamma"
    assert panel.properties.rows()["name"] == "bn2/gamma"
    assert panel.properties.rows()["op"] == "VarHandleOp"


def test_trace_inputs_lights_up_what_feeds_a_node(qtbot, panel):
    panel.set_graph(str(DEMO_META))
    wait_for(qtbot, panel)
    assert panel.select_node("Conv2D_1")
    wait_for(qtbot, panel)
    reached = panel.trace_inputs()
    model = panel.model
    traced = {model.nodes[op].name for op in np.flatnonzero(reached)}
    assert {"Conv2D_1", "Conv2D_1/ReadVariableOp", "conv2/kernel", "images"} <= traced
    drawn = panel.canvas.node_items()
    lit = {model.items[i].label for i, node in drawn.items() if not node.dimmed}
    assert "conv1" in lit and "logits" not in lit  # logits comes after Conv2D_1
    assert any(
        edge.pen().color().name() != edge.base_pen.color().name()
        for edge in panel.canvas.edge_items()
    )


def test_export_png_and_svg(qtbot, panel, tmp_path):
    panel.set_graph(str(DEMO_META))
    wait_for(qtbot, panel)
    assert panel.export_png(str(tmp_path / "view.png"))
    image = QImage(str(tmp_path / "view.png"))
    assert not image.isNull() and image.width() > 100
    assert (
        len(
            {
                image.pixel(x, y)
                for x in range(0, image.width(), 7)
                for y in range(0, image.height(), 7)
            }
        )
        > 3
    )
    assert panel.export_svg(str(tmp_path / "view.svg"))
    svg = (tmp_path / "view.svg").read_text()
    assert "<svg" in svg and "<text" in svg


def test_tree_and_graph_select_each_other(qtbot, window, wait_idle, tf1_training_dir):
    window.resize(1700, 900)  # wide enough for the graph to open beside the tree by itself
    assert window.open_path(str(tf1_training_dir.directory))
    dock = window.graph_dock
    assert dock.isVisible()
    qtbot.waitUntil(lambda: dock.panel.model is not None and window.is_idle(), timeout=30_000)
    panel = dock.panel
    model = panel.model

    assert window.tree.select_key("net/layer_2/kernel")
    qtbot.waitUntil(lambda: panel.selected_item() is not None and not panel.busy, timeout=30_000)
    item = panel.selected_item()
    assert model.items[item].name == "net/layer_2/kernel"
    assert model.nodes[model.own_op(item)].op in ("VarHandleOp", "VariableV2")

    other = model.representative(model.find("net/layer_10/bias"))
    panel.reveal(other)
    qtbot.waitUntil(lambda: panel.selected_item() == other, timeout=30_000)
    panel.canvas.select_item(None)
    panel.canvas.node_items()[other].setSelected(True)  # a click in the drawing
    qtbot.waitUntil(lambda: window.tree.selected_key() == "net/layer_10/bias", timeout=10_000)
    wait_idle(window)
    assert window.tensor_view.key == "net/layer_10/bias"
    rows = panel.variables.statuses()
    assert rows["net/layer_10/bias"] == "in both"


def test_frozen_graph_opens_alone_and_its_constants_open_in_the_tensor_view(
    qtbot, window, wait_idle, frozen_pb
):
    assert window.open_path(str(frozen_pb.path))
    panel = window.graph_dock.panel
    qtbot.waitUntil(lambda: panel.model is not None and not panel.busy, timeout=30_000)
    assert window.graph_dock.isVisible()
    name = "hidden/kernel"
    item = panel.model.representative(panel.model.find(name))
    panel.reveal(item)
    qtbot.waitUntil(lambda: panel.selected_item() == item, timeout=30_000)
    panel.canvas.select_item(None)
    panel.canvas.node_items()[item].setSelected(True)
    wait_idle(window)
    assert window.tensor_view.key == name
    constant = frozen_pb.constants[name]
    np.testing.assert_array_equal(window.tensor_view.values.data.table, constant)
    stats = window.tensor_view.analysis.stats
    assert stats.count == constant.size and stats.max == constant.max()


def test_variables_the_checkpoint_lacks_are_marked(qtbot, panel, tf1_training_dir):
    from ckpt_browser.format import open_checkpoint

    panel.set_graph(tf1_training_dir.prefix + ".meta")
    wait_for(qtbot, panel)
    with open_checkpoint(tf1_training_dir.prefix) as checkpoint:
        partial = {k: v for k, v in checkpoint.items() if k != "net/layer_1/bias"}
        panel.set_checkpoint(partial)
    statuses = panel.variables.statuses()
    assert statuses["net/layer_1/bias"] == "graph only"
    assert statuses["net/layer_1/kernel"] == "in both"
    op = panel.model.find("net/layer_1/bias")
    assert op in panel.canvas.missing_ops
    assert "1 not in the checkpoint" in panel.summary.text()


def test_a_click_on_the_selected_node_is_a_choice_again(qtbot, panel):
    """The window may have moved to another variable since: a click must be heard."""
    from PySide6.QtCore import Qt

    panel.set_graph(str(DEMO_META))
    wait_for(qtbot, panel)
    item = next(i for i in panel.canvas.node_items() if panel.model.items[i].label == "bn1")
    node = panel.canvas.node_items()[item]
    panel.canvas.centerOn(node)
    centre = panel.canvas.mapFromScene(node.sceneBoundingRect().center())
    chosen = []
    panel.canvas.item_selected.connect(chosen.append)
    qtbot.mouseClick(panel.canvas.viewport(), Qt.MouseButton.LeftButton, pos=centre)
    assert chosen == [item] and panel.selected_item() == item
    qtbot.mouseClick(panel.canvas.viewport(), Qt.MouseButton.LeftButton, pos=centre)
    assert chosen == [item, item] and panel.selected_item() == item
