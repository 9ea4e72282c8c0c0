"""A SavedModel with several MetaGraphs: the graph panel says which it shows and offers the rest."""

from __future__ import annotations

from ckpt_browser.ui.graph.panel import GraphPanel


def wait_loaded(qtbot, panel: GraphPanel) -> None:
    qtbot.waitUntil(lambda: panel.model is not None and not panel.busy, timeout=30_000)


def test_the_meta_graph_shown_is_named_and_another_can_be_picked(
    qtbot, window, wait_idle, multi_meta_graph_savedmodel
):
    saved = multi_meta_graph_savedmodel
    window.resize(1700, 900)
    assert window.open_path(str(saved.directory))
    assert window.windowTitle().startswith(f"{saved.directory.name} — ")  # not "variables"
    panel = window.graph_dock.panel
    wait_loaded(qtbot, panel)
    chooser = panel.meta_graphs
    qtbot.waitUntil(chooser.isVisible)  # the toolbar lays itself out in the event loop
    assert chooser.combo.isVisible()
    assert [chooser.combo.itemText(i) for i in range(chooser.combo.count())] == [
        ",".join(tags) for tags in saved.tag_sets
    ]
    assert chooser.combo.currentText() == "serve"
    assert "[serve]" in panel.summary.text()
    assert panel.model.find("train_step") is None
    assert window.tree.select_key("weights")
    wait_idle(window)

    # Pick "train" from the list.
    train = chooser.combo.findText("train")
    chooser.combo.setCurrentIndex(train)
    chooser.combo.activated.emit(train)  # what a pick with the mouse or keys sends
    assert panel.busy  # loading in a worker: the window stays responsive meanwhile
    wait_loaded(qtbot, panel)
    wait_idle(window)
    assert panel.tags == ("train",)
    assert panel.model.find(saved.new_nodes[("train",)]) is not None
    assert chooser.combo.currentText() == "train" and "[train]" in panel.summary.text()
    assert "not in the checkpoint" not in panel.summary.text()
    item = panel.selected_item()  # the tree's variable stays selected in the new graph
    assert item is not None and panel.model.items[item].name == "weights"
    assert window.tree.selected_key() == window.tensor_view.key == "weights"

    # Another checkpoint of the same SavedModel keeps the pick; a reopened one starts at serve.
    assert window.reload()
    wait_idle(window)
    assert panel.tags == ("train",) and chooser.combo.currentText() == "train"


def test_one_meta_graph_is_named_without_a_list(qtbot, savedmodel_dir, tf1_training_dir):
    panel = GraphPanel()
    qtbot.addWidget(panel)
    panel.resize(1400, 700)  # wide enough that the toolbar shows all it holds
    panel.show()
    panel.set_graph(str(savedmodel_dir.directory))
    wait_loaded(qtbot, panel)
    qtbot.waitUntil(panel.meta_graphs.isVisible)  # the toolbar lays itself out in the event loop
    assert not panel.meta_graphs.combo.isVisible()
    assert panel.meta_graphs.label.text() == "MetaGraph: serve"

    # A `.meta` file has no tag sets: nothing is said about MetaGraphs.
    panel.set_graph(tf1_training_dir.prefix + ".meta")
    wait_loaded(qtbot, panel)
    qtbot.waitUntil(lambda: not panel.meta_graphs.isVisible())
    assert "[" not in panel.summary.text()
    panel.shutdown()
