"""A searchable list of every source tensor, to pick the source of one target name by hand.

Suggestions come first. The list is a QStandardItemModel behind a QSortFilterProxyModel: the
filtering runs in Qt's C++ over item text, fast enough for tens of thousands of names.
"""

from __future__ import annotations

from PySide6.QtCore import QSortFilterProxyModel, Qt, Signal
from PySide6.QtGui import QStandardItem, QStandardItemModel
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QLabel,
    QLineEdit,
    QListView,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from ckpt_browser.core.formatting import format_shape
from ckpt_browser.core.remap.plan import RemapInputs, SourceRef
from ckpt_browser.core.remap.spec import Override
from ckpt_browser.core.remap.suggest import Suggestion

_REF_ROLE = Qt.ItemDataRole.UserRole + 1


class SourcePicker(QDialog):
    """Emits `chosen(name, override)`; override None gives the name back to the rules."""

    chosen = Signal(str, object)

    def __init__(
        self,
        name: str,
        inputs: RemapInputs,
        suggestions: list[Suggestion],
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.name = name
        self.setWindowTitle(f"Source for {name}")
        self.resize(720, 520)
        self.model = QStandardItemModel(self)
        self._refs = inputs.refs  # items keep a position in it (Qt would turn a tuple to a list)
        several = len(inputs.sources) > 1
        for suggestion in suggestions:
            ref = suggestion.source
            item = QStandardItem(f"★ {_describe(ref, inputs, several)}  — {suggestion.reason}")
            item.setData(inputs.position[ref], _REF_ROLE)
            self.model.appendRow(item)
        for position, ref in enumerate(inputs.refs):
            item = QStandardItem(_describe(ref, inputs, several))
            item.setData(position, _REF_ROLE)
            self.model.appendRow(item)
        self.proxy = QSortFilterProxyModel(self)
        self.proxy.setSourceModel(self.model)
        self.proxy.setFilterCaseSensitivity(Qt.CaseSensitivity.CaseInsensitive)
        self.filter_edit = QLineEdit()
        self.filter_edit.setPlaceholderText("Filter source names")
        self.filter_edit.setClearButtonEnabled(True)
        self.filter_edit.textChanged.connect(self.proxy.setFilterFixedString)
        self.view = QListView()
        self.view.setModel(self.proxy)
        self.view.setUniformItemSizes(True)
        self.view.doubleClicked.connect(lambda _index: self.use_selected())
        if self.proxy.rowCount():
            self.view.setCurrentIndex(self.proxy.index(0, 0))

        buttons = QDialogButtonBox()
        use = buttons.addButton("Use Selected", QDialogButtonBox.ButtonRole.AcceptRole)
        use.clicked.connect(self.use_selected)
        template = QPushButton("Keep Template Value")
        template.setEnabled(inputs.target is not None and inputs.target.template is not None)
        template.clicked.connect(lambda: self._choose(Override.from_template()))
        leave = QPushButton("Leave Out")
        leave.clicked.connect(lambda: self._choose(Override.left_out()))
        rules = QPushButton("Back to the Rules")
        rules.clicked.connect(lambda: self._choose(None))
        for button in (template, leave, rules):
            buttons.addButton(button, QDialogButtonBox.ButtonRole.ActionRole)
        buttons.addButton(QDialogButtonBox.StandardButton.Cancel)
        buttons.rejected.connect(self.reject)

        layout = QVBoxLayout(self)
        layout.addWidget(QLabel(f"Pick the source tensor for <b>{name}</b>:"))
        layout.addWidget(self.filter_edit)
        layout.addWidget(self.view, 1)
        layout.addWidget(buttons)
        self.filter_edit.setFocus()

    def selected(self) -> SourceRef | None:
        index = self.view.currentIndex()
        return self._refs[index.data(_REF_ROLE)] if index.isValid() else None

    def use_selected(self) -> None:
        ref = self.selected()
        if ref is not None:
            self._choose(Override.from_source(ref.source, ref.key))

    def _choose(self, override: Override | None) -> None:
        self.chosen.emit(self.name, override)
        self.accept()


def _describe(ref: SourceRef, inputs: RemapInputs, several: bool) -> str:
    info = inputs.info(ref)
    where = f"  [source {ref.source + 1}]" if several else ""
    facts = f"  {info.dtype.name} {format_shape(info.shape)}" if info is not None else ""
    return f"{ref.key}{where}{facts}"
