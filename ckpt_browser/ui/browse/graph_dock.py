"""The graph panel as a dock of the main window, and the links between it and the window.

When a checkpoint opens, the dock looks for its graph (`.meta` beside it, `saved_model.pb` of a
SavedModel) and shows it (in a window wide enough for it), or hides itself when there is none.
A variable chosen in the tree is selected in the graph and the reverse, by any way of choosing,
so the graph, the tree and the tensor view always show the same variable; a Const of a graph
opens in the tensor view. A frozen `.pb` (which is no checkpoint), or a `.meta` whose
checkpoint is gone, opens in the dock alone.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import QDockWidget

from ckpt_browser.core.graph.link import item_of_key
from ckpt_browser.format import CheckpointError
from ckpt_browser.format.graph.reader import find_graph
from ckpt_browser.format.sources import locations as where
from ckpt_browser.ui.graph.panel import GraphPanel

if TYPE_CHECKING:
    from ckpt_browser.ui.browse.main_window import MainWindow

# A window narrower than this (room for the tree, the tensor view and the graph side by side)
# keeps the graph under View > Graph (Ctrl+G) rather than squeezing the other two.
AUTO_SHOW_MIN_WIDTH = 1600
GRAPH_FILE_SUFFIXES = (".pb", ".graphdef", ".meta")  # a .meta without its checkpoint too


class GraphDock(QDockWidget):
    """Owns the GraphPanel and wires it to the window's tree, tensor view and menus."""

    def __init__(self, window: MainWindow) -> None:
        super().__init__("Graph", window)
        self.window_ = window
        self.setObjectName("graph_dock")
        self.panel = GraphPanel()
        self.setWidget(self.panel)
        self.setAllowedAreas(Qt.DockWidgetArea.AllDockWidgetAreas)
        window.addDockWidget(Qt.DockWidgetArea.RightDockWidgetArea, self)
        self.hide()
        self._add_menu_action(window)
        window.checkpoint_changed.connect(self._on_checkpoint_changed)
        window.tree.tensor_selected.connect(self._on_tree_selection)
        self.panel.variable_selected.connect(self._on_graph_variable)
        self.panel.constant_selected.connect(self._on_constant)
        self.panel.load_failed.connect(self._on_load_failed)
        self.visibilityChanged.connect(self._on_visibility)
        self.panel.graph_loaded.connect(self._follow_tree)  # another checkpoint or MetaGraph
        self._following_graph = False  # the tree moves because the graph asked: no echo back

    def _add_menu_action(self, window: MainWindow) -> None:
        action = self.toggleViewAction()
        action.setText("&Graph")
        action.setShortcut("Ctrl+G")
        for menu_action in window.menuBar().actions():
            menu = menu_action.menu()
            if menu is not None and menu_action.text().replace("&", "") == "View":
                menu.addSeparator()
                menu.addAction(action)
                return
        window.menuBar().addAction(action)

    @property
    def busy(self) -> bool:
        return self.panel.busy

    def open_graph_only(self, path: str) -> bool:
        """Show a graph file that is no checkpoint (a frozen GraphDef); False if it is not one."""
        if not (where.isfile(path) and path.endswith(GRAPH_FILE_SUFFIXES)):
            return False
        self.window_.tree.clear()
        self.window_.tensor_view.show_tensor(None, None)
        self.panel.set_checkpoint(None)
        self.panel.set_graph(where.abspath(path))
        self.window_.setWindowTitle(f"{os.path.basename(path)} — graph")
        self._show_wide()
        return True

    def _show_wide(self) -> None:
        self.show()  # sized the first time it shows, by any way of showing (see setVisible)

    def setVisible(self, visible: bool) -> None:
        """Showing in a shown window: beside the panes if the screen has the width for all three
        (else as its own window over the right of the screen: docked, it would push the main
        window off a small screen). The first time, widen it (a graph is wide) with room taken
        from the tensor view first, keeping the tree. A width restored from settings stays."""
        window = self.window_
        showing = visible and not self.isVisible() and window.isVisible()
        if showing and not self.isFloating() and not window.panes.fits_beside(self):
            self.setFloating(True)
            self.setGeometry(window.panes.floating_rect(self))
        first = showing and not self.isFloating() and not self.property("sized")
        if not first:
            super().setVisible(visible)
            return
        self.setProperty("sized", True)
        tree = window.splitter.sizes()[0]  # measured before the dock takes its room
        width = window.panes.dock_width()
        super().setVisible(visible)
        window.resizeDocks([self], [width], Qt.Orientation.Horizontal)
        QTimer.singleShot(0, lambda: window.panes.keep_tree_beside_dock(tree))

    def _on_checkpoint_changed(self, checkpoint) -> None:
        if checkpoint is None:
            self.panel.set_graph(None)
            return
        try:
            graph_path = find_graph(checkpoint.prefix)
        except CheckpointError:
            graph_path = None
        self.panel.show_checkpoint(checkpoint, graph_path)
        if graph_path is None:
            self.hide()
        elif checkpoint.format_name == "graph" or self.window_.width() >= AUTO_SHOW_MIN_WIDTH:
            self._show_wide()  # a frozen graph's constants: the graph is half of what it shows
        self._follow_tree()  # the tree kept its variable: so does the graph, once loaded

    def _on_tree_selection(self, key: str | None) -> None:
        if not self._following_graph and self.isVisible():
            self.panel.select_variable(key)

    def _on_visibility(self, visible: bool) -> None:
        if visible:  # the tree may have moved while the graph was hidden
            self._follow_tree()

    def _follow_tree(self) -> None:
        if self.isVisible():
            self.panel.select_variable(self.window_.tree.selected_key())

    def _on_graph_variable(self, key: str) -> None:
        """The graph chose variable `key`: the tree selects it and the tensor view shows it.

        What is compared is what the tree and the view show now, never what the graph chose
        last: the tree may have moved since (choosing the same node again must still work).
        A variable the checkpoint lacks leaves both empty rather than on another variable."""
        window = self.window_
        checkpoint, tree, view = window.checkpoint, window.tree, window.tensor_view
        self._following_graph = True
        try:
            if checkpoint is None or key not in checkpoint:
                self._clear_tree_selection()
                view.show_tensor(None, None)
            elif tree.selected_key() != key and not tree.select_key(key):
                self._clear_tree_selection()  # the filter or a kind toggle hides it
                view.show_tensor(checkpoint, key)
                window.statusBar().showMessage(f"{key} is hidden in the tree by its filter", 8000)
            elif view.key != key:
                view.show_tensor(checkpoint, key)
        finally:
            self._following_graph = False

    def _on_constant(self, constants, name: str) -> None:
        self._following_graph = True
        try:
            self._clear_tree_selection()  # the view shows a Const of the graph, no variable
        finally:
            self._following_graph = False
        self.window_.tensor_view.show_tensor(constants, name)

    def _clear_tree_selection(self) -> None:
        if self.window_.tree.selected_key() is not None:
            self.window_.tree.view.selectionModel().clear()

    def _on_load_failed(self, message: str) -> None:
        if self.window_.checkpoint is None:
            self.window_.show_error(message)

    def has_variable(self, key: str) -> bool:
        """Whether "Show in Graph" can show checkpoint key `key`: there is a graph, and it has a
        node for the key (a graph still loading is given the benefit of the doubt)."""
        panel = self.panel
        if panel.path is None:
            return False
        return panel.model is None or item_of_key(panel.model, panel.link, key) is not None

    def show_variable(self, key: str) -> bool:
        """Open the dock on the node of `key` (the tree and tensor view follow, as always)."""
        if not self.has_variable(key):
            return False
        if self.window_.tree.selected_key() != key:
            self.window_.tree.select_key(key)
        self._show_wide()
        return self.panel.select_variable(key)
