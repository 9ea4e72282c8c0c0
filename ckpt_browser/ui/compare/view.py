"""The compare view: two checkpoints side by side, every name with its status and distances.

It lives in a `CompareWindow` (compare_window.py). The comparison runs in a worker
(`core.compare.iter_compare`) and the table fills in batches as results arrive; changing the name
alignment or the tolerances starts it again. The table sorts most changed first and filters by
status and name; the pane beside it shows the selected name of A and B (`CompareDetailPane`).
"""

from __future__ import annotations

import os
import time

from PySide6.QtCore import QLocale, QModelIndex, QSignalBlocker, Qt, Signal
from PySide6.QtGui import QDoubleValidator
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QProgressBar,
    QPushButton,
    QSplitter,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from ckpt_browser.core.compare.alignment import Alignment, PrefixRule
from ckpt_browser.core.compare.checkpoints import (
    CompareOptions,
    Comparison,
    Status,
    TensorComparison,
    iter_compare,
)
from ckpt_browser.core.compare.pair_names import pair_names
from ckpt_browser.core.compare.report import format_summary
from ckpt_browser.core.formatting import plural
from ckpt_browser.format import Checkpoint
from ckpt_browser.ui.compare.detail_pane import CompareDetailPane
from ckpt_browser.ui.compare.table import (
    STATUS_LABELS,
    CompareFilterProxy,
    CompareTableModel,
)
from ckpt_browser.ui.compare.table_view import CompareTableView
from ckpt_browser.ui.widgets.workers import TaskContext, TaskHandle, TaskRunner

PUBLISH_INTERVAL_S = 0.25  # results go to the table in batches at most this often
# (label, statuses shown) for the status filter
STATUS_FILTERS = (
    ("All names", tuple(s.value for s in Status)),
    ("Differences", tuple(s.value for s in Status if s is not Status.SAME)),
    *((STATUS_LABELS[s].capitalize(), (s.value,)) for s in Status),
)


def compare_in_batches(
    a: Checkpoint, b: Checkpoint, options: CompareOptions, context: TaskContext
) -> list[TensorComparison]:
    """Run the comparison in a worker: publish results in batches, return the last batch."""
    batch: list[TensorComparison] = []
    last = time.monotonic()
    for item in iter_compare(a, b, options, progress=context.report, cancel=context.cancelled):
        batch.append(item)
        if time.monotonic() - last >= PUBLISH_INTERVAL_S:
            context.publish(batch)
            batch, last = [], time.monotonic()
    return batch


