"""The timeline as a dock of the main window, and the window's side of a run that is still writing.

The dock's panel follows the tree: the selected variable, or the selected scope's parameters
together. A step clicked there opens in the window (keeping the selection), two picked steps open
the compare view, an overview cell selects its scope and save.

Whether the dock is shown or not, the run of the open checkpoint's directory is watched
(`RunSession`): new checkpoints join the switcher as they appear, deleted ones leave it, and a
checkpoint on screen that was deleted is said to be so in the notice bar (what was read stays).
"Follow Latest" keeps the window on the newest checkpoint, keeping the selection. The panel and
its plots are built the first time the dock is shown.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtCore import Qt
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QDockWidget, QLabel

from ckpt_browser.format import Checkpoint, CheckpointRecord
from ckpt_browser.format.sources import locations as where
from ckpt_browser.ui.timeline.session import RunSession

FIRST_HEIGHT_SHARE = 0.42  # of the window, the first time the dock shows

if TYPE_CHECKING:
    from ckpt_browser.ui.browse.main_window import MainWindow
    from ckpt_browser.ui.timeline.panel import TimelinePanel


def deleted_notice(prefix: str, newest: CheckpointRecord | None) -> str:
    name = where.shown(prefix).rsplit("/", 1)[-1]
    sentence = f"{name} was deleted from its directory; what is on screen was read before."
    if newest is not None:
        sentence += f" The newest checkpoint is {newest.prefix.rsplit('/', 1)[-1]}."
    return sentence


class TimelineDock(QDockWidget):
    """Owns the RunSession and the TimelinePanel and wires them to the window."""

    def __init__(self, window: MainWindow) -> None:
        super().__init__("Timeline", window)
        self.window_ = window
        self.setObjectName("timeline_dock")
        self.session = RunSession(parent=self)
        self.panel: TimelinePanel | None = None
        self.setWidget(QLabel())  # the panel replaces it when first shown
        self.setAllowedAreas(Qt.DockWidgetArea.AllDockWidgetAreas)
        window.addDockWidget(Qt.DockWidgetArea.BottomDockWidgetArea, self)
        self.hide()
        self.follow_action = QAction("&Follow Latest Checkpoint", window)
        self.follow_action.setCheckable(True)
        self.follow_action.setIconText("Follow Latest")
        self.follow_action.setShortcut(QKeySequence("Ctrl+Shift+L"))
        self.follow_action.setToolTip("Keep showing the newest checkpoint as the run writes them")
        self.follow_action.toggled.connect(self._on_follow_toggled)
        self._add_actions(window)
        window.checkpoint_changed.connect(self._on_checkpoint_changed)
        window.tree.tensor_selected.connect(lambda _key: self._follow_tree())
        self.visibilityChanged.connect(self._on_visibility)
        self.session.records_changed.connect(self._on_records_changed)
        self.session.run_changed.connect(self._on_run_changed)

    def _add_actions(self, window: MainWindow) -> None:
        action = self.toggleViewAction()
        action.setText("&Timeline")
        action.setShortcut("Ctrl+T")
        action.setToolTip("The selected variable or scope across every checkpoint of the run")
        for menu_action in window.menuBar().actions():
            menu = menu_action.menu()
            name = menu_action.text().replace("&", "")
            if menu is not None and name == "View":
                menu.addAction(action)
            elif menu is not None and name == "Go":
                menu.addSeparator()
                menu.addAction(self.follow_action)
        window.history_toolbar.addAction(self.follow_action)

    # -- public -----------------------------------------------------------------------------------

    @property
    def busy(self) -> bool:
        return self.session.busy

    def show_timeline(self) -> TimelinePanel:
        """Show the dock (building its panel the first time) and return the panel."""
        self.show()
        return self._ensure_panel()

    def shutdown(self) -> None:
        self.session.shutdown()

    # -- the panel --------------------------------------------------------------------------------

    def _ensure_panel(self) -> TimelinePanel:
        if self.panel is None:
            # Imported here: the plots pull in pyqtgraph's plot items, which a start without the
            # timeline does not need.
            from ckpt_browser.ui.timeline.panel import TimelinePanel

            panel = TimelinePanel(self.session)
            panel.step_chosen.connect(self.window_.switch_to)
            panel.compare_requested.connect(self._compare)
            panel.scope_chosen.connect(self._on_scope_chosen)
            self.setWidget(panel)
            self.panel = panel
            checkpoint = self.window_.checkpoint
            panel.set_current(checkpoint.prefix if checkpoint is not None else None)
            self._follow_tree()
        return self.panel

    def _on_visibility(self, visible: bool) -> None:
        if visible and self.panel is None:
            self._ensure_panel()
            if not self.isFloating():  # the first time: room for plots, the tensor view kept
                height = int(self.window_.height() * FIRST_HEIGHT_SHARE)
                self.window_.resizeDocks([self], [height], Qt.Orientation.Vertical)
        if self.panel is not None:
            self.panel.set_active(visible)

    def _follow_tree(self) -> None:
        if self.panel is not None:
            self.panel.set_subject(self.subject_of_tree())

    def subject_of_tree(self) -> str | None:
        """The selected variable's key, or the selected scope as `path/`."""
        tree = self.window_.tree
        index = tree.view.currentIndex()
        node = tree.model.node(index) if index.isValid() else None
        if node is None:
            return None
        if node.info is not None:
            return node.info.name
        return node.path + "/" if node.path else None

    def _compare(self, older: str, newer: str) -> None:
        self.window_.compare.compare(older, newer, select=self.window_.tree.selected_key())

    def _on_scope_chosen(self, scope: str, prefix: str) -> None:
        from ckpt_browser.ui.timeline.panel import STATISTICS_TAB

        window = self.window_
        if not window.tree.select_path(scope) and self.panel is not None:
            self.panel.set_subject(scope + "/")  # hidden in the tree by its filter
        if self.panel is not None:
            self.panel.choose_tab(STATISTICS_TAB)
        if window.checkpoint is None or window.checkpoint.prefix != prefix:
            window.switch_to(prefix)

    # -- the run as it grows ----------------------------------------------------------------------

    def _on_checkpoint_changed(self, checkpoint: Checkpoint | None) -> None:
        prefix = checkpoint.prefix if checkpoint is not None else None
        self.session.follow(prefix)
        if self.panel is not None:
            self.panel.set_current(prefix)

    def _on_records_changed(self, records: list[CheckpointRecord]) -> None:
        window = self.window_
        checkpoint = window.checkpoint
        if checkpoint is None:
            return
        window.set_history(records)
        newest = records[-1] if records else None
        if self.follow_action.isChecked() and self._follow_newest(records):
            return
        listed = {where.abspath(record.prefix) for record in records}
        if where.abspath(checkpoint.prefix) not in listed:
            window.notice_bar.show_messages([deleted_notice(checkpoint.prefix, newest)])

    def _follow_newest(self, records: list[CheckpointRecord]) -> bool:
        """Open the newest checkpoint if another is open; True if it was opened."""
        checkpoint = self.window_.checkpoint
        if not records or checkpoint is None:
            return False
        newest = records[-1].prefix
        if where.abspath(newest) == where.abspath(checkpoint.prefix):
            return False
        return self.window_.switch_to(newest)

    def _on_follow_toggled(self, checked: bool) -> None:
        if checked:
            records = self.session.records
            if records:
                self._follow_newest(records)
            self.session.poke()

    def _on_run_changed(self, _changes) -> None:
        if self.panel is not None:
            self.panel.on_run_changed()
