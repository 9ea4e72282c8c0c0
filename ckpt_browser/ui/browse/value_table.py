"""The numbers of a 2-D slice as a table, formatted on demand and copyable as tab-separated text.

The model formats only the cells the view asks for, so a slice of millions of values costs nothing
until it is scrolled to. Headers show each row's and column's index along its tensor axis. A
number reads (in the "auto" notation, in tooltips and when copied) as the shortest text that gives
back the same value of the dtype the checkpoint stores: float32 0.1 is `0.1`.
"""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QAbstractTableModel, QModelIndex, QPersistentModelIndex, Qt
from PySide6.QtGui import QGuiApplication, QKeySequence
from PySide6.QtWidgets import QAbstractItemView, QMenu, QMessageBox, QTableView, QWidget

from ckpt_browser.core.formatting import NOTATIONS, format_number, shortest_text
from ckpt_browser.ui.widgets.plain_text import plain_tooltip

MAX_COPY_CELLS = 1_000_000  # beyond this the clipboard text runs into hundreds of megabytes
# Cells measured to size the columns of a new tensor, spread over the whole slice: formatting
# and measuring this many takes about 10 ms.
# Formatting a cell costs ~12 us of Python in the GUI thread, where a worker competes for the GIL:
# 400 cells keep fitting the columns to a few ms, not a visible stall.
WIDTH_SAMPLE_CELLS = 400

AnyIndex = QModelIndex | QPersistentModelIndex


# Control characters would draw as boxes or break a cell (and tab-separated copies) into pieces;
# they are shown as escapes, as bytes that are not UTF-8 already are (`\xff`).
_CONTROL_ESCAPES = {code: f"\\x{code:02x}" for code in (*range(0x20), *range(0x7F, 0xA0))} | {
    ord("\n"): "\\n",
    ord("\t"): "\\t",
    ord("\r"): "\\r",
}


def exact_text(value: object, stored_dtype: np.dtype | None = None) -> str:
    """The full-precision text of one value, for cells, tooltips and the clipboard."""
    if isinstance(value, (bytes, bytearray)):
        value = bytes(value).decode("utf-8", errors="backslashreplace")
    if isinstance(value, str):
        return value.translate(_CONTROL_ESCAPES)
    return shortest_text(value, stored_dtype)


