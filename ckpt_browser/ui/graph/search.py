"""The graph panel's search: the box, the list of matching nodes and the count on its tab.

A result is chosen by a click (again on the same row too: the tree may have moved since), by the
arrow keys, by Enter in the list, or by Enter in the box (the first match); each sends the node's
name through `node_chosen`, which the panel treats like a click in the drawing.
"""

from __future__ import annotations

from PySide6.QtCore import QObject, Qt, QTimer, Signal
from PySide6.QtWidgets import QLineEdit, QListWidget, QListWidgetItem

from ckpt_browser.core.graph.model import GraphModel

SEARCH_LIMIT = 500
NAME_ROLE = Qt.ItemDataRole.UserRole + 1
TAB_TITLE = "Search"


class GraphSearch(QObject):
    """Owns the search box and the results list; the panel places them and gives the model."""

    node_chosen = Signal(str)  # name of the node the user picked from the results
    count_changed = Signal(str)  # the results tab's title ("Search (12)")
    results_shown = Signal()  # the search found something worth looking at

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.model: GraphModel | None = None
        self.edit = QLineEdit()
        self.edit.setPlaceholderText("Search nodes (name, * and ? as wildcards)…")
        self.edit.setClearButtonEnabled(True)
        self.results = QListWidget()
        self.results.setUniformItemSizes(True)
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(200)  # search once typing pauses
        self._timer.timeout.connect(self.run)
        self.edit.textChanged.connect(lambda _text: self._timer.start())
        self.edit.returnPressed.connect(self.choose_first)
        self.results.currentItemChanged.connect(lambda row, _previous: self._choose(row))
        self.results.itemClicked.connect(self._choose)
        self.results.itemActivated.connect(self._choose)

    def set_model(self, model: GraphModel | None) -> None:
        """Search `model` from now on; None (loading, or no graph) empties box, list and count."""
        self.model = model
        if model is None:
            self._timer.stop()
            self.edit.blockSignals(True)  # no search of a graph that is not there
            self.edit.clear()
            self.edit.blockSignals(False)
            self.results.clear()
            self.count_changed.emit(TAB_TITLE)

    def run(self) -> list[str]:
        """List the nodes matching the box; returns their names."""
        self._timer.stop()
        self.results.blockSignals(True)  # refilling the list is no choice of the user's
        self.results.clear()
        self.results.blockSignals(False)
        if self.model is None:
            return []
        text = self.edit.text()
        matches, total = self.model.search(text, SEARCH_LIMIT)
        names = []
        for op in matches:
            node = self.model.nodes[op]
            row = QListWidgetItem(f"{node.name}  ({node.op})")
            row.setData(NAME_ROLE, node.name)
            self.results.addItem(row)
            names.append(node.name)
        if total > len(matches):
            self.results.addItem(f"… {total - len(matches):,} more: refine the search")
        if text.strip():
            self.count_changed.emit(f"{TAB_TITLE} ({total:,})")
            self.results_shown.emit()
        else:
            self.count_changed.emit(TAB_TITLE)
        return names

    def choose_first(self) -> None:
        """Enter in the box: search now and choose the first match."""
        self.run()
        if self.results.count():
            self.results.setCurrentRow(0)  # chooses it through currentItemChanged

    def _choose(self, row: QListWidgetItem | None) -> None:
        name = row.data(NAME_ROLE) if row is not None else None
        if name:
            self.node_chosen.emit(name)
