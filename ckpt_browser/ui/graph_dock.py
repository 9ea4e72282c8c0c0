"""The graph panel as a dock of the main window, and the links between it and the window.

When a checkpoint opens, the dock looks for its graph (`.meta` beside it, `saved_model.pb` of a
SavedModel) and shows it (in a window wide enough for it), or hides itself when there is none.
A variable chosen in the tree is selected in the graph and the reverse; a Const of a frozen
graph opens in the tensor view. A frozen `.pb` (which is no checkpoint), or a `.meta` whose
checkpoint is gone, opens in the dock alone.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QDockWidget

from ckpt_browser.format import CheckpointError
from ckpt_browser.format.graph import find_graph
from ckpt_browser.ui.graph_panel import GraphPanel

if TYPE_CHECKING:
    from ckpt_browser.ui.main_window import MainWindow

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
        if not (os.path.isfile(path) and path.endswith(GRAPH_FILE_SUFFIXES)):
            return False
        self.window_.tree.clear()
        self.window_.tensor_view.show_tensor(None, None)
        self.panel.set_checkpoint(None)
        self.panel.set_graph(os.path.abspath(path))
        self.window_.setWindowTitle(f"{os.path.basename(path)} — graph")
        self._show_wide()
        return True

    def _show_wide(self) -> None:
        """Show the dock; the first time, widen it (a graph is wide) as far as the window's
        other panes allow without growing the window. A width restored from settings stays."""
        first = not self.isVisible() and not self.property("sized")
        self.show()
        if not first:
            return
        self.setProperty("sized", True)
        window = self.window_
        room = window.width() - window.centralWidget().minimumSizeHint().width() - 20
        width = min(int(window.width() * 0.45), room)
        if self.width() < width:
            window.resizeDocks([self], [width], Qt.Orientation.Horizontal)

    def _on_checkpoint_changed(self, checkpoint) -> None:
        if checkpoint is None:
            self.panel.set_graph(None)
            return
        try:
            graph_path = find_graph(checkpoint.prefix)
        except CheckpointError:
            graph_path = None
        self.panel.set_checkpoint(checkpoint)
        if graph_path != self.panel.path:
            self.panel.set_graph(graph_path)
        if graph_path is None:
            self.hide()
        elif self.window_.width() >= AUTO_SHOW_MIN_WIDTH:
            self._show_wide()

    def _on_tree_selection(self, key: str | None) -> None:
        if key is not None and self.isVisible():
            self.panel.select_variable(key)

    def _on_graph_variable(self, key: str) -> None:
        tree = self.window_.tree
        if tree.selected_key() != key:
            tree.select_key(key)

    def _on_constant(self, constants, name: str) -> None:
        self.window_.tensor_view.show_tensor(constants, name)

    def _on_load_failed(self, message: str) -> None:
        if self.window_.checkpoint is None:
            self.window_.show_error(message)
