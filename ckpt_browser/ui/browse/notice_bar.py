"""A closable warning strip above the window's panes: says something once without blocking.

A dialog would stop the user on every open of a damaged checkpoint; this strip states what is
wrong (one sentence a line), stays out of the keyboard's way, and goes away with its close button.
"""

from __future__ import annotations

from collections.abc import Sequence

from PySide6.QtCore import QEvent, Qt
from PySide6.QtGui import QColor
from PySide6.QtWidgets import QFrame, QHBoxLayout, QLabel, QStyle, QToolButton, QWidget

from ckpt_browser.ui.widgets import theme


class NoticeBar(QFrame):
    """Hidden until `show_messages` gets at least one sentence."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("notice_bar")
        self.setFrameShape(QFrame.Shape.StyledPanel)
        self.setAutoFillBackground(True)
        icon = QLabel()
        size = self.style().pixelMetric(QStyle.PixelMetric.PM_SmallIconSize)
        warning = self.style().standardIcon(QStyle.StandardPixmap.SP_MessageBoxWarning)
        icon.setPixmap(warning.pixmap(size, size))
        self.label = QLabel()
        self.label.setTextFormat(Qt.TextFormat.PlainText)  # names are text
        self.label.setWordWrap(True)
        self.label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.close_button = QToolButton()
        self.close_button.setText("✕")
        self.close_button.setToolTip("Dismiss")
        self.close_button.setAutoRaise(True)
        self.close_button.setFocusPolicy(Qt.FocusPolicy.NoFocus)  # Tab stays in the panes
        self.close_button.clicked.connect(self.hide)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(8, 4, 4, 4)
        layout.addWidget(icon, 0, Qt.AlignmentFlag.AlignTop)
        layout.addWidget(self.label, 1)
        layout.addWidget(self.close_button, 0, Qt.AlignmentFlag.AlignTop)
        self._apply_colours()
        self.hide()

    def show_messages(self, messages: Sequence[str]) -> None:
        """Show these sentences (one a line); none hides the bar."""
        self.label.setText("\n".join(messages))
        self.setVisible(bool(messages))

    def changeEvent(self, event: QEvent) -> None:
        super().changeEvent(event)
        if event.type() == QEvent.Type.PaletteChange:
            self._apply_colours()

    def _apply_colours(self) -> None:
        # An amber tint that reads as "warning" on light and dark palettes alike.
        palette = self.palette()
        background = QColor("#5a4a1a" if theme.is_dark() else "#fff3cd")
        if palette.color(self.backgroundRole()) != background:  # setPalette re-enters here
            palette.setColor(self.backgroundRole(), background)
            self.setPalette(palette)
