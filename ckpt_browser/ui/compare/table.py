"""The table of the compare view: one row per name, its status and distances, colour-coded.

Rows are appended as the comparison produces them. Sorting goes through a proxy on a numeric
sort value per cell (the Status column sorts "most changed first", as `ckpt-browser diff` lists),
and the proxy also filters by status and by a piece of the name.
"""

from __future__ import annotations

from collections.abc import Iterable

from PySide6.QtCore import (
    QAbstractTableModel,
    QModelIndex,
    QPersistentModelIndex,
    QSortFilterProxyModel,
    Qt,
)
from PySide6.QtGui import QBrush, QColor, QGuiApplication, QPalette

from ckpt_browser.core.compare.checkpoints import Status, TensorComparison
from ckpt_browser.core.compare.report import describe_difference, format_distance
from ckpt_browser.core.formatting import format_shape, plural

AnyIndex = QModelIndex | QPersistentModelIndex
SORT_ROLE = Qt.ItemDataRole.UserRole + 1
STATUS_ROLE = Qt.ItemDataRole.UserRole + 2

# (key, heading, tooltip). Name, status and the headline distance come first, so they stay in
# sight when the other distances scroll. The headline is relative L2: it does not depend on the
# tensor's scale (max |a−b| of a step counter and of a bias are not comparable) and it is what
# "most changed first" ranks changed values by (`TensorComparison.change_score`).
COLUMNS = (
    ("name", "Name", "The aligned name (TF2: object path); the keys are in the tooltip"),
    ("status", "Status", "Click to sort most changed first"),
    ("rel_l2", "Rel. L2", "‖a−b‖ / ‖a‖: how much the tensor moved, whatever its scale"),
    ("max_abs_diff", "Max |a−b|", "Largest absolute difference"),
    ("where", "At", "Where the largest difference is"),
    ("shape", "Shape", "Shape (A -> B when it changed)"),
    ("dtype", "Dtype", "Dtype (A -> B when it changed)"),
    ("mean_abs_diff", "Mean |a−b|", "Mean absolute difference"),
    ("rms_diff", "RMS(a−b)", "Root mean square of the difference"),
    ("cosine", "Cosine", "Cosine similarity of A and B"),
    ("mismatch_fraction", "Mismatch", "Share of elements not equal (not close, with tolerances)"),
)
COLUMN_KEYS = tuple(key for key, _, _ in COLUMNS)
DISTANCE_COLUMNS = ("max_abs_diff", "mean_abs_diff", "rms_diff", "rel_l2", "cosine")
KEY_COLUMNS = ("name", "status", "rel_l2")  # kept in sight without scrolling
# The order a first click on a heading sorts by: the most changed first in every distance (for
# cosine, the least similar; for status, structural changes then the largest values' changes).
INITIAL_ORDER = {
    key: Qt.SortOrder.DescendingOrder
    for key in ("max_abs_diff", "mean_abs_diff", "rms_diff", "rel_l2", "mismatch_fraction")
}

# Translucent, so the same colours read on light and dark palettes.
STATUS_COLORS = {
    Status.CHANGED: QColor(230, 150, 0, 80),
    Status.ADDED: QColor(40, 170, 70, 80),
    Status.REMOVED: QColor(220, 50, 50, 80),
    Status.SHAPE_CHANGED: QColor(150, 80, 220, 80),
    Status.DTYPE_CHANGED: QColor(150, 80, 220, 80),
}
STATUS_LABELS = {
    Status.SAME: "same",
    Status.CHANGED: "changed",
    Status.ADDED: "added",
    Status.REMOVED: "removed",
    Status.SHAPE_CHANGED: "shape changed",
    Status.DTYPE_CHANGED: "dtype changed",
}


