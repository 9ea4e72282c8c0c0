"""Labels and tooltips that show text from the files as it is, never as HTML.

Qt renders a tooltip as rich text when it merely looks like HTML (`Qt.mightBeRichText`), so a
tensor named `<img src=...>` or `<b>x</b>` would be drawn, not shown. Such text is turned into
rich text that spells it out; everything else is left alone (plain text is already plain).
"""

from __future__ import annotations

from PySide6.QtGui import QFont, Qt
from PySide6.QtWidgets import QLabel


def plain_tooltip(text: str) -> str:
    """`text` as a tooltip shows it, character for character."""
    if not Qt.mightBeRichText(text):
        return text
    return Qt.convertFromPlainText(text, Qt.WhiteSpaceMode.WhiteSpacePre)


def name_title_label() -> QLabel:
    """The bold, selectable title above a tensor's details, holding its name as plain text."""
    label = QLabel()
    label.setTextFormat(Qt.TextFormat.PlainText)  # names are text
    font = QFont(label.font())
    font.setBold(True)
    font.setPointSizeF(font.pointSizeF() * 1.15)
    label.setFont(font)
    label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
    return label
