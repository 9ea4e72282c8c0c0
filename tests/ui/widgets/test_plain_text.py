"""Names that look like HTML show as text in tooltips, character for character."""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import Qt
from PySide6.QtGui import Qt as GuiQt
from PySide6.QtGui import QTextDocument

from ckpt_browser.format import CheckpointWriter
from ckpt_browser.ui.widgets.plain_text import plain_tooltip

HTML_LIKE = '<img src="x.png"><b>bold</b> & more'


def shown(tooltip: str) -> str:
    """The text Qt shows for a tooltip: rendered when it looks like HTML, else as it is."""
    if not GuiQt.mightBeRichText(tooltip):
        return tooltip
    document = QTextDocument()
    document.setHtml(tooltip)
    return document.toPlainText()


def test_text_that_looks_like_html_is_spelled_out(qapp):
    for text in (HTML_LIKE, "line one\n<i>line two</i>", "a/b/kernel", ""):
        assert shown(plain_tooltip(text)) == text
    assert plain_tooltip("a/b/kernel") == "a/b/kernel"  # plain text is left alone


def test_a_tensor_named_like_html_shows_its_name_in_the_tree_tooltip(window, tmp_path):
    prefix = str(tmp_path / "model")
    with CheckpointWriter(prefix) as writer:
        writer.add(f"scope/{HTML_LIKE}", np.zeros(3, np.float32))
    assert window.open_path(prefix)
    index = window.tree.model.index_of_path(f"scope/{HTML_LIKE}")
    assert index.isValid()
    assert HTML_LIKE in shown(index.data(Qt.ItemDataRole.ToolTipRole))
