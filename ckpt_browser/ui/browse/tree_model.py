"""The variable tree as a Qt item model over core's ScopeNode tree.

Qt asks for rows lazily (only expanded folders are visited), so the model registers a node's
children the first time Qt looks inside it; a checkpoint of 20,000 variables costs only its top
level up front. Indexes carry a small integer id instead of a Python object pointer, which keeps
them valid no matter what Python's garbage collector does.

Folders show the totals of everything below them; a tensor row shows its own dtype, shape,
element count and stored bytes. In TF1 a tensor can also be a folder (`w` with `w/Adam` under it):
that row shows the tensor and lists its slots as children.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from enum import IntEnum

from PySide6.QtCore import QAbstractItemModel, QModelIndex, QPersistentModelIndex, Qt
from PySide6.QtGui import QColor, QFont, QGuiApplication, QPalette
from PySide6.QtWidgets import QApplication, QStyle

from ckpt_browser.core.formatting import format_bytes, format_count, format_shape, plural
from ckpt_browser.core.scope_tree import ScopeNode, natural_key, parameters_of
from ckpt_browser.format import TensorKind
from ckpt_browser.ui.widgets.plain_text import plain_tooltip

AnyIndex = QModelIndex | QPersistentModelIndex

# Custom data roles: the node itself and the raw key, for the view and for copying.
NODE_ROLE = Qt.ItemDataRole.UserRole + 1
KEY_ROLE = Qt.ItemDataRole.UserRole + 2
SORT_ROLE = Qt.ItemDataRole.UserRole + 3


class Column(IntEnum):
    NAME = 0
    DTYPE = 1
    SHAPE = 2
    PARAMETERS = 3
    BYTES = 4
    KEY = 5


HEADERS = {
    Column.NAME: "Name",
    Column.DTYPE: "DType",
    Column.SHAPE: "Shape",
    Column.PARAMETERS: "Parameters",
    Column.BYTES: "Bytes",
    Column.KEY: "Key",
}
_RIGHT_ALIGNED = {Column.PARAMETERS, Column.BYTES}
# Rows of tensors the data files cannot hold: a red that stays legible on light and dark rows.
UNREADABLE_COLOR = QColor("#e0453a")


def node_parameters(node: ScopeNode) -> int:
    """Numeric elements of a row: the tensor's own for a tensor, the total below for a folder."""
    return parameters_of(node.info) if node.info is not None else node.parameters


def node_nbytes(node: ScopeNode) -> int:
    return node.info.nbytes if node.info is not None else node.nbytes


def _sort_keys() -> dict[Column, Callable[[ScopeNode], object]]:
    return {
        Column.NAME: lambda n: natural_key(n.name),
        Column.DTYPE: lambda n: (n.info.dtype.name if n.info else "", natural_key(n.name)),
        Column.SHAPE: lambda n: (n.info.shape if n.info else (), natural_key(n.name)),
        Column.PARAMETERS: lambda n: (node_parameters(n), natural_key(n.name)),
        Column.BYTES: lambda n: (node_nbytes(n), natural_key(n.name)),
        Column.KEY: lambda n: natural_key(n.info.name if n.info else n.path),
    }