class CompareTableModel(QAbstractTableModel):
    """The comparison results as rows; `append` adds them as they arrive."""

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self._items: list[TensorComparison] = []
        # Sort values per row, worked out once: the proxy asks for them O(n log n) times.
        self._sort_values: list[tuple[object, ...]] = []

    @property
    def items(self) -> list[TensorComparison]:
        return self._items

    def append(self, items: Iterable[TensorComparison]) -> None:
        items = list(items)
        if not items:
            return
        first = len(self._items)
        self.beginInsertRows(QModelIndex(), first, first + len(items) - 1)
        self._items.extend(items)
        self._sort_values.extend(tuple(sort_value(i, key) for key in COLUMN_KEYS) for i in items)
        self.endInsertRows()

    def sort(self, column: int, order: Qt.SortOrder = Qt.SortOrder.AscendingOrder) -> None:
        """Reorder the rows by `column`, in Python: Qt's own sorting calls back into Python for
        every comparison, seconds for 20,000 rows. Rows without a value (a distance that was not
        computed) go last in either order. Selections follow their rows."""
        if not 0 <= column < len(COLUMNS) or not self._items:
            return
        keys = [(values[column], values[0]) for values in self._sort_values]
        present = [row for row, key in enumerate(keys) if key[0] is not None]
        missing = [row for row, key in enumerate(keys) if key[0] is None]
        order_of_rows = sorted(
            present, key=keys.__getitem__, reverse=order == Qt.SortOrder.DescendingOrder
        ) + sorted(missing, key=lambda row: keys[row][1])
        self.layoutAboutToBeChanged.emit()
        new_row = {old: new for new, old in enumerate(order_of_rows)}
        persistent = self.persistentIndexList()
        moved = [self.index(new_row[index.row()], index.column()) for index in persistent]
        self._items = [self._items[row] for row in order_of_rows]
        self._sort_values = [self._sort_values[row] for row in order_of_rows]
        self.changePersistentIndexList(persistent, moved)
        self.layoutChanged.emit()

    def clear(self) -> None:
        self.beginResetModel()
        self._items = []
        self._sort_values = []
        self.endResetModel()

    def item(self, row: int) -> TensorComparison:
        return self._items[row]

    def row_of(self, name: str) -> int | None:
        for row, item in enumerate(self._items):
            if item.name == name:
                return row
        return None

    # -- Qt model ---------------------------------------------------------------------------------

    def rowCount(self, parent: AnyIndex = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self._items)

    def columnCount(self, parent: AnyIndex = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(COLUMNS)

    def headerData(self, section: int, orientation: Qt.Orientation, role: int = 0):
        if orientation != Qt.Orientation.Horizontal or not 0 <= section < len(COLUMNS):
            return None
        if role == Qt.ItemDataRole.DisplayRole:
            return COLUMNS[section][1]
        if role == Qt.ItemDataRole.ToolTipRole:
            return COLUMNS[section][2]
        if role == Qt.ItemDataRole.InitialSortOrderRole:
            return INITIAL_ORDER.get(COLUMN_KEYS[section], Qt.SortOrder.AscendingOrder)
        return None

    def data(self, index: AnyIndex, role: int = 0):
        if not index.isValid():
            return None
        if role == SORT_ROLE:  # first: sorting asks for this more than for anything else
            return self._sort_values[index.row()][index.column()]
        item = self._items[index.row()]
        key = COLUMN_KEYS[index.column()]
        if role == Qt.ItemDataRole.DisplayRole:
            return cell_text(item, key)
        if role == STATUS_ROLE:
            return item.status.value
        if role == Qt.ItemDataRole.BackgroundRole and key in ("name", "status"):
            color = STATUS_COLORS.get(item.status)
            return QBrush(color) if color is not None else None
        if role == Qt.ItemDataRole.ForegroundRole and item.status is Status.SAME:
            return QGuiApplication.palette().brush(QPalette.ColorRole.PlaceholderText)
        if role == Qt.ItemDataRole.ToolTipRole:
            return tooltip(item)
        if role == Qt.ItemDataRole.TextAlignmentRole and key not in ("name", "status"):
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        return None


def cell_text(item: TensorComparison, key: str) -> str:
    """What one cell shows."""
    if key == "name":
        return item.name
    if key == "status":
        return STATUS_LABELS[item.status]
    if key == "shape":
        return _either_side(item.shape_a, item.shape_b, format_shape)
    if key == "dtype":
        return _either_side(item.dtype_a, item.dtype_b, str)
    if key == "where":  # where the largest difference is; nowhere when nothing differs
        index = item.distance("max_abs_diff_index")
        if not index or not item.distance("max_abs_diff"):
            return ""
        return "[" + ", ".join(str(i) for i in index) + "]"
    return format_distance(key, item.distance(key))


def sort_value(item: TensorComparison, key: str) -> object:
    """A value the column sorts by: numbers for distances, None where there is none."""
    if key == "name":
        return item.name
    if key == "status":
        return item.order_value
    if key in ("shape", "dtype", "where"):
        return cell_text(item, key)
    value = item.distance(key)
    return None if value is None else float(value)


def tooltip(item: TensorComparison) -> str:
    lines = [item.name]
    for side, info in (("A", item.a), ("B", item.b)):
        if info is not None:
            lines.append(f"{side}: {info.name}  ({info.dtype.name} {format_shape(info.shape)})")
        else:
            lines.append(f"{side}: —")
    structural = describe_difference(item)
    if structural:
        lines.append(structural)
    distances = item.distances
    if distances is not None and distances.nonfinite_mismatches:
        unmatched = plural(distances.nonfinite_mismatches, "position")
        lines.append(f"{unmatched} with unmatched NaN/Inf")
    return "\n".join(lines)


def _either_side(a: object, b: object, text) -> str:
    if a is None:
        return text(b)
    if b is None or a == b:
        return text(a)
    return f"{text(a)} → {text(b)}"


class CompareFilterProxy(QSortFilterProxyModel):
    """Keeps rows whose status is shown and whose name holds the text; sorting is left to the
    table model (`CompareTableModel.sort`), so rows show in the model's order."""

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self._statuses: frozenset[str] = frozenset(status.value for status in Status)
        self._text = ""
        self.setSortRole(SORT_ROLE)
        self.setDynamicSortFilter(False)

    def sort(self, column: int, order: Qt.SortOrder = Qt.SortOrder.AscendingOrder) -> None:
        model = self.sourceModel()
        if model is not None:
            model.sort(column, order)

    def set_statuses(self, statuses: Iterable[str]) -> None:
        self._begin_filter_change()
        self._statuses = frozenset(statuses)
        self._end_filter_change()

    def set_text(self, text: str) -> None:
        self._begin_filter_change()
        self._text = text.casefold()
        self._end_filter_change()

    # Qt 6.9 added begin/endFilterChange and later deprecated invalidateFilter; older Qt has only
    # the latter.
    def _begin_filter_change(self) -> None:
        if hasattr(self, "beginFilterChange"):
            self.beginFilterChange()

    def _end_filter_change(self) -> None:
        if hasattr(self, "endFilterChange"):
            self.endFilterChange(QSortFilterProxyModel.Direction.Rows)
        else:
            self.invalidateFilter()

    def filterAcceptsRow(self, source_row: int, source_parent: AnyIndex) -> bool:
        model = self.sourceModel()
        if not isinstance(model, CompareTableModel):
            return True
        item = model.item(source_row)
        if item.status.value not in self._statuses:
            return False
        return not self._text or self._text in item.name.casefold()
