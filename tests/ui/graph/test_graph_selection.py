"""Graph, tree and tensor view show the same variable, whichever way the user chose it."""

from __future__ import annotations

import os

import pytest
from PySide6.QtCore import Qt

from ckpt_browser.core.graph.link import choice_of
from ckpt_browser.format import TensorKind
from ckpt_browser.ui.browse.main_window import MainWindow

FIRST, OTHER = "net/layer_1/kernel", "net/layer_2/bias"


@pytest.fixture
def linked(qtbot, window, wait_idle, tf1_training_dir) -> MainWindow:
    """A window wide enough for the graph beside the tree, its graph loaded, FIRST selected."""
    window.resize(1700, 900)
    assert window.open_path(tf1_training_dir.prefix)
    panel = window.graph_dock.panel
    qtbot.waitUntil(lambda: panel.model is not None and window.is_idle(), timeout=30_000)
    assert window.graph_dock.isVisible()
    assert window.tree.select_key(FIRST)
    settle(qtbot, window)
    assert_agree(window, FIRST)
    return window


def settle(qtbot, window: MainWindow) -> None:
    qtbot.waitUntil(window.is_idle, timeout=30_000)
    qtbot.wait(20)  # the selection a finished layout makes runs right after it
    qtbot.waitUntil(window.is_idle, timeout=30_000)


def graph_key(window: MainWindow) -> str | None:
    panel = window.graph_dock.panel
    item = panel.selected_item()
    if item is None:
        return None
    return choice_of(panel.model, panel.link, window.checkpoint, item).key


def assert_agree(window: MainWindow, key: str | None) -> None:
    shown = (window.tree.selected_key(), window.tensor_view.key, graph_key(window))
    assert shown == (key, key, key), "(tree, tensor view, graph)"


def click_node(qtbot, window: MainWindow, key: str) -> None:
    """A real mouse click on the node drawn for `key` (revealed first if a scope hides it)."""
    panel = window.graph_dock.panel
    item = panel.model.representative(panel.link.op_of_key[key])
    if item not in panel.canvas.node_items():
        panel.expand(panel.model.ancestors(item)[-1])
        qtbot.waitUntil(lambda: item in panel.canvas.node_items() and not panel.busy)
    node = panel.canvas.node_items()[item]
    panel.canvas.centerOn(node)
    centre = panel.canvas.mapFromScene(node.sceneBoundingRect().center())
    qtbot.mouseClick(panel.canvas.viewport(), Qt.MouseButton.LeftButton, pos=centre)


def test_search_and_enter_selects_the_variable_everywhere(qtbot, linked):
    panel = linked.graph_dock.panel
    panel.search_edit.setFocus()
    qtbot.keyClicks(panel.search_edit, OTHER)
    qtbot.keyClick(panel.search_edit, Qt.Key.Key_Return)
    settle(qtbot, linked)
    assert_agree(linked, OTHER)
    assert panel.tabs.tabText(1).startswith("Search (")