class VariableTreeModel(QAbstractItemModel):
    """Read-only tree of scopes and tensors; sortable by any column (names in natural order)."""

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self._root: ScopeNode | None = None
        self._sort_column = Column.NAME
        self._sort_order = Qt.SortOrder.AscendingOrder
        self._reset_registry()
        style = QApplication.style() if QApplication.instance() else None
        self._folder_icon = style.standardIcon(QStyle.StandardPixmap.SP_DirIcon) if style else None
        self._tensor_icon = style.standardIcon(QStyle.StandardPixmap.SP_FileIcon) if style else None
        self._italic = QFont()
        self._italic.setItalic(True)
        self._unreadable: Mapping[str, str] = {}
        self._unreadable_below: dict[int, int] = {}
        self._warning_icon = (
            style.standardIcon(QStyle.StandardPixmap.SP_MessageBoxWarning) if style else None
        )

    # -- the tree ---------------------------------------------------------------------------------

    @property
    def root(self) -> ScopeNode | None:
        return self._root

    def set_unreadable(self, unreadable: Mapping[str, str]) -> None:
        """Mark these tensors (key -> why) as unreadable: a warning icon, red text, the reason.

        Takes effect with the next `set_root` (a new checkpoint always brings one).
        """
        self._unreadable = unreadable

    def unreadable_below(self, index: AnyIndex) -> int:
        """How many unreadable tensors lie below this row (a collapsed folder says so)."""
        node = self.node(index) if index.isValid() else None
        return self._unreadable_below.get(id(node), 0) if node is not None else 0

    def _count_unreadable_below(self) -> None:
        below: dict[int, int] = {}  # id(node) -> count, for the scopes above
        self._unreadable_below = below
        if not self._unreadable or self._root is None:
            return
        for leaf in self._root.tensors():
            if leaf.info.name in self._unreadable:  # type: ignore[union-attr]
                parent = leaf.parent
                while parent is not None and parent is not self._root:
                    below[id(parent)] = below.get(id(parent), 0) + 1
                    parent = parent.parent

    def unreadable_reason(self, index: AnyIndex) -> str | None:
        node = self.node(index) if index.isValid() else None
        return self._unreadable.get(node.info.name) if node and node.info else None

    def set_root(self, root: ScopeNode | None) -> None:
        """Show the tree under `root` (None for an empty view)."""
        self.beginResetModel()
        self._root = root
        self._reset_registry()
        self._count_unreadable_below()
        self.endResetModel()

    def node(self, index: AnyIndex) -> ScopeNode | None:
        if not index.isValid():
            return self._root
        return self._nodes[index.internalId()]

    def index_of_path(self, path: str) -> QModelIndex:
        """The index of the node at `path` ("a/b/c"), or an invalid index if not in the tree."""
        index = QModelIndex()
        node = self._root
        if node is None or not path:
            return index
        for depth in range(1, path.count("/") + 2):
            wanted = "/".join(path.split("/")[:depth])
            children = self._children(self._id_of(node))
            row = next((r for r, c in enumerate(children) if c.path == wanted), -1)
            if row < 0:
                return QModelIndex()
            index = self.index(row, 0, index)
            node = children[row]
        return index

    # -- Qt model interface -----------------------------------------------------------------------

    def index(self, row: int, column: int, parent: AnyIndex = QModelIndex()) -> QModelIndex:  # noqa: B008
        if self._root is None or column < 0 or column >= len(Column):
            return QModelIndex()
        parent_id = parent.internalId() if parent.isValid() else 0
        children = self._children(parent_id)
        if not 0 <= row < len(children):
            return QModelIndex()
        node_id = self._id_of(children[row], parent_id)
        self._rows[node_id] = row
        return self.createIndex(row, column, node_id)

    def parent(self, index: AnyIndex = QModelIndex()) -> QModelIndex:  # noqa: B008
        if not index.isValid():
            return QModelIndex()
        parent_id = self._parent_of[index.internalId()]
        if parent_id == 0:
            return QModelIndex()
        grandparent_id = self._parent_of[parent_id]
        row = self._row_in_parent(parent_id, grandparent_id)
        return self.createIndex(row, 0, parent_id)

    def rowCount(self, parent: AnyIndex = QModelIndex()) -> int:  # noqa: B008
        if self._root is None or (parent.isValid() and parent.column() != 0):
            return 0
        node = self.node(parent)
        return len(node.children) if node is not None else 0

    def hasChildren(self, parent: AnyIndex = QModelIndex()) -> bool:  # noqa: B008
        return self.rowCount(parent) > 0

    def columnCount(self, parent: AnyIndex = QModelIndex()) -> int:  # noqa: B008
        return len(Column)

    def headerData(
        self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole
    ) -> object:
        if orientation != Qt.Orientation.Horizontal:
            return None
        if role == Qt.ItemDataRole.DisplayRole:
            return HEADERS[Column(section)]
        if role == Qt.ItemDataRole.TextAlignmentRole and section in _RIGHT_ALIGNED:
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        return None

    def data(self, index: AnyIndex, role: int = Qt.ItemDataRole.DisplayRole) -> object:
        if not index.isValid():
            return None
        node = self._nodes[index.internalId()]
        column = Column(index.column())
        if role == Qt.ItemDataRole.DisplayRole:
            return self._display(node, column)
        unreadable = self._unreadable.get(node.info.name) if node.info is not None else None
        below = self._unreadable_below.get(id(node), 0)
        if role == Qt.ItemDataRole.ToolTipRole:
            tooltip = self._tooltip(node)
            if below:
                tooltip = f"{plural(below, 'tensor')} below cannot be read\n{tooltip}"
            if unreadable:
                tooltip = f"Cannot be read: {unreadable}\n{tooltip}"
            return plain_tooltip(tooltip)
        if role == Qt.ItemDataRole.TextAlignmentRole and column in _RIGHT_ALIGNED:
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        if role == Qt.ItemDataRole.DecorationRole and column == Column.NAME:
            if unreadable or below:
                return self._warning_icon
            return self._tensor_icon if node.info is not None else self._folder_icon
        if role == Qt.ItemDataRole.ForegroundRole and unreadable:
            return UNREADABLE_COLOR
        kind = node.info.kind if node.info is not None else None
        if role == Qt.ItemDataRole.ForegroundRole and kind not in (None, TensorKind.VARIABLE):
            # optimizer state, EMA shadows, counters: greyed, so the model stands out
            return QGuiApplication.palette().color(
                QPalette.ColorGroup.Disabled, QPalette.ColorRole.Text
            )
        if role == Qt.ItemDataRole.FontRole and kind == TensorKind.EMA:
            return self._italic
        if role == NODE_ROLE:
            return node
        if role == KEY_ROLE:
            return node.info.name if node.info is not None else node.path
        return None

    def flags(self, index: AnyIndex) -> Qt.ItemFlag:
        if not index.isValid():
            return Qt.ItemFlag.NoItemFlags
        return Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable

    def sort(self, column: int, order: Qt.SortOrder = Qt.SortOrder.AscendingOrder) -> None:
        """Re-sort every level by `column` (a reset; the view restores what was expanded)."""
        self.beginResetModel()
        self._sort_column = Column(column)
        self._sort_order = order
        self._reset_registry()
        self.endResetModel()

    # -- bookkeeping ------------------------------------------------------------------------------

    def _reset_registry(self) -> None:
        # Id 0 is the root. Every other node gets an id when Qt first sees it through index().
        self._nodes: list[ScopeNode | None] = [self._root]
        self._parent_of: list[int] = [0]
        self._ids: dict[int, int] = {id(self._root): 0} if self._root is not None else {}
        self._sorted_children: dict[int, list[ScopeNode]] = {}
        self._rows: dict[int, int] = {}

    def _children(self, node_id: int) -> list[ScopeNode]:
        children = self._sorted_children.get(node_id)
        if children is None:
            node = self._nodes[node_id]
            children = list(node.children) if node is not None else []
            if self._sort_column != Column.NAME or self._sort_order != Qt.SortOrder.AscendingOrder:
                # core already gives children in natural name order; anything else is sorted here
                children.sort(
                    key=_sort_keys()[self._sort_column],
                    reverse=self._sort_order == Qt.SortOrder.DescendingOrder,
                )
            self._sorted_children[node_id] = children
        return children

    def _id_of(self, node: ScopeNode, parent_id: int = 0) -> int:
        node_id = self._ids.get(id(node))
        if node_id is None:
            node_id = len(self._nodes)
            self._nodes.append(node)
            self._parent_of.append(parent_id)
            self._ids[id(node)] = node_id
        return node_id

    def _row_in_parent(self, node_id: int, parent_id: int) -> int:
        row = self._rows.get(node_id)
        if row is None:
            for r, child in enumerate(self._children(parent_id)):
                child_id = self._ids.get(id(child))
                if child_id is not None:
                    self._rows[child_id] = r
            row = self._rows[node_id]
        return row

    @staticmethod
    def _display(node: ScopeNode, column: Column) -> str:
        info = node.info
        if column == Column.NAME:
            return node.name
        if column == Column.DTYPE:
            return info.dtype.name if info is not None else ""
        if column == Column.SHAPE:
            return format_shape(info.shape) if info is not None else ""
        if column == Column.PARAMETERS:
            if info is not None and not info.dtype.is_fixed_size and not node.children:
                return ""  # strings and variants hold data, not parameters
            return format_count(node_parameters(node))
        if column == Column.BYTES:
            return format_bytes(node_nbytes(node))
        return info.name if info is not None else ""

    @staticmethod
    def _tooltip(node: ScopeNode) -> str:
        info = node.info
        if info is None:
            return (
                f"{node.path}\n{plural(node.leaf_count, 'tensor')}, "
                f"{plural(node.parameters, 'parameter')}, {format_bytes(node.nbytes)}"
            )
        lines = [f"key: {info.name}"]
        if info.readable_name != info.name:
            lines.append(f"object path: {info.readable_name}")
        lines.append(f"{info.dtype.name} {format_shape(info.shape)}, kind: {info.kind.value}")
        if info.slot_of:
            lines.append(f"slot of: {info.slot_of}")
        if info.partitioned:
            lines.append("partitioned (assembled from its slices)")
        return "\n".join(lines)
