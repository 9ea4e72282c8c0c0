"""The graph panel's toolbar: view toggles, zoom, tracing and export.

The toolbar only owns its actions and says which are usable; the panel connects them to what
they do.
"""

from __future__ import annotations

from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QToolBar, QWidget


class GraphToolbar(QToolBar):
    """Hide save/init, Trace inputs, Collapse all, Fit, +, −, PNG…, SVG…."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__("Graph", parent)
        self.hide_plumbing_action = self._action(
            "Hide save/init",
            "Hide the Saver's ops and the variable initializers (the plumbing around the model)",
            checkable=True,
        )
        self.hide_plumbing_action.setChecked(True)
        self.trace_action = self._action(
            "Trace inputs", "Light up everything that feeds the selected node", checkable=True
        )
        self.collapse_action = self._action("Collapse all")
        self.fit_action = self._action("Fit", "Show the whole drawing")
        self.zoom_in_action = self._action("+")
        self.zoom_in_action.setShortcut(QKeySequence.StandardKey.ZoomIn)
        self.zoom_out_action = self._action("−")
        self.zoom_out_action.setShortcut(QKeySequence.StandardKey.ZoomOut)
        self.export_png_action = self._action("PNG…", "Save the current view as a PNG image")
        self.export_svg_action = self._action("SVG…", "Save the current view as an SVG drawing")

    def _action(self, text: str, tip: str = "", checkable: bool = False) -> QAction:
        action = QAction(text, self)
        action.setCheckable(checkable)
        if tip:
            action.setToolTip(tip)
        self.addAction(action)
        return action

    def update_enabled(self, loaded: bool, selected: bool) -> None:
        """Everything needs a graph; tracing also needs a selected node."""
        for action in (
            self.fit_action,
            self.zoom_in_action,
            self.zoom_out_action,
            self.collapse_action,
            self.export_png_action,
            self.export_svg_action,
            self.hide_plumbing_action,
        ):
            action.setEnabled(loaded)
        self.trace_action.setEnabled(loaded and selected)
