"""The mapping table: one row per output name, with its source, shapes, dtypes and status.

Filtering happens here, over the plan's plain Python rows, rather than in a
QSortFilterProxyModel: a proxy asks Python for every row's data through Qt, which is slow for tens
of thousands of names, while a list comprehension over the rows takes a few milliseconds.
"""

from __future__ import annotations

from PySide6.QtCore import QAbstractTableModel, QModelIndex, QPersistentModelIndex, Qt
from PySide6.QtGui import QColor

from ckpt_browser.core.formatting import format_shape
from ckpt_browser.core.remap.plan import WRITTEN_STATUSES, Plan, Row, Status

COLUMNS = (
    "Target name",
    "Source",
    "Source shape",
    "Target shape",
    "Source dtype",
    "Target dtype",
    "Status",
)
STATUS_COLUMN = len(COLUMNS) - 1

# What the status filter offers: label -> test of a row.
STATUS_FILTERS = {
    "All names": lambda row: True,
    "Problems": lambda row: not row.written,
    "Missing": lambda row: row.status is Status.MISSING,
    "Shape mismatch": lambda row: Status.SHAPE in (row.status, *row.also),
    "Dtype mismatch": lambda row: Status.DTYPE in (row.status, *row.also),
    "Two sources": lambda row: row.status is Status.DUPLICATE,
    "Cast or reshaped": lambda row: row.status in (Status.CAST, Status.RESHAPE),
    "From the template": lambda row: row.status is Status.TEMPLATE,
    "Decided by hand": lambda row: row.by_hand,
}

_ERROR_COLOR = QColor(214, 48, 49)
_NOTE_COLOR = QColor(225, 140, 0)

Index = QModelIndex | QPersistentModelIndex


class MappingTableModel(QAbstractTableModel):
    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self._plan: Plan | None = None
        self._several_sources = False
        self._rows: list[Row] = []
        self._text = ""
        self._status_filter = "All names"

    # -- what is shown ----------------------------------------------------------------------------

    def set_plan(self, plan: Plan | None, several_sources: bool = False) -> None:
        self._plan = plan
        self._several_sources = several_sources
        self._refilter()

    def set_filter(self, text: str | None = None, status: str | None = None) -> None:
        if text is not None:
            self._text = text.strip().lower()
        if status is not None:
            self._status_filter = status
        self._refilter()

    def row_at(self, row: int) -> Row | None:
        return self._rows[row] if 0 <= row < len(self._rows) else None

    def row_of(self, name: str) -> int:
        for number, row in enumerate(self._rows):
            if row.name == name:
                return number
        return -1

    @property
    def shown(self) -> int:
        return len(self._rows)

    def _refilter(self) -> None:
        rows = self._plan.rows if self._plan is not None else []
        test = STATUS_FILTERS.get(self._status_filter, STATUS_FILTERS["All names"])
        text = self._text
        self.beginResetModel()
        self._rows = [
            row
            for row in rows
            if test(row)
            and (not text or text in row.name.lower() or text in self._source_text(row).lower())
        ]
        self.endResetModel()

    # -- Qt model ---------------------------------------------------------------------------------

    def rowCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008 (Qt's signature)
        return 0 if parent.isValid() else len(self._rows)

    def columnCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(COLUMNS)

    def headerData(self, section: int, orientation: Qt.Orientation, role: int = 0) -> object:
        if orientation == Qt.Orientation.Horizontal and role == Qt.ItemDataRole.DisplayRole:
            return COLUMNS[section]
        return None

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> object:
        if not index.isValid():
            return None
        row = self._rows[index.row()]
        column = index.column()
        if role == Qt.ItemDataRole.DisplayRole:
            return self._cell(row, column)
        if role == Qt.ItemDataRole.ToolTipRole:  # the whole name, which a narrow column cuts
            text = self._cell(row, column) if column < 2 else ""
            return "\n".join(part for part in (text, row.detail) if part) or None
        if role == Qt.ItemDataRole.ForegroundRole and column == STATUS_COLUMN:
            if not row.written:
                return _ERROR_COLOR
            if row.status is not Status.OK:
                return _NOTE_COLOR
        return None

    def _cell(self, row: Row, column: int) -> str:
        if column == 0:
            return row.name
        if column == 1:
            return self._source_text(row)
        if column == 2:
            return _shape(row.source_shape)
        if column == 3:
            return _shape(row.target_shape)
        if column == 4:
            return row.source_dtype or ""
        if column == 5:
            return row.target_dtype or ""
        text = str(row.status)
        if row.by_hand:
            text += " (by hand)"
        return text

    def _source_text(self, row: Row) -> str:
        if row.status is Status.TEMPLATE:
            return "(template value)"
        if not row.sources:
            return ""
        parts = []
        for ref in row.sources:
            parts.append(f"{ref.key} [{ref.source + 1}]" if self._several_sources else ref.key)
        return " + ".join(parts)


def _shape(shape: tuple[int, ...] | None) -> str:
    return format_shape(shape) if shape is not None else ""


__all__ = ["COLUMNS", "STATUS_FILTERS", "WRITTEN_STATUSES", "MappingTableModel"]