class ValueTableModel(QAbstractTableModel):
    """A read-only table over a 2-D numpy array (numbers or text)."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._values = np.zeros((0, 0))
        self._stored_dtype: np.dtype | None = None
        self._notation = "auto"
        self._digits = 6

    @property
    def values(self) -> np.ndarray:
        return self._values

    @property
    def notation(self) -> str:
        return self._notation

    def set_values(self, values: np.ndarray, stored_dtype: np.dtype | None = None) -> None:
        """Show `values` (0-D and 1-D become one column).

        `stored_dtype` is the checkpoint's dtype when `values` were widened for display
        (bfloat16 shown as float32): exact texts are written in it.
        """
        values = np.asarray(values)
        if values.ndim == 0:
            values = values.reshape(1, 1)
        elif values.ndim == 1:
            values = values.reshape(-1, 1)
        elif values.ndim != 2:
            raise ValueError(f"the value table shows 2-D slices, not {values.ndim}-D")
        self.beginResetModel()
        self._values = values
        self._stored_dtype = stored_dtype
        self.endResetModel()

    def set_notation(self, notation: str, digits: int | None = None) -> None:
        if notation not in NOTATIONS:
            raise ValueError(f"unknown notation {notation!r}; use one of {', '.join(NOTATIONS)}")
        self._notation = notation
        if digits is not None:
            self._digits = digits
        if self._values.size:
            self.dataChanged.emit(
                self.index(0, 0), self.index(self.rowCount() - 1, self.columnCount() - 1)
            )

    def rowCount(self, parent: AnyIndex = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else self._values.shape[0]

    def columnCount(self, parent: AnyIndex = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else self._values.shape[1]

    def text(self, row: int, column: int) -> str:
        """The cell as displayed (in the current notation)."""
        value = self._values[row, column]
        if self._values.dtype.kind in "OUS" or self._notation == "auto":
            return self.exact_text(row, column)
        return format_number(value, notation=self._notation, digits=self._digits)

    def exact_text(self, row: int, column: int) -> str:
        """The cell's value in full: what a tooltip shows and Copy puts on the clipboard."""
        return exact_text(self._values[row, column], self._stored_dtype)

    def data(self, index: AnyIndex, role: int = Qt.ItemDataRole.DisplayRole) -> object:
        if not index.isValid():
            return None
        if role == Qt.ItemDataRole.DisplayRole:
            return self.text(index.row(), index.column())
        if role == Qt.ItemDataRole.ToolTipRole:
            return plain_tooltip(self.exact_text(index.row(), index.column()))
        if role == Qt.ItemDataRole.TextAlignmentRole and self._values.dtype.kind not in "OUS":
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        return None

    def headerData(
        self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole
    ) -> object:
        if role == Qt.ItemDataRole.DisplayRole:
            return str(section)
        return None

    def sample_texts(self, cells: int = WIDTH_SAMPLE_CELLS) -> list[str]:
        """Cell texts from rows and columns spread evenly over the slice, for sizing columns."""
        rows, columns = self._values.shape
        if rows == 0 or columns == 0:
            return []
        picked_columns = np.unique(
            np.linspace(0, columns - 1, num=min(columns, int(cells**0.5)), dtype=np.int64)
        )
        # The first rows (what the user sees first) and rows spread over the rest.
        per_column = max(1, cells // len(picked_columns))
        spread = np.linspace(0, rows - 1, num=min(rows, per_column // 2 + 1), dtype=np.int64)
        first = np.arange(min(rows, per_column // 2 + 1))
        picked_rows = np.unique(np.concatenate([first, spread]))
        return [self.text(int(r), int(c)) for r in picked_rows for c in picked_columns]

    def selection_text(self, ranges: list[tuple[int, int, int, int]]) -> str:
        """Tab-separated exact values of the selected cells, over the bounding box of `ranges`.

        Each range is (top, left, bottom, right), inclusive. Cells in the box but outside every
        range stay empty, so a pasted block keeps its shape.
        """
        if not ranges:
            return ""
        top = min(r[0] for r in ranges)
        left = min(r[1] for r in ranges)
        bottom = max(r[2] for r in ranges)
        right = max(r[3] for r in ranges)
        if (bottom - top + 1) * (right - left + 1) > MAX_COPY_CELLS:
            raise ValueError(
                f"the selection has more than {MAX_COPY_CELLS:,} cells; export the tensor instead"
            )

        def selected(row: int, column: int) -> bool:
            return any(t <= row <= b and l_ <= column <= r for t, l_, b, r in ranges)

        lines = []
        for row in range(top, bottom + 1):
            cells = [
                self.exact_text(row, column) if selected(row, column) else ""
                for column in range(left, right + 1)
            ]
            lines.append("\t".join(cells))
        return "\n".join(lines)


class ValueTableView(QTableView):
    """A table view with Ctrl+C (and a context menu entry) copying the selection.

    Tab and Shift+Tab leave the table for the next and previous widget, as everywhere else in the
    window; the arrow keys move between cells.
    """

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.setTabKeyNavigation(False)
        self.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.customContextMenuRequested.connect(self._show_menu)
        self.horizontalHeader().setDefaultSectionSize(96)
        self.verticalHeader().setDefaultSectionSize(self.fontMetrics().height() + 6)

    def fit_columns(self, max_width: int = 480, max_text_columns: int = 50) -> None:
        """Size every column for the values now shown, forgetting the widths of the last tensor.

        Numbers get one width that fits the widest of a sample of cells; text columns (the first
        `max_text_columns`) are each fitted to their contents. No column is wider than `max_width`.
        """
        model = self.model()
        if not isinstance(model, ValueTableModel):
            return
        header = self.horizontalHeader()
        metrics = header.fontMetrics()
        texts = [*model.sample_texts(), str(max(model.columnCount() - 1, 0))]
        padding = 2 * self.style().pixelMetric(self.style().PixelMetric.PM_HeaderMargin) + 8
        longest = sorted(texts, key=len)[-16:]  # the widest is among them: digits, signs, dots
        widest = max(metrics.horizontalAdvance(text) for text in longest) + padding
        # setDefaultSectionSize resizes every section, the ones the last tensor widened too.
        header.setDefaultSectionSize(min(max(widest, 48), max_width))
        if model.values.dtype.kind in "OUS":
            for column in range(min(model.columnCount(), max_text_columns)):
                self.resizeColumnToContents(column)
                header.resizeSection(column, min(header.sectionSize(column), max_width))

    def copy_selection(self) -> str:
        model = self.model()
        if not isinstance(model, ValueTableModel):
            return ""
        ranges = [
            (r.top(), r.left(), r.bottom(), r.right()) for r in self.selectionModel().selection()
        ]
        try:
            text = model.selection_text(ranges)
        except ValueError as too_large:
            QMessageBox.information(self, "Copy", str(too_large))
            return ""
        if text:
            QGuiApplication.clipboard().setText(text)
        return text

    def keyPressEvent(self, event) -> None:
        if event.matches(QKeySequence.StandardKey.Copy):
            self.copy_selection()
            event.accept()
            return
        super().keyPressEvent(event)

    def context_menu(self) -> QMenu:
        menu = QMenu(self)
        action = menu.addAction("Copy")
        action.setShortcut(QKeySequence.StandardKey.Copy)
        action.triggered.connect(self.copy_selection)
        return menu

    def _show_menu(self, position) -> None:
        self.context_menu().exec(self.viewport().mapToGlobal(position))
