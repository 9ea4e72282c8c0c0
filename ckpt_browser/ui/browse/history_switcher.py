"""A combo box of the checkpoints kept in one directory (model-3000, model-4000, ...).

The list comes from the directory's `checkpoint` file (`Checkpoint.history()`), oldest first, with
each one's step and save time. Choosing one asks the window to open that prefix.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from datetime import datetime

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QComboBox, QHBoxLayout, QLabel, QSizePolicy, QWidget

from ckpt_browser.format import CheckpointRecord
from ckpt_browser.ui.widgets.plain_text import plain_tooltip


def describe_record(record: CheckpointRecord) -> str:
    """`model-3000  ·  step 3000  ·  2024-05-01 12:30:05` (the parts that are known)."""
    parts = [os.path.basename(record.prefix)]
    if record.step is not None:
        parts.append(f"step {record.step}")
    if record.timestamp is not None:
        parts.append(datetime.fromtimestamp(record.timestamp).strftime("%Y-%m-%d %H:%M:%S"))
    if record.legacy:
        parts.append("V1")
    return "  ·  ".join(parts)


class HistorySwitcher(QWidget):
    """Label plus combo; the window hides it when the directory holds only one checkpoint."""

    prefix_chosen = Signal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._unlisted = False  # the last item is the open checkpoint, missing from the list
        self._combo = QComboBox()
        self._combo.setToolTip("Other checkpoints listed in this directory's 'checkpoint' file")
        self._combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToContents)
        self._combo.activated.connect(self._on_activated)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(QLabel("Checkpoint:"))
        layout.addWidget(self._combo)
        # Only as wide as its contents, so toolbar buttons beside it stay next to it.
        self.setSizePolicy(QSizePolicy.Policy.Maximum, QSizePolicy.Policy.Preferred)

    @property
    def combo(self) -> QComboBox:
        return self._combo

    def set_history(self, records: Sequence[CheckpointRecord], current_prefix: str) -> None:
        """Show `records` and select the one whose prefix is `current_prefix`."""
        self._combo.blockSignals(True)
        self._combo.clear()
        self._unlisted = False
        current_index = -1
        for index, record in enumerate(records):
            self._combo.addItem(describe_record(record), record.prefix)
            tip = plain_tooltip(record.prefix)
            self._combo.setItemData(index, tip, Qt.ItemDataRole.ToolTipRole)
            if os.path.abspath(record.prefix) == os.path.abspath(current_prefix):
                current_index = index
        if current_index < 0 and records:
            # The open checkpoint is not (or no longer) listed: show it anyway, so the combo
            # never claims a different one is open.
            self._combo.addItem(os.path.basename(current_prefix) + "  (not listed)", current_prefix)
            current_index = self._combo.count() - 1
            self._unlisted = True
        self._combo.setCurrentIndex(current_index)
        self._combo.blockSignals(False)

    def neighbour(self, step: int) -> str | None:
        """The prefix `step` places after (negative: before) the open one, oldest first; None
        past either end or for a checkpoint the directory does not list."""
        current = self._combo.currentIndex()
        listed = self._combo.count() - (1 if self._unlisted else 0)
        wanted = current + step
        if current < 0 or current >= listed or not 0 <= wanted < listed:
            return None
        return self._combo.itemData(wanted)

    def _on_activated(self, index: int) -> None:
        prefix = self._combo.itemData(index)
        if prefix:
            self.prefix_chosen.emit(prefix)
