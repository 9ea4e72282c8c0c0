"""The value table: exact texts in the stored dtype, copying, column widths, Tab leaves it."""

from __future__ import annotations

import ml_dtypes
import numpy as np
import pytest
import tf_checkpoints as tfc
from PySide6.QtCore import QItemSelection, QItemSelectionModel, Qt
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import QApplication

PRECISE = {
    "precise/float32": np.array([[0.1, 0.2, 0.3], [1 / 3, 1e-8, 123456.7]], dtype=np.float32),
    "precise/float16": np.array([[0.1, 0.2], [1 / 3, 65504.0]], dtype=np.float16),
    "precise/bfloat16": np.array([[0.1, 0.2], [1 / 3, 123456.7]], dtype=ml_dtypes.bfloat16),
    "precise/learning_rate": np.array(0.001, dtype=np.float32),
    "text/long_words": np.array([[b"a" * 50, b"b" * 50], [b"c", b"d"]], dtype=object),
}


@pytest.fixture(scope="module")
def precise_ckpt(tmp_path_factory: pytest.TempPathFactory) -> str:
    return tfc.write_with_tf(tmp_path_factory.mktemp("precise") / "precise", PRECISE)


def _show(window, wait_idle, name: str):
    assert window.select(name), name
    wait_idle(window)
    values = window.tensor_view.values
    values.tabs.setCurrentWidget(values.table)
    return values


@pytest.mark.parametrize("name", ["precise/float32", "precise/float16", "precise/bfloat16"])
def test_copied_and_shown_values_are_the_shortest_text_of_the_stored_dtype(
    window, wait_idle, qtbot, precise_ckpt, name
):
    window.open_path(precise_ckpt)
    values = _show(window, wait_idle, name)
    stored = PRECISE[name]
    table = values.table
    table.setFocus()
    table.selectAll()
    QGuiApplication.clipboard().clear()
    qtbot.keyClick(table, Qt.Key.Key_C, Qt.KeyboardModifier.ControlModifier)
    copied = QGuiApplication.clipboard().text()
    rows = [line.split("\t") for line in copied.split("\n")]
    assert rows[0][0] == "0.1"  # not 0.10000000149011612 (float32) or 0.10009765625 (bfloat16)
    # Every copied text reads back as exactly the stored value, and none is longer than needed.
    assert np.array(rows, dtype=np.float64).astype(stored.dtype).tobytes() == stored.tobytes()
    for text, value in zip(np.ravel(rows), stored.ravel(), strict=True):
        digits = len(text.split("e")[0].replace("-", "").replace(".", "").strip("0"))
        shorter = f"{float(value):.{max(digits - 1, 1)}g}"
        with np.errstate(over="ignore"):  # 65504 to one digit less overflows float16
            assert digits == 1 or np.array(float(shorter)).astype(stored.dtype) != value, text

    # The context menu's Copy gives the same text; the cells show it too ("auto" notation).
    QGuiApplication.clipboard().clear()
    menu = table.context_menu()
    [copy] = [action for action in menu.actions() if action.text() == "Copy"]
    copy.trigger()
    assert QGuiApplication.clipboard().text() == copied
    shown = [[values.table_model.text(r, c) for c in range(len(rows[0]))] for r in range(len(rows))]
    assert shown == rows


def test_a_float32_scalar_reads_as_typed(window, wait_idle, precise_ckpt):
    window.open_path(precise_ckpt)
    assert window.select("precise/learning_rate")
    wait_idle(window)
    assert window.tensor_view.values.message.text() == "0.001"


def test_column_widths_fit_each_new_tensor(window, wait_idle, precise_ckpt):
    window.open_path(precise_ckpt)
    values = _show(window, wait_idle, "text/long_words")
    table = values.table
    wide = table.columnWidth(0)
    assert wide >= table.fontMetrics().horizontalAdvance("a" * 50)

    values = _show(window, wait_idle, "precise/float32")
    widths = [table.columnWidth(c) for c in range(3)]
    assert len(set(widths)) == 1 and widths[0] < wide / 3  # the text column's width is gone
    widest = max(table.fontMetrics().horizontalAdvance(t) for t in ("0.33333334", "123456.7"))
    assert widths[0] >= widest  # and every number fits

    table.setColumnWidth(1, 300)  # the user's width holds while the slice changes...
    values.reload()
    wait_idle(window)
    assert table.columnWidth(1) == 300
    values = _show(window, wait_idle, "precise/float16")  # ...not for the next tensor
    assert table.columnWidth(1) == table.columnWidth(0) < 300


def test_tab_and_shift_tab_leave_the_value_table(window, wait_idle, qtbot, precise_ckpt):
    window.open_path(precise_ckpt)
    values = _show(window, wait_idle, "precise/float32")
    window.activateWindow()
    qtbot.waitUntil(window.isActiveWindow)
    table = values.table
    table.setFocus()
    qtbot.waitUntil(lambda: QApplication.focusWidget() is table)
    table.setCurrentIndex(values.table_model.index(0, 0))

    qtbot.keyClick(table, Qt.Key.Key_Tab)
    after_tab = QApplication.focusWidget()
    assert after_tab is not None and after_tab is not table
    assert table.currentIndex().column() == 0  # Tab did not move to the next cell

    qtbot.keyClick(after_tab, Qt.Key.Key_Backtab, Qt.KeyboardModifier.ShiftModifier)
    assert QApplication.focusWidget() is table
    qtbot.keyClick(table, Qt.Key.Key_Backtab, Qt.KeyboardModifier.ShiftModifier)
    before = QApplication.focusWidget()
    assert before is not None and before is not table and before is not after_tab


def test_copy_from_the_table_keeps_the_selection_shape(window, wait_idle, precise_ckpt):
    window.open_path(precise_ckpt)
    values = _show(window, wait_idle, "precise/float32")
    model = values.table_model
    selection = QItemSelection(model.index(0, 1), model.index(1, 2))
    values.table.selectionModel().select(selection, QItemSelectionModel.SelectionFlag.Select)
    assert values.table.copy_selection() == "0.2\t0.3\n1e-08\t123456.7"
