"""The main window's ways into the compare view: File > Compare With..., and a Compare menu beside
the checkpoint switcher that lists the other checkpoints of the same directory.

From the switcher the older checkpoint is A and the newer B ("what changed from step 3000 to
5000"); from the File menu the open checkpoint is A and the chosen one B (swap in the window).
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, QSettings
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QFileDialog, QMenu, QToolButton

from ckpt_browser.format import Checkpoint, CheckpointError, CheckpointRecord
from ckpt_browser.ui.browse.history_switcher import describe_record
from ckpt_browser.ui.widgets.file_filters import CHECKPOINT_OR_GRAPH_FILTER

if TYPE_CHECKING:
    from ckpt_browser.ui.browse.main_window import MainWindow
    from ckpt_browser.ui.compare.window import CompareWindow


class CompareLauncher(QObject):
    """A File-menu action and a toolbar button that open compare windows for the main window."""

    def __init__(self, window: MainWindow, settings: QSettings | None = None) -> None:
        super().__init__(window)
        self._window = window
        self._settings = settings
        self.action = QAction("&Compare With…", window)
        self.action.setShortcut(QKeySequence("Ctrl+D"))
        self.action.setToolTip("Compare the open checkpoint with another one")
        self.action.triggered.connect(self.ask)
        self.menu = QMenu("Compare", window)
        self.button = QToolButton()
        self.button.setText("Compare…")
        self.button.setToolTip("Compare this checkpoint with another one of the same directory")
        self.button.setMenu(self.menu)
        self.button.setPopupMode(QToolButton.ToolButtonPopupMode.InstantPopup)
        self.last_window: CompareWindow | None = None
        window.checkpoint_changed.connect(self._on_checkpoint_changed)
        self._on_checkpoint_changed(None)

    def ask(self, select: str | None = None) -> None:
        """Ask for the checkpoint to compare the open one with (A); `select` picks a variable."""
        current = self._current()
        if current is None:
            return
        path, _ = QFileDialog.getOpenFileName(
            self._window, "Compare with", current.directory, CHECKPOINT_OR_GRAPH_FILTER
        )
        if path:
            self.compare(current.prefix, path, select=select)

    def compare(
        self, path_a: str, path_b: str, *, select: str | None = None
    ) -> CompareWindow | None:
        """Open a compare window of A = `path_a` and B = `path_b`, on variable `select`."""
        # Imported here: the compare window pulls in pyqtgraph, which a tree-only start avoids.
        from ckpt_browser.ui.compare.window import open_compare_window

        self.last_window = open_compare_window(
            self._window, path_a, path_b, self._settings, select=select
        )
        return self.last_window

    def _current(self) -> Checkpoint | None:
        return self._window.checkpoint

    def _on_checkpoint_changed(self, checkpoint: Checkpoint | None) -> None:
        self.action.setEnabled(checkpoint is not None)
        if checkpoint is None:
            self.menu.clear()
            self.button.setEnabled(False)
            return
        try:
            records = checkpoint.history()
        except (CheckpointError, OSError):
            records = []
        self.set_records(records)

    def set_records(self, records: list[CheckpointRecord]) -> None:
        """List these checkpoints of the directory in the Compare menu (a run still writing
        adds and deletes some)."""
        self.menu.clear()
        checkpoint = self._current()
        if checkpoint is None:
            self.button.setEnabled(False)
            return
        current = os.path.abspath(checkpoint.prefix)
        before_current = True  # the history is oldest first
        for record in records:
            if os.path.abspath(record.prefix) == current:
                before_current = False
                continue
            older, newer = (record.prefix, checkpoint.prefix)[:: 1 if before_current else -1]
            label = f"with {describe_record(record)}"
            self.menu.addAction(label, lambda a=older, b=newer: self.compare(a, b))
        self.button.setEnabled(not self.menu.isEmpty())