class CompareView(QWidget):
    """Alignment and tolerance controls, the table with its filters, the detail pane."""

    comparison_done = Signal()
    checkpoints_changed = Signal()  # a new pair, or A and B swapped: `names` changed
    error = Signal(str)  # a message for the user (the window shows it in a dialog)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.runner = TaskRunner(self)
        self._a: Checkpoint | None = None
        self._b: Checkpoint | None = None
        self._task: TaskHandle | None = None
        self._finished = False
        self._wanted_name: str | None = None

        self.a_label, self.b_label = QLabel(), QLabel()
        for label in (self.a_label, self.b_label):
            label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.swap_button = QPushButton("Swap A ↔ B")
        self.swap_button.clicked.connect(self.swap)

        self.readable_check = QCheckBox("Readable names")
        self.readable_check.setChecked(True)
        self.readable_check.setToolTip(
            "Match TF2 keys by their object path (model/dense/kernel); off: raw checkpoint keys"
        )
        self.params_check = QCheckBox("Model variables only")
        self.params_check.setToolTip(
            "Leave out optimizer slots, counters, the object graph and a frozen graph's shape "
            "and axis constants"
        )
        self.values_check = QCheckBox("Match by value")
        self.values_check.setToolTip(
            "Pair a name only one side has with the one tensor of the other side that has the "
            "same dtype, shape and values (which Const of a frozen graph is which variable)"
        )
        self.prefix_edits = {}
        for key, tip in (
            ("a_old", "Prefix of A's names to replace (e.g. module/)"),
            ("a_new", "What replaces it (empty: strip it)"),
            ("b_old", "Prefix of B's names to replace"),
            ("b_new", "What replaces it (empty: strip it)"),
        ):
            edit = QLineEdit()
            edit.setPlaceholderText("prefix" if key.endswith("old") else "(strip)")
            edit.setToolTip(tip)
            edit.setMaximumWidth(150)
            edit.editingFinished.connect(self._options_edited)
            self.prefix_edits[key] = edit
        self.rtol_edit, self.atol_edit = _tolerance_edit("rtol"), _tolerance_edit("atol")
        for control in (self.readable_check, self.params_check, self.values_check):
            control.toggled.connect(self._options_edited)
        for edit in (self.rtol_edit, self.atol_edit):
            edit.editingFinished.connect(self._options_edited)
        self.progress = QProgressBar()
        self.progress.setRange(0, 1000)
        self.progress.setMaximumWidth(200)
        self.progress.setTextVisible(False)
        self.cancel_button = QToolButton()
        self.cancel_button.setText("Cancel")
        self.cancel_button.clicked.connect(self.cancel)

        self.filter_edit = QLineEdit()
        self.filter_edit.setPlaceholderText("Filter names…")
        self.filter_edit.setClearButtonEnabled(True)
        self.status_combo = QComboBox()
        for label, _ in STATUS_FILTERS:
            self.status_combo.addItem(label)
        self.model = CompareTableModel(self)
        self.proxy = CompareFilterProxy(self)
        self.proxy.setSourceModel(self.model)
        self.filter_edit.textChanged.connect(self.proxy.set_text)
        self.status_combo.currentIndexChanged.connect(
            lambda index: self.proxy.set_statuses(STATUS_FILTERS[index][1])
        )
        self.table = CompareTableView()
        self.table.setModel(self.proxy)
        self.table.sort_most_changed_first()
        self.setFocusProxy(self.table)  # arrow keys browse the names as soon as the view opens
        self.most_changed_button = QPushButton("Most changed first")
        self.most_changed_button.setToolTip(
            "Sort by status: structural changes, then values by relative change, then the same"
        )
        self.most_changed_button.clicked.connect(self._sort_most_changed_first)
        self.table.selectionModel().currentRowChanged.connect(self._on_current_changed)
        self.totals_label = QLabel()
        self.totals_label.setTextFormat(Qt.TextFormat.PlainText)  # names are text
        self.totals_label.setWordWrap(True)

        self.detail = CompareDetailPane(self.runner)
        self._build_layout()
        self._set_busy(False)

    def _build_layout(self) -> None:
        paths = QHBoxLayout()
        paths.addWidget(QLabel("<b>A</b>:"))
        paths.addWidget(self.a_label, 1)
        paths.addWidget(QLabel("<b>B</b>:"))
        paths.addWidget(self.b_label, 1)
        paths.addWidget(self.swap_button)
        options = QHBoxLayout()
        options.addWidget(self.readable_check)
        options.addWidget(self.params_check)
        options.addWidget(self.values_check)
        for side in ("a", "b"):
            options.addSpacing(10)
            options.addWidget(QLabel(f"{side.upper()}: replace"))
            options.addWidget(self.prefix_edits[f"{side}_old"])
            options.addWidget(QLabel("by"))
            options.addWidget(self.prefix_edits[f"{side}_new"])
        options.addSpacing(10)
        for label, edit in (("rtol", self.rtol_edit), ("atol", self.atol_edit)):
            options.addWidget(QLabel(label))
            options.addWidget(edit)
        options.addStretch(1)
        options.addWidget(self.progress)
        options.addWidget(self.cancel_button)

        filters = QHBoxLayout()
        filters.setContentsMargins(0, 0, 0, 0)
        filters.addWidget(self.filter_edit, 1)
        filters.addWidget(self.status_combo)
        filters.addWidget(self.most_changed_button)
        left = QWidget()
        left_layout = QVBoxLayout(left)
        left_layout.setContentsMargins(0, 0, 0, 0)
        left_layout.addLayout(filters)
        left_layout.addWidget(self.table, 1)
        left_layout.addWidget(self.totals_label)
        self.splitter = QSplitter(Qt.Orientation.Horizontal)
        self.splitter.addWidget(left)
        self.splitter.addWidget(self.detail)
        for side in (0, 1):  # a narrower window takes from both, not the plots alone
            self.splitter.setStretchFactor(side, 1)
        self.splitter.setSizes([760, 740])

        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addLayout(paths)
        layout.addLayout(options)
        layout.addWidget(self.splitter, 1)

    # -- public -----------------------------------------------------------------------------------

    @property
    def checkpoints(self) -> tuple[Checkpoint | None, Checkpoint | None]:
        return self._a, self._b

    @property
    def names(self) -> tuple[str, str]:
        """What A and B are called on screen: told apart by a parent folder when needed."""
        if self._a is None or self._b is None:
            return "", ""
        return pair_names(self._a.prefix, self._b.prefix)

    @property
    def busy(self) -> bool:
        return self.runner.busy

    @property
    def finished(self) -> bool:
        """True once the whole comparison has arrived in the table."""
        return self._finished

    def options(self) -> CompareOptions:
        """The alignment and tolerances the controls say."""
        rules = {}
        for side in ("a", "b"):
            old = self.prefix_edits[f"{side}_old"].text()
            rules[side] = PrefixRule(old, self.prefix_edits[f"{side}_new"].text()) if old else None
        alignment = Alignment(
            prefix_a=rules["a"],
            prefix_b=rules["b"],
            readable_names=self.readable_check.isChecked(),
            params_only=self.params_check.isChecked(),
            match_values=self.values_check.isChecked(),
        )
        return CompareOptions(_tolerance(self.rtol_edit), _tolerance(self.atol_edit), alignment)

    def comparison(self) -> Comparison | None:
        """Everything compared so far (None before the checkpoints are set)."""
        if self._a is None or self._b is None:
            return None
        return Comparison(self._a.prefix, self._b.prefix, self.options(), list(self.model.items))

    def set_checkpoints(self, a: Checkpoint, b: Checkpoint, select: str | None = None) -> None:
        """Compare `a` (the reference) with `b`; `select` a name once it has arrived."""
        self._a, self._b = a, b
        name_a, name_b = self.names
        self.a_label.setText(_describe(a, name_a))
        self.b_label.setText(_describe(b, name_b))
        self.a_label.setToolTip(a.prefix)
        self.b_label.setToolTip(b.prefix)
        self._wanted_name = select
        if "graph" in (a.format_name, b.format_name):
            # A frozen graph holds the model alone: its counterpart's optimizer slots and
            # counters, and its own shape constants, would only hide the answer; and TF2 names
            # its constants after ops, so only values say which variable each one is.
            for check in (self.params_check, self.values_check):
                with QSignalBlocker(check):
                    check.setChecked(True)
        self.checkpoints_changed.emit()
        self.detail.show_item(None, None, None)  # the old pair's selection is not carried over
        self.start()

    def swap(self) -> None:
        if self._a is None or self._b is None:
            return
        for side_old, side_new in (("a_old", "b_old"), ("a_new", "b_new")):
            first, second = self.prefix_edits[side_old], self.prefix_edits[side_new]
            text = first.text()
            first.setText(second.text())
            second.setText(text)
        self.set_checkpoints(self._b, self._a, self.selected_name())

    def start(self) -> None:
        """(Re)run the comparison with the current options, keeping the selected name."""
        if self._a is None or self._b is None:
            return
        self._wanted_name = self.selected_name() or self._wanted_name
        self.cancel()
        self.detail.show_item(None, None, None)
        self.model.clear()
        self._finished = False
        a, b, options = self._a, self._b, self.options()
        self._task = self.runner.start(
            lambda context: compare_in_batches(a, b, options, context),
            self._on_done,
            on_failed=self._on_failed,
            on_progress=lambda fraction: self.progress.setValue(int(fraction * 1000)),
            on_partial=self._add,
            doing=f"compare {a.prefix} with {b.prefix}",
        )
        self.progress.setValue(0)
        self._set_busy(True)
        self._update_totals()

    def cancel(self) -> None:
        if self._task is not None and self._task.pending:
            self._task.cancel()
            self.totals_label.setText(self.totals_label.text() + "  (cancelled)")
        self._task = None
        self._set_busy(False)

    def selected_name(self) -> str | None:
        item = self.detail.item
        return item.name if item is not None else None

    def select(self, name: str) -> bool:
        """Select a row by aligned name or by either side's checkpoint key."""
        for row, item in enumerate(self.model.items):
            keys = {item.name} | {i.name for i in (item.a, item.b) if i is not None}
            if name in keys:
                index = self.proxy.mapFromSource(self.model.index(row, 0))
                if not index.isValid():  # filtered out: show everything again
                    self.status_combo.setCurrentIndex(0)
                    self.filter_edit.clear()
                    index = self.proxy.mapFromSource(self.model.index(row, 0))
                self.table.select_row(index)
                return True
        return False

    def shutdown(self) -> None:
        self.cancel()
        self.detail.cancel()
        self.runner.cancel_all()
        self.runner.wait_all(5000)

    # -- results ----------------------------------------------------------------------------------

    def _add(self, batch: list[TensorComparison]) -> None:
        first = self.model.rowCount() == 0
        self.model.append(batch)
        if first and batch:
            self.table.fit_columns()
        self._update_totals()

    def _on_done(self, batch: list[TensorComparison]) -> None:
        self._add(batch)
        header = self.table.horizontalHeader()  # rows came in name order: sort them now
        self.model.sort(header.sortIndicatorSection(), header.sortIndicatorOrder())
        self.table.fit_columns()
        self._task = None
        self._finished = True
        self._set_busy(False)
        wanted, self._wanted_name = self._wanted_name, None
        found = bool(wanted) and self.select(wanted)
        if not found and self.proxy.rowCount() and self.detail.item is None:
            self.table.select_row(self.proxy.index(0, 0))
        if wanted and not found:
            self.error.emit(f"no name or key {wanted!r} in either checkpoint")
        self._update_totals()
        self.comparison_done.emit()

    def _sort_most_changed_first(self) -> None:
        self.table.sort_most_changed_first()
        self.table.setFocus()

    def _on_failed(self, message: str) -> None:
        self._task = None
        self._set_busy(False)
        self.totals_label.setText(f"failed: {message}")
        self.error.emit(message)

    def _on_current_changed(self, current: QModelIndex, _previous: QModelIndex) -> None:
        if not current.isValid():
            return
        item = self.model.item(self.proxy.mapToSource(current).row())
        if item is not self.detail.item:
            self.detail.show_item(item, self._a, self._b)

    def _options_edited(self) -> None:
        if self._a is not None and self._b is not None:
            self.start()

    def _update_totals(self) -> None:
        comparison = self.comparison()
        if comparison is None:
            self.totals_label.clear()
            return
        summary = {STATUS_LABELS[Status(k)]: v for k, v in comparison.summary.items()}
        text = f"{format_summary(summary)} — {plural(len(comparison.tensors), 'name')}"
        if not self._finished:
            text += " so far…"
        note = comparison.options.alignment.describe()
        self.totals_label.setText(f"{text}  ({note})" if note else text)

    def _set_busy(self, busy: bool) -> None:
        self.progress.setVisible(busy)
        self.cancel_button.setVisible(busy)


def _describe(checkpoint: Checkpoint, name: str) -> str:
    step = checkpoint.step
    where = os.path.dirname(checkpoint.prefix)
    step_text = f" (step {step})" if step is not None else ""
    return f"{name}{step_text}  ·  {plural(len(checkpoint), 'tensor')}  ·  {where}"


def _tolerance_edit(name: str) -> QLineEdit:
    """A box for a tolerance in any notation (1e-6, 0.001); empty means 0."""
    edit = QLineEdit()
    validator = QDoubleValidator(0.0, 1e300, 30, edit)
    validator.setNotation(QDoubleValidator.Notation.ScientificNotation)
    validator.setLocale(QLocale.c())
    edit.setValidator(validator)
    edit.setPlaceholderText("0")
    edit.setMaximumWidth(90)
    edit.setToolTip(
        f"{name}: a float pair is 'same' when |a−b| <= atol + rtol·|b| everywhere "
        "(np.isclose); 0 and 0 mean exactly equal. Integers are always compared exactly."
    )
    return edit


def _tolerance(edit: QLineEdit) -> float:
    try:
        value = float(edit.text()) if edit.text().strip() else 0.0
    except ValueError:
        return 0.0
    return value if value >= 0 else 0.0