def test_clicking_a_search_result_and_moving_with_the_keys(qtbot, linked):
    panel = linked.graph_dock.panel
    panel.search_edit.setText("net/layer_")
    panel.run_search()
    panel.tabs.setCurrentWidget(panel.results)
    names = [panel.results.item(row).text().split()[0] for row in range(panel.results.count())]
    row = names.index(OTHER)
    rect = panel.results.visualItemRect(panel.results.item(row))
    qtbot.mouseClick(panel.results.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    settle(qtbot, linked)
    assert_agree(linked, OTHER)

    # The tree moves elsewhere; a click on the same result brings everything back.
    assert linked.tree.select_key(FIRST)
    settle(qtbot, linked)
    assert_agree(linked, FIRST)
    qtbot.mouseClick(panel.results.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    settle(qtbot, linked)
    assert_agree(linked, OTHER)

    # Arrow keys in the results list choose too.
    panel.results.setFocus()
    step = 1 if row + 1 < len(names) else -1
    qtbot.keyClick(panel.results, Qt.Key.Key_Down if step == 1 else Qt.Key.Key_Up)
    settle(qtbot, linked)
    name = names[row + step]
    expected = name if name in linked.checkpoint else None
    if expected is not None:
        assert_agree(linked, expected)
    else:  # an op that is no variable: the graph shows it, the tree keeps its variable
        assert panel.model.items[panel.selected_item()].name == name


def test_clicking_a_node_and_clicking_it_again_after_the_tree_moved(qtbot, linked):
    click_node(qtbot, linked, OTHER)
    settle(qtbot, linked)
    assert_agree(linked, OTHER)
    assert linked.tree.select_key(FIRST)
    settle(qtbot, linked)
    assert_agree(linked, FIRST)
    click_node(qtbot, linked, OTHER)
    settle(qtbot, linked)
    assert_agree(linked, OTHER)
    # The same node again while the tree shows a folder (a click on the selected node).
    linked.tree.view.setCurrentIndex(linked.tree.view.currentIndex().parent())
    settle(qtbot, linked)
    assert linked.tree.selected_key() is None and graph_key(linked) is None
    click_node(qtbot, linked, OTHER)
    settle(qtbot, linked)
    assert_agree(linked, OTHER)


def test_a_row_of_the_variables_list_selects_it_everywhere(qtbot, linked):
    panel = linked.graph_dock.panel
    panel.tabs.setCurrentWidget(panel.variables)
    row = next(
        panel.variables.topLevelItem(i)
        for i in range(panel.variables.topLevelItemCount())
        if panel.variables.topLevelItem(i).text(0) == OTHER
    )
    panel.variables.scrollToItem(row)
    rect = panel.variables.visualItemRect(row)
    qtbot.mouseClick(panel.variables.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    settle(qtbot, linked)
    assert_agree(linked, OTHER)


def test_the_tree_selects_and_centres_the_node(qtbot, linked):
    panel = linked.graph_dock.panel
    panel.canvas.centerOn(0, 0)
    assert linked.tree.select_key(OTHER)
    settle(qtbot, linked)
    assert_agree(linked, OTHER)
    node = panel.canvas.node_items()[panel.selected_item()]
    seen = panel.canvas.mapToScene(panel.canvas.viewport().rect()).boundingRect()
    assert seen.contains(node.sceneBoundingRect().center())


def test_a_variable_the_tree_hides_is_still_shown(qtbot, linked, tf1_training_dir):
    slot = tf1_training_dir.optimizer_slots[0]
    linked.tree.kind_buttons[TensorKind.OPTIMIZER].setChecked(False)
    settle(qtbot, linked)
    panel = linked.graph_dock.panel
    panel.search_edit.setText(slot)
    panel.search.choose_first()
    settle(qtbot, linked)
    assert linked.tensor_view.key == slot
    assert graph_key(linked) == slot
    assert linked.tree.selected_key() is None  # not another variable
    assert "hidden in the tree" in linked.statusBar().currentMessage()


def test_a_variable_the_checkpoint_lacks_empties_tree_and_view(qtbot, linked):
    # The graph declares a variable the checkpoint does not hold: neither the tree nor the
    # tensor view may stay on the variable chosen before.
    linked.graph_dock.panel.variable_selected.emit("net/not_saved")
    settle(qtbot, linked)
    assert (linked.tree.selected_key(), linked.tensor_view.key) == (None, None)


def test_choosing_again_the_node_already_selected_re_selects_in_the_tree(qtbot, linked):
    """The issue's case: a re-click used to change nothing once the tree had moved."""
    panel = linked.graph_dock.panel
    click_node(qtbot, linked, FIRST)
    settle(qtbot, linked)
    linked.tree.view.selectionModel().clear()
    settle(qtbot, linked)
    assert linked.tree.selected_key() is None
    panel.canvas.viewport().setFocus()
    click_node(qtbot, linked, FIRST)
    settle(qtbot, linked)
    assert_agree(linked, FIRST)


@pytest.fixture
def slow_graph_loads(monkeypatch):
    """Graph files load only when the test opens the gate: the in-between state stays on show."""
    import threading

    from ckpt_browser.ui.graph import panel as graph_panel

    gate = threading.Event()
    gate.set()
    real_load = graph_panel.load_graph

    def load_when_let(path, *args, **kwargs):
        assert gate.wait(30), "the test never let the graph load"
        return real_load(path, *args, **kwargs)

    monkeypatch.setattr(graph_panel, "load_graph", load_when_let)
    yield gate
    gate.set()


def choose_in_switcher(window: MainWindow, prefix: str) -> None:
    combo = window.history.combo
    index = next(i for i in range(combo.count()) if combo.itemData(i) == prefix)
    combo.setCurrentIndex(index)
    combo.activated.emit(index)  # what picking it with the mouse or keys sends


def test_switching_checkpoints_clears_the_graph_until_the_new_one_loads(
    qtbot, linked, tf1_training_dir, shapes_ckpt, slow_graph_loads
):
    panel = linked.graph_dock.panel
    old_meta = os.path.basename(tf1_training_dir.prefix) + ".meta"
    assert panel.summary.text().startswith(old_meta)
    panel.search_edit.setText("layer_1")
    panel.run_search()
    assert panel.results.count() and panel.tabs.tabText(1) != "Search"
    assert panel.properties.rows()

    slow_graph_loads.clear()
    older = tf1_training_dir.prefixes[0]
    choose_in_switcher(linked, older)
    assert linked.checkpoint.prefix == older
    # Loading: nothing of the previous graph, and no comparison of it with the new checkpoint.
    qtbot.wait(300)  # longer than the search box's typing pause
    assert panel.busy
    assert panel.summary.text() == "Loading graph…"
    assert panel.search_edit.text() == "" and not panel.search_edit.isEnabled()
    assert panel.results.count() == 0 and panel.tabs.tabText(1) == "Search"
    assert not panel.properties.rows() and not panel.variables.statuses()
    assert panel.canvas.node_items() == {}

    slow_graph_loads.set()
    settle(qtbot, linked)
    new_meta = os.path.basename(older) + ".meta"
    assert panel.summary.text().startswith(new_meta)
    assert "not in" not in panel.summary.text()  # this graph and this checkpoint agree
    assert panel.search_edit.isEnabled() and panel.search_edit.text() == ""
    assert_agree(linked, FIRST)  # the selection carried over to the new checkpoint

    # A checkpoint without a graph: nothing of the last graph is left either.
    assert linked.open_path(shapes_ckpt.prefix)
    settle(qtbot, linked)
    assert panel.summary.text() == "" and panel.model is None
    assert panel.search_edit.text() == "" and panel.results.count() == 0
    assert not linked.graph_dock.isVisible()
