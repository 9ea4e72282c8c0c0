"""The mapping page: every output name with its source and status, problems, suggestions."""

from __future__ import annotations

from PySide6.QtCore import QModelIndex, Qt
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QComboBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QPushButton,
    QSplitter,
    QTableView,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWizardPage,
)

from ckpt_browser.core.formatting import plural
from ckpt_browser.core.remap.plan import Plan
from ckpt_browser.core.remap.spec import CAST_TO_TARGET
from ckpt_browser.core.remap.suggest import Suggestion
from ckpt_browser.ui.remap.problem_bar import ProblemBar
from ckpt_browser.ui.remap.session import RemapSession
from ckpt_browser.ui.remap.source_picker import SourcePicker
from ckpt_browser.ui.remap.table import STATUS_FILTERS, MappingTableModel

CAST_CHOICES = (
    ("Refuse dtype mismatches", None),
    ("Cast to the target's dtype", CAST_TO_TARGET),
    ("Cast every float to bfloat16", "bfloat16"),
    ("Cast every float to float16", "float16"),
    ("Cast every float to float32", "float32"),
)
# Names listed under one problem in the problems tree at most.
NAMES_LISTED = 200
_COLUMN_WIDTHS = (280, 260, 80, 80, 80, 80, 110)


class MappingPage(QWizardPage):
    def __init__(self, session: RemapSession) -> None:
        super().__init__()
        self.session = session
        self.suggestions: dict[str, list[Suggestion]] = {}
        self.picker: SourcePicker | None = None
        self.setTitle("Mapping")
        self.setSubTitle(
            "Every output name and where it comes from. Click a row to pick its source by hand."
        )
        self.filter_edit = QLineEdit()
        self.filter_edit.setPlaceholderText("Filter names (substring)")
        self.filter_edit.setClearButtonEnabled(True)
        self.filter_edit.textChanged.connect(lambda text: self._filter(text=text))
        self.status_filter = QComboBox()
        self.status_filter.addItems(list(STATUS_FILTERS))
        self.status_filter.currentTextChanged.connect(lambda text: self._filter(status=text))
        self.shown_label = QLabel()
        top = QHBoxLayout()
        top.addWidget(self.filter_edit, 1)
        top.addWidget(self.status_filter)
        top.addWidget(self.shown_label)

        self.model = MappingTableModel(self)
        self.table = QTableView()
        self.table.setModel(self.model)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.verticalHeader().setVisible(False)
        # Names differ at both ends (bert/encoder/layer_11/.../kernel): keep both, cut the middle;
        # the tooltip shows the whole name. Word wrap off: a wrapped name is cut at its end.
        self.table.setTextElideMode(Qt.TextElideMode.ElideMiddle)
        self.table.setWordWrap(False)
        # Fixed row heights and column widths: measuring 20,000 rows would take seconds.
        self.table.verticalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Fixed)
        self.table.verticalHeader().setDefaultSectionSize(22)
        for column, width in enumerate(_COLUMN_WIDTHS):
            self.table.setColumnWidth(column, width)
        self.table.horizontalHeader().setStretchLastSection(True)
        self.table.clicked.connect(self._on_clicked)

        self.problems = QTreeWidget()
        self.problems.setHeaderLabels(["Problems and notes"])
        self.problems.itemActivated.connect(self._on_problem_activated)

        self.allow_reshape = QCheckBox("Allow reshape when the element count matches")
        self.allow_reshape.toggled.connect(session.set_allow_reshape)
        self.cast = QComboBox()
        for label, value in CAST_CHOICES:
            self.cast.addItem(label, value)
        self.cast.currentIndexChanged.connect(lambda _i: session.set_cast(self.cast.currentData()))
        self.suggest_button = QPushButton("Suggest for Missing")
        self.suggest_button.clicked.connect(self.find_suggestions)
        self.accept_button = QPushButton("Accept Suggestions")
        self.accept_button.clicked.connect(self.accept_suggestions)
        options = QHBoxLayout()
        for widget in (self.allow_reshape, self.cast, self.suggest_button, self.accept_button):
            options.addWidget(widget)
        options.addStretch(1)

        splitter = QSplitter(Qt.Orientation.Vertical)
        splitter.addWidget(self.table)
        splitter.addWidget(self.problems)
        splitter.setSizes([420, 160])
        layout = QVBoxLayout(self)
        layout.addLayout(top)
        layout.addWidget(splitter, 1)
        layout.addLayout(options)
        layout.addWidget(ProblemBar(session))
        session.plan_changed.connect(self._show_plan)
        self._show_plan(session.plan)

    # -- what the buttons do ----------------------------------------------------------------------

    def find_suggestions(self) -> int:
        self.suggestions = self.session.suggestions()
        self._show_problems(self.session.plan)
        self.accept_button.setEnabled(bool(self.suggestions))
        return len(self.suggestions)

    def accept_suggestions(self) -> int:
        accepted = self.session.accept_suggestions(self.suggestions)
        self.suggestions = {}
        self.accept_button.setEnabled(False)
        return accepted

    def open_picker(self, name: str) -> SourcePicker | None:
        """Show the searchable list of source tensors for one output name."""
        inputs = self.session.inputs
        if inputs is None:
            return None
        found = self.suggestions.get(name) or self.session.suggestions([name]).get(name, [])
        if self.picker is not None:
            self.picker.close()
        self.picker = SourcePicker(name, inputs, found, self)
        self.picker.chosen.connect(self.session.set_override)
        self.picker.open()
        return self.picker

    def isComplete(self) -> bool:
        plan = self.session.plan
        return plan is not None and not plan.blocking and not self.session.error

    def initializePage(self) -> None:
        self.allow_reshape.setChecked(self.session.spec.allow_reshape)
        self.cast.setCurrentIndex(max(0, self.cast.findData(self.session.spec.cast)))

    # -- internals --------------------------------------------------------------------------------

    def _filter(self, text: str | None = None, status: str | None = None) -> None:
        self.model.set_filter(text=text, status=status)
        self._update_shown()

    def _show_plan(self, plan: Plan | None) -> None:
        self.model.set_plan(plan, several_sources=len(self.session.sources) > 1)
        self._update_shown()
        self._show_problems(plan)
        self.completeChanged.emit()

    def _update_shown(self) -> None:
        plan = self.session.plan
        total = len(plan.rows) if plan is not None else 0
        self.shown_label.setText(f"{self.model.shown:,} of {plural(total, 'name')}")

    def _show_problems(self, plan: Plan | None) -> None:
        self.problems.clear()
        if plan is None:
            return
        for problem in plan.problems:
            top = QTreeWidgetItem([problem.message])
            top.setForeground(0, Qt.GlobalColor.red if problem.blocking else Qt.GlobalColor.gray)
            for name in problem.names[:NAMES_LISTED]:
                child = QTreeWidgetItem([name])
                for suggestion in self.suggestions.get(name, [])[:3]:
                    ref = suggestion.source
                    text = f"suggestion: {ref.key} (source {ref.source + 1}, {suggestion.reason})"
                    child.addChild(QTreeWidgetItem([text]))
                top.addChild(child)
            if len(problem.names) > NAMES_LISTED:
                top.addChild(QTreeWidgetItem([f"... and {len(problem.names) - NAMES_LISTED}"]))
            self.problems.addTopLevelItem(top)
            top.setExpanded(problem.blocking and len(problem.names) <= 20)

    def _on_clicked(self, index: QModelIndex) -> None:
        row = self.model.row_at(index.row())
        if row is not None:
            self.open_picker(row.name)

    def _on_problem_activated(self, item: QTreeWidgetItem) -> None:
        """Activating a name under a problem shows that name in the table."""
        name = item.text(0)
        number = self.model.row_of(name)
        if number < 0:
            self.status_filter.setCurrentText("All names")
            self.filter_edit.clear()
            number = self.model.row_of(name)
        if number >= 0:
            self.table.selectRow(number)
            self.table.scrollTo(self.model.index(number, 0))
