"""The compare table as the user sees it: name, status and the headline distances in sight.

Columns fit their contents, except the name column, which takes what the viewport has left once
Status, Rel. L2 and Max |a−b| have theirs (never less than NAME_MIN_WIDTH). Long names are elided
in the middle, where scopes repeat, so both the top scope and the variable stay readable; the
whole name is in the row's tooltip. The other distances scroll. Once the user drags the name
column's edge, their width is kept.
"""

from __future__ import annotations

from PySide6.QtCore import QEvent, QItemSelectionModel, QModelIndex, QObject, Qt
from PySide6.QtWidgets import QAbstractItemView, QHeaderView, QTableView, QWidget

from ckpt_browser.ui.compare.table import COLUMN_KEYS

FIT_ROWS = 200  # column widths fit the contents of this many rows (all of 20,000 take seconds)
NAME_MIN_WIDTH = 160
IN_SIGHT = ("status", "rel_l2", "max_abs_diff")  # beside the name, visible without scrolling
NAME_COLUMN = COLUMN_KEYS.index("name")
STATUS_COLUMN = COLUMN_KEYS.index("status")


class CompareTableView(QTableView):
    """Rows of names, one selected; sorting by a heading, most changed first by default."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.setTextElideMode(Qt.TextElideMode.ElideMiddle)
        self.setWordWrap(False)
        self.verticalHeader().setVisible(False)
        self.verticalHeader().setDefaultSectionSize(22)
        header = self.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        header.sectionResized.connect(self._on_section_resized)
        self._name_content_width = 0  # 0 until the columns were fitted to some rows
        self._name_width_by_user = False
        self._fitting = False
        self.viewport().installEventFilter(self)

    def sort_most_changed_first(self) -> None:
        """Sort by status, as `ckpt-browser diff` lists: structural changes, then values by how
        much they moved, then the names that are the same; the current row stays in sight."""
        self.setSortingEnabled(True)
        self.sortByColumn(STATUS_COLUMN, Qt.SortOrder.AscendingOrder)
        if self.currentIndex().isValid():
            self.scrollTo(self.currentIndex())
        else:
            self.scrollToTop()

    def select_row(self, index: QModelIndex) -> None:
        """Make the row of `index` current and selected, and scroll to it."""
        flags = QItemSelectionModel.SelectionFlag
        self.selectionModel().setCurrentIndex(index, flags.ClearAndSelect | flags.Rows)
        self.scrollTo(index)

    def fit_columns(self) -> None:
        """Columns as wide as the heading and the first FIT_ROWS shown rows, then the name
        column as wide as the viewport allows. Measured here: QTableView.resizeColumnsToContents
        looks at every row, seconds for a model of 20,000 tensors."""
        model = self.model()
        if model is None:
            return
        metrics = self.fontMetrics()
        header = self.horizontalHeader()
        rows = min(model.rowCount(), FIT_ROWS)
        self._fitting = True
        try:
            for column in range(model.columnCount()):
                texts = [model.index(row, column).data() or "" for row in range(rows)]
                heading = model.headerData(column, Qt.Orientation.Horizontal)
                widest = max(metrics.horizontalAdvance(text) for text in [heading, *texts])
                width = max(widest + 16, header.sectionSizeHint(column))
                if column == NAME_COLUMN:
                    self._name_content_width = width
                else:
                    self.setColumnWidth(column, width)
        finally:
            self._fitting = False
        self.fit_name_column()

    def fit_name_column(self) -> None:
        """The name column as wide as its contents, or as the room the columns kept in sight
        leave in the viewport, whichever is less (unless the user set its width)."""
        if self._name_width_by_user or not self._name_content_width:
            return
        kept = sum(self.columnWidth(COLUMN_KEYS.index(key)) for key in IN_SIGHT)
        room = self.viewport().width() - kept
        width = max(NAME_MIN_WIDTH, min(self._name_content_width, room))
        if width != self.columnWidth(NAME_COLUMN):
            self._fitting = True
            try:
                self.setColumnWidth(NAME_COLUMN, width)
            finally:
                self._fitting = False

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if watched is self.viewport() and event.type() == QEvent.Type.Resize:
            self.fit_name_column()
        return super().eventFilter(watched, event)

    def _on_section_resized(self, column: int, _old: int, _new: int) -> None:
        if column == NAME_COLUMN and not self._fitting:
            self._name_width_by_user = True
