"""A progress bar that repaints with the next frame instead of at once.

QProgressBar.setValue() repaints synchronously, and a synchronous repaint flushes every pending
update of the window: while a large tensor is analysed that means drawing the plots again inside
each progress step, which is what made the event loop stall. This bar draws the same style
element (so it looks like QProgressBar) but only schedules a paint when its value changes.
"""

from __future__ import annotations

from PySide6.QtCore import QSize
from PySide6.QtGui import QPainter, QPaintEvent
from PySide6.QtWidgets import QSizePolicy, QStyle, QStyleOptionProgressBar, QWidget


class ProgressBar(QWidget):
    """A 0..`maximum` progress bar without text."""

    def __init__(self, maximum: int = 1000, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._maximum = maximum
        self._value = 0
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)

    def value(self) -> int:
        return self._value

    def setValue(self, value: int) -> None:
        value = max(0, min(int(value), self._maximum))
        if value != self._value:
            self._value = value
            self.update()

    def sizeHint(self) -> QSize:
        return QSize(160, self.fontMetrics().height() + 4)

    def paintEvent(self, event: QPaintEvent) -> None:
        option = QStyleOptionProgressBar()
        option.initFrom(self)
        option.minimum, option.maximum, option.progress = 0, self._maximum, self._value
        option.textVisible = False
        painter = QPainter(self)
        self.style().drawControl(QStyle.ControlElement.CE_ProgressBar, option, painter, self)
