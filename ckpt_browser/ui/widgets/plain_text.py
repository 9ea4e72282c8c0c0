"""Tooltips that show text from the files as it is, never as HTML.

Qt renders a tooltip as rich text when it merely looks like HTML (`Qt.mightBeRichText`), so a
tensor named `<img src=...>` or `<b>x</b>` would be drawn, not shown. Such text is turned into
rich text that spells it out; everything else is left alone (plain text is already plain).
"""

from __future__ import annotations

from PySide6.QtGui import Qt


def plain_tooltip(text: str) -> str:
    """`text` as a tooltip shows it, character for character."""
    if not Qt.mightBeRichText(text):
        return text
    return Qt.convertFromPlainText(text, Qt.WhiteSpaceMode.WhiteSpacePre)
