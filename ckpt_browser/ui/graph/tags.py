"""Which MetaGraph of a SavedModel the graph panel shows, and a list to pick another.

A SavedModel holds one MetaGraph per tag set (`serve`, `train`, `eval`, ...), each a different
graph. The panel says which one it shows; when there are several, a list offers the others and
`tags_chosen` asks the panel to load the one picked.
"""

from __future__ import annotations

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QComboBox, QHBoxLayout, QLabel, QWidget

from ckpt_browser.format.graph.meta_graphs import TagSet, format_tags
from ckpt_browser.format.graph.reader import GraphFile

TIP = "The SavedModel's MetaGraphs, one per tag set: each is a graph of its own"


class MetaGraphChooser(QWidget):
    """'MetaGraph: serve', with a list of the tag sets when the SavedModel has several."""

    tags_chosen = Signal(object)  # TagSet

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.label = QLabel()
        self.label.setToolTip(TIP)
        self.combo = QComboBox()
        self.combo.setToolTip(TIP)
        self.combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToContents)
        self.combo.activated.connect(self._on_activated)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(6, 0, 6, 0)
        layout.addWidget(self.label)
        layout.addWidget(self.combo)
        self.shown: TagSet | None = None
        self.show_graph(None)

    def show_graph(self, graph: GraphFile | None) -> None:
        """Say which MetaGraph `graph` is (nothing for a `.meta` or GraphDef, or None)."""
        tag_sets = graph.meta_graphs if graph is not None and graph.kind == "saved_model" else []
        self.shown = tuple(graph.tags) if tag_sets else None
        self.combo.clear()
        if not tag_sets:
            self.setVisible(False)
            return
        several = len(tag_sets) > 1
        self.label.setText("MetaGraph:" if several else f"MetaGraph: {format_tags(self.shown)}")
        for tags in tag_sets:
            self.combo.addItem(format_tags(tags), tuple(tags))
        self.combo.setCurrentIndex(self._index_of(self.shown))
        self.combo.setVisible(several)
        self.setVisible(True)

    def tag_sets(self) -> list[TagSet]:
        return [self.combo.itemData(index) for index in range(self.combo.count())]

    def _index_of(self, tags: TagSet | None) -> int:
        wanted = set(tags or ())
        for index, candidate in enumerate(self.tag_sets()):
            if set(candidate) == wanted:
                return index
        return -1

    def _on_activated(self, index: int) -> None:
        tags = self.combo.itemData(index)
        if tags is not None and set(tags) != set(self.shown or ()):
            self.tags_chosen.emit(tags)
