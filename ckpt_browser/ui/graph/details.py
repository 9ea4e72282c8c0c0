"""The tabs under the graph drawing: the selected node's properties and the variables list.

Properties of an op: op type, kind, device, the checkpoint key it is saved under, its inputs
and outputs (double-click one to go there) and its attributes (dtypes, shapes, tensor values).
The variables list puts the graph's variables beside the checkpoint's keys and says which side
lacks which, the usual reason a restore fails.
"""

from __future__ import annotations

from collections.abc import Mapping

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QBrush, QColor
from PySide6.QtWidgets import QAbstractItemView, QHeaderView, QTreeWidget, QTreeWidgetItem, QWidget

from ckpt_browser.core.formatting import format_shape, plural
from ckpt_browser.core.graph.link import VariableLink
from ckpt_browser.core.graph.model import GraphModel, ItemKind
from ckpt_browser.format import TensorInfo
from ckpt_browser.ui.widgets.plain_text import plain_tooltip

NAME_ROLE = Qt.ItemDataRole.UserRole + 1  # a node name or checkpoint key to go to
MISSING_COLOUR = QColor("#d3302f")
MAX_LISTED = 200  # inputs or outputs listed under one node


class PropertiesView(QTreeWidget):
    """Key-value rows for the selected item; emits the name of a node the user double-clicks."""

    node_chosen = Signal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setColumnCount(2)
        self.setHeaderLabels(["Property", "Value"])
        self.setAlternatingRowColors(True)
        self.setUniformRowHeights(True)
        self.header().setSectionResizeMode(0, QHeaderView.ResizeMode.ResizeToContents)
        self.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.itemDoubleClicked.connect(self._on_double_click)

    def show_item(
        self,
        model: GraphModel | None,
        item: int | None,
        link: VariableLink,
        checkpoint: Mapping[str, TensorInfo] | None,
    ) -> None:
        self.clear()
        if model is None or item is None:
            return
        entry = model.items[item]
        if entry.kind is ItemKind.OP:
            self._show_op(model, entry.op, link, checkpoint)
        else:
            self._show_container(model, item)
        self.expandToDepth(0)

    def rows(self) -> dict[str, str]:
        """Top-level rows as {property: value} (what a test or a copy wants)."""
        return {
            self.topLevelItem(i).text(0): self.topLevelItem(i).text(1)
            for i in range(self.topLevelItemCount())
        }

    def _row(self, key: str, value: object = "", parent=None, go_to: str | None = None):
        row = QTreeWidgetItem([key, str(value)])
        row.setToolTip(1, plain_tooltip(str(value)))
        if go_to is not None:
            row.setData(0, NAME_ROLE, go_to)
            row.setToolTip(0, "double-click to select this node")
        if parent is None:
            self.addTopLevelItem(row)
        else:
            parent.addChild(row)
        return row

    def _show_op(self, model, op, link, checkpoint) -> None:
        node = model.nodes[op]
        self._row("name", node.name)
        self._row("op", node.op)
        self._row("kind", model.kind_of(op).value)
        self._row("device", node.device or "(not placed)")
        if node.function:
            self._row("function", node.function)
        key = link.key_of_op.get(op)
        if key is not None:
            self._row("checkpoint key", key)
            if checkpoint is not None:
                info = checkpoint.get(key)
                if info is None:
                    row = self._row("in checkpoint", "no: the checkpoint lacks this variable")
                    row.setForeground(1, QBrush(MISSING_COLOUR))
                else:
                    self._row("in checkpoint", f"{info.dtype.name} {format_shape(info.shape)}")
        self._list("inputs", model, model.inputs_of(op), raw=node.inputs + node.control_inputs)
        self._list("outputs", model, model.outputs_of(op))
        attributes = self._row("attributes", f"{len(node.attrs)}")
        for name, value in node.attrs.items():
            self._row(name, _short(value), attributes)

    def _list(self, title: str, model, links: list[tuple[int, bool]], raw=None) -> None:
        header = self._row(title, f"{len(links)}")
        for other, control in links[:MAX_LISTED]:
            name = model.nodes[other].name
            label = f"^{name}" if control else name
            self._row(label, model.nodes[other].op, header, go_to=name)
        if len(links) > MAX_LISTED:
            self._row(f"… {len(links) - MAX_LISTED} more", "", header)
        unknown = [name for name in raw or [] if model.find(name) is None]
        if unknown:
            self._row("not in the graph", ", ".join(unknown), header)

    def _show_container(self, model: GraphModel, item: int) -> None:
        entry = model.items[item]
        self._row("name", entry.name or "(the whole graph)")
        self._row("kind", entry.kind.value)
        self._row("nodes", f"{entry.size:,}")
        if entry.kind is ItemKind.SERIES:
            self._row("members", f"{len(entry.children)}")
        own = model.own_op(item)
        if own is not None:
            self._row("op", f"{model.nodes[own].op} (the node named like this scope)")
        counts = model.op_counts(item)
        ops = self._row("ops", plural(len(counts), "type"))
        for op, count in list(counts.items())[:25]:
            self._row(op, f"{count:,}", ops)

    def _on_double_click(self, row: QTreeWidgetItem, _column: int) -> None:
        name = row.data(0, NAME_ROLE)
        if name:
            self.node_chosen.emit(name)


class VariablesView(QTreeWidget):
    """Every variable of the graph and every tensor of the checkpoint, and where each is."""

    key_chosen = Signal(str)

    STATUS_BOTH, STATUS_GRAPH, STATUS_CHECKPOINT = "in both", "graph only", "checkpoint only"

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setColumnCount(3)
        self.setHeaderLabels(["Variable", "Where", "Shape"])
        self.setRootIsDecorated(False)
        self.setUniformRowHeights(True)
        self.setSortingEnabled(True)
        self.header().setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        self.itemClicked.connect(lambda row, _c: self.key_chosen.emit(row.text(0)))
        self.itemActivated.connect(lambda row, _c: self.key_chosen.emit(row.text(0)))

    def show_link(
        self, model: GraphModel | None, link: VariableLink, checkpoint: Mapping | None
    ) -> None:
        self.setSortingEnabled(False)
        self.clear()
        if model is None:
            return
        shapes = {v.name: v.shape for v in model.graph.variables}
        missing = set(link.missing_from_checkpoint)
        rows = []
        for key in link.graph_keys:
            status = self.STATUS_GRAPH if key in missing else self.STATUS_BOTH
            if not link.checked:
                status = "graph"
            rows.append((key, status, shapes.get(key)))
        for key in link.missing_from_graph:
            rows.append((key, self.STATUS_CHECKPOINT, checkpoint[key].shape))
        items = []
        for key, status, shape in rows:
            row = QTreeWidgetItem([key, status, format_shape(shape) if shape is not None else "?"])
            if status in (self.STATUS_GRAPH, self.STATUS_CHECKPOINT):
                for column in range(3):
                    row.setForeground(column, QBrush(MISSING_COLOUR))
            items.append(row)
        self.addTopLevelItems(items)
        self.setSortingEnabled(True)
        self.sortByColumn(1, Qt.SortOrder.DescendingOrder)

    def statuses(self) -> dict[str, str]:
        return {
            self.topLevelItem(i).text(0): self.topLevelItem(i).text(1)
            for i in range(self.topLevelItemCount())
        }


def _short(value: object, limit: int = 160) -> str:
    text = str(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"
