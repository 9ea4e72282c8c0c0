"""The remap wizard's output: a default folder beside the source's, and what follows a write."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QStyleOptionViewItem
from tf_checkpoints import write_with_tf

from ckpt_browser.core.remap.rules import Rule, RuleKind
from ckpt_browser.ui.remap.wizard import RemapWizard

LONG = "bert/encoder/layer_11/attention/self/query_projection_with_a_long_name/kernel"


@pytest.fixture
def source(tmp_path) -> str:
    (tmp_path / "runs" / "bert").mkdir(parents=True)
    return write_with_tf(
        tmp_path / "runs" / "bert" / "model.ckpt",
        {LONG: np.ones((2, 2), np.float32), "global_step": np.array(7, np.int64)},
    )


def to_write_page(wizard: RemapWizard) -> None:
    while wizard.currentPage() is not wizard.write_page:
        wizard.next()


def test_the_default_output_is_a_new_folder_beside_the_source_folder(qtbot, source, tmp_path):
    (tmp_path / "runs" / "bert-remapped").mkdir()  # an earlier result is never overwritten
    wizard = RemapWizard([source])
    qtbot.addWidget(wizard)
    wizard.show()
    to_write_page(wizard)
    shown = wizard.write_page.prefix_edit.text()
    assert shown == str(tmp_path / "runs" / "bert-remapped-2" / "model.ckpt")
    assert not wizard.write_page.note_label.isVisible()
    assert wizard.write_page.chosen_output == ""  # the default is not a choice to keep
    wizard.session.close()


def test_after_writing_open_result_and_compare_with_source(qtbot, window, source, tmp_path):
    assert window.open_path(source)
    wizard = window.open_remap_wizard()
    wizard.rules_page.add_rule(Rule(RuleKind.SCOPE, "bert/", "encoder/"))
    to_write_page(wizard)
    page = wizard.write_page
    assert not page.open_button.isVisible() and not page.compare_button.isVisible()
    qtbot.mouseClick(page.write_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: page.result is not None or page.error is not None, timeout=20_000)
    assert page.error is None
    result = page.result.prefix
    assert Path(result).parent == tmp_path / "runs" / "bert-remapped"
    assert page.open_button.isVisible() and page.compare_button.isVisible()

    qtbot.mouseClick(page.compare_button, Qt.MouseButton.LeftButton)
    compare = window.compare.last_window
    assert compare is not None and compare.isVisible()
    qtbot.waitUntil(compare.is_idle, timeout=30_000)
    a, b = compare.view.checkpoints
    assert (a.prefix, b.prefix) == (source, result)
    assert compare.view.comparison().summary["added"] == 1  # encoder/... is new in the result
    compare.close()

    qtbot.mouseClick(page.open_button, Qt.MouseButton.LeftButton)
    assert window.checkpoint.prefix == result
    assert ("encoder/" + LONG.removeprefix("bert/")) in window.checkpoint
    assert not wizard.isVisible()  # the wizard's work is done


def test_long_names_lose_their_middle_and_the_tooltip_has_all(qtbot, source):
    wizard = RemapWizard([source])
    qtbot.addWidget(wizard)
    wizard.resize(1100, 760)
    wizard.show()
    wizard.setCurrentId(3)
    page = wizard.mapping_page
    row = page.model.row_of(LONG)
    index = page.model.index(row, 0)
    assert index.data(Qt.ItemDataRole.ToolTipRole).startswith(LONG)
    assert not page.table.wordWrap()  # with wrapping, Qt cuts a one-line cell at its end
    option = QStyleOptionViewItem()
    option.initFrom(page.table)
    option.textElideMode = page.table.textElideMode()
    page.table.itemDelegate().initStyleOption(option, index)
    width = page.table.columnWidth(0) - 8  # the cell's text margins
    shown = option.fontMetrics.elidedText(option.text, option.textElideMode, width)
    assert shown != LONG and "…" in shown
    assert shown.startswith("bert/encoder/") and shown.endswith("/kernel")
    wizard.session.close()


def test_one_of_everything_reads_in_the_singular(qtbot, window, tmp_path):
    """A checkpoint of one tensor: "1 variable", "1 tensor", "1 of 1 name" wherever counted."""
    prefix = write_with_tf(tmp_path / "one" / "model.ckpt", {"w": np.array([2.5], np.float32)})
    assert window.open_path(prefix)
    assert window.variables_label.text() == "1 variable"
    assert window.parameters_label.text() == "1 parameter"
    wizard = window.open_remap_wizard()
    assert "1 tensor, 4 B" in wizard.sources_page.list.item(0).text()
    wizard.rules_page.add_rule(Rule(RuleKind.NAME, "w", "v"))
    assert wizard.rules_page.preview_label.text() == "Rule 1: 1 name renamed, 0 dropped"
    assert wizard.session.plan.summary() == "1 of 1 name ready, no blocking problems"
    to_write_page(wizard)
    assert wizard.mapping_page.shown_label.text() == "1 of 1 name"
    assert wizard.write_page.summary.text().startswith("1 tensor, 4 B of tensor data")
    qtbot.mouseClick(wizard.write_page.write_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: wizard.write_page.result is not None, timeout=20_000)
    assert "Wrote 1 tensor (4 B)" in wizard.write_page.result_label.text()
    wizard.reject()
