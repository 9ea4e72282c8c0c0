"""The timeline panel: one variable or scope across every checkpoint of the run, and the run's
overview, computed by a `RunSession` and drawn by the three tabs.

A click on a step asks the window to open that checkpoint (`step_chosen`); Ctrl+click picks up to
two steps, and "Compare" asks for the compare view on them (`compare_requested`, older first). A
click on an overview cell asks for that scope at that save (`scope_chosen`). Work starts only
while the panel is shown (`set_active`): a hidden panel costs nothing.
"""

from __future__ import annotations

import time

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QApplication,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QSizePolicy,
    QSplitter,
    QTabWidget,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from ckpt_browser.core.formatting import format_shape, plural
from ckpt_browser.core.timeline import Overview, Status, Timeline
from ckpt_browser.ui.timeline.distribution_plot import DistributionPlot
from ckpt_browser.ui.timeline.model import TimelineModel, point_title
from ckpt_browser.ui.timeline.overview_model import OverviewModel
from ckpt_browser.ui.timeline.overview_plot import OverviewPlot
from ckpt_browser.ui.timeline.session import RunSession
from ckpt_browser.ui.timeline.stats_plot import StatsPlot
from ckpt_browser.ui.widgets.plain_text import plain_tooltip
from ckpt_browser.ui.widgets.progress_bar import ProgressBar

INDEX_ROLE = Qt.ItemDataRole.UserRole
STATISTICS_TAB, DISTRIBUTION_TAB, OVERVIEW_TAB = range(3)


def subject_text(timeline: Timeline) -> str:
    """`net/layer_1/kernel · [6, 8] float32` or `net/layer_1/ · 2 parameters, 56 values`."""
    subject = timeline.subject
    if not subject.is_scope:
        member = subject.members[0]
        return f"{subject.name} · {format_shape(member.shape)} {member.dtype}"
    count = plural(len(subject.members), "parameter")
    return f"{subject.name}/ · {count}, {plural(subject.size, 'value')}"


def summary_text(timeline: Timeline) -> str:
    """`6 checkpoints · 1 gap · 1 not read · NaN/Inf at 1 step`."""
    points = timeline.points
    parts = [plural(len(points), "checkpoint")]
    gaps = sum(point.status is Status.GAP for point in points)
    errors = sum(point.status is Status.ERROR for point in points)
    nonfinite = sum(bool(point.stats and point.stats.nonfinite_count) for point in points)
    if gaps:
        parts.append(plural(gaps, "gap"))
    if errors:
        parts.append(f"{errors} not read")
    if nonfinite:
        parts.append(f"NaN/Inf at {plural(nonfinite, 'step')}")
    return " · ".join(parts)


class TimelinePanel(QWidget):
    """Header (subject, progress, Compare), the tabs, and the list of marked steps."""

    step_chosen = Signal(str)  # a checkpoint prefix to open
    compare_requested = Signal(str, str)  # older prefix (A), newer prefix (B)
    scope_chosen = Signal(str, str)  # scope, checkpoint prefix

    def __init__(self, session: RunSession, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.session = session
        self.model = TimelineModel()
        self.overview_model = OverviewModel()
        self.subject: str | None = None
        self.active = False
        self.last_shown_seconds: float | None = None  # request to timeline on screen
        self._requested_at: float | None = None
        self._build()
        session.timeline_ready.connect(self._on_timeline)
        session.timeline_failed.connect(self._on_timeline_failed)
        session.overview_ready.connect(self._on_overview)
        session.overview_failed.connect(self._on_overview_failed)
        session.progress.connect(self._on_progress)
        session.busy_changed.connect(lambda _busy: self._update_progress())
        session.open_failed.connect(self.stats.show_message)

    def _build(self) -> None:
        self.subject_label = QLabel("No variable selected")
        self.subject_label.setTextFormat(Qt.TextFormat.PlainText)
        self.subject_label.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        font = self.subject_label.font()
        font.setBold(True)
        self.subject_label.setFont(font)
        self.summary_label = QLabel()
        self.summary_label.setTextFormat(Qt.TextFormat.PlainText)
        self.progress = ProgressBar(maximum=1000)
        self.progress.setMaximumWidth(160)
        self.cancel_button = QToolButton()
        self.cancel_button.setText("Cancel")
        self.cancel_button.setToolTip("Stop reading the checkpoints")
        self.cancel_button.clicked.connect(self.cancel)
        self.compute_button = QToolButton()
        self.compute_button.setText("Compute")
        self.compute_button.setToolTip("Read every checkpoint of the run for this variable")
        self.compute_button.clicked.connect(self._compute_again)
        self.compare_button = QToolButton()
        self.compare_button.setText("Compare…")
        self.compare_button.setToolTip("Ctrl+click two steps in a plot, then compare them")
        self.compare_button.clicked.connect(self._on_compare)
        header = QHBoxLayout()
        header.setContentsMargins(4, 2, 4, 2)
        header.addWidget(self.subject_label, 1)
        header.addWidget(self.summary_label)
        for widget in (self.progress, self.cancel_button, self.compute_button, self.compare_button):
            header.addWidget(widget)

        self.stats = StatsPlot(self.model)
        self.distribution = DistributionPlot(self.model)
        self.overview = OverviewPlot(self.overview_model)
        self.tabs = QTabWidget()
        self.tabs.setDocumentMode(True)
        self.tabs.addTab(self.stats, "&Statistics")
        self.tabs.addTab(self.distribution, "&Distribution")
        self.tabs.addTab(self.overview, "&Overview")
        self.tabs.currentChanged.connect(self._on_tab_changed)
        self.stats.step_clicked.connect(self._on_step_clicked)
        self.distribution.step_clicked.connect(self._on_step_clicked)
        self.overview.cell_clicked.connect(self._on_cell_clicked)

        self.marks_list = QListWidget()
        self.marks_list.setToolTip("Steps where the variable is missing, differs or is not finite")
        self.marks_list.itemActivated.connect(self._on_mark_activated)
        marks_box = QWidget()
        marks_layout = QVBoxLayout(marks_box)
        marks_layout.setContentsMargins(0, 0, 0, 0)
        marks_layout.addWidget(QLabel("Gaps and problems"))
        marks_layout.addWidget(self.marks_list, 1)
        self.marks_box = marks_box
        splitter = QSplitter(Qt.Orientation.Horizontal)
        splitter.addWidget(self.tabs)
        splitter.addWidget(marks_box)
        splitter.setStretchFactor(0, 1)
        splitter.setStretchFactor(1, 0)
        splitter.setSizes([900, 260])
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(0)
        layout.addLayout(header)
        layout.addWidget(splitter, 1)
        self._update_progress()
        self._update_compare()
        self._fill_marks()

    # -- public -----------------------------------------------------------------------------------

    @property
    def busy(self) -> bool:
        return self.session.busy

    def set_subject(self, name: str | None) -> None:
        """Follow variable `name` (a checkpoint key) or scope (`path/`); None: nothing."""
        if name == self.subject:
            return
        self.subject = name
        self.model.set_timeline(None)
        self.model.picked = []
        self.subject_label.setText(name or "No variable selected")
        self.summary_label.clear()
        self._fill_marks()
        self._update_compare()
        self.stats.redraw()
        self.distribution.redraw()
        if name is None:
            self.stats.show_message("Select a variable or a scope in the tree")
        self._request()

    def set_current(self, prefix: str | None) -> None:
        """Mark the checkpoint open in the window."""
        self.model.current_prefix = prefix
        self.stats.update_marks()
        self.distribution.update_marks()

    def set_active(self, active: bool) -> None:
        """Compute only while shown."""
        self.active = active
        self._request()

    def cancel(self) -> None:
        self.session.cancel()
        if self.model.timeline is None and self.subject is not None:
            self.stats.show_message("Cancelled: press Compute to read the checkpoints")
        if self.overview_model.overview is None:
            self.overview.show_message("Cancelled: press Compute to read the checkpoints")
        self._update_progress()

    def choose_tab(self, index: int) -> None:
        self.tabs.setCurrentIndex(index)

    # -- computing --------------------------------------------------------------------------------

    def _request(self) -> None:
        if not self.active:
            return
        if self.subject is not None and self.model.timeline is None:
            if self.session.wanted_name != self.subject:
                self._requested_at = time.perf_counter()
                self.stats.show_message("Reading the checkpoints of the run…")
            self.session.request_timeline(self.subject)
        if self.tabs.currentIndex() == OVERVIEW_TAB and self.overview_model.overview is None:
            if not self.session.overview_wanted:
                self.overview.show_message("Reading every scope of every checkpoint…")
            self.session.request_overview()
        self._update_progress()

    def _on_tab_changed(self, index: int) -> None:
        self.marks_box.setVisible(index != OVERVIEW_TAB and self.marks_list.count() > 0)
        self._request()

    def _compute_again(self) -> None:
        self.session.wanted_name = None
        self.session.overview_wanted = False
        self._request()

    def _on_timeline(self, timeline: Timeline) -> None:
        if self.subject is None:
            return
        if self._requested_at is not None:
            self.last_shown_seconds = time.perf_counter() - self._requested_at
            self._requested_at = None
        self.model.set_timeline(timeline)
        self.subject_label.setText(subject_text(timeline))
        self.subject_label.setToolTip(plain_tooltip(timeline.subject.name))
        self.summary_label.setText(summary_text(timeline))
        self.stats.redraw()
        self.distribution.redraw()
        self._fill_marks()
        self._update_compare()
        self._update_progress()

    def _on_timeline_failed(self, name: str, message: str) -> None:
        if name == self.subject:
            self.stats.show_message(message)
            self.summary_label.clear()
        self._update_progress()

    def _on_overview(self, overview: Overview) -> None:
        self.overview_model.set_overview(overview)
        self.overview.redraw()
        self._update_progress()

    def _on_overview_failed(self, message: str) -> None:
        self.overview.show_message(message)
        self._update_progress()

    def on_run_changed(self) -> None:
        """The run gained or lost checkpoints: what is on show is computed again."""
        self.model.set_timeline(None)
        self.overview_model.set_overview(None)
        self._request()

    def _on_progress(self, kind: str, fraction: float) -> None:
        showing_overview = self.tabs.currentIndex() == OVERVIEW_TAB
        if (kind == "overview") == showing_overview or not self.session.computing:
            self.progress.setValue(int(fraction * 1000))

    def _update_progress(self) -> None:
        computing = self.session.computing
        self.progress.setVisible(computing)
        self.cancel_button.setVisible(computing)
        missing = (self.subject is not None and self.model.timeline is None) or (
            self.tabs.currentIndex() == OVERVIEW_TAB and self.overview_model.overview is None
        )
        self.compute_button.setVisible(not computing and missing and self.active)
        if not computing:
            self.progress.setValue(0)

    # -- steps ------------------------------------------------------------------------------------

    def _on_step_clicked(self, index: int, modifiers) -> None:
        timeline = self.model.timeline
        if timeline is None:
            return
        if modifiers & Qt.KeyboardModifier.ControlModifier:
            self.model.toggle_pick(index)
            self.stats.update_marks()
            self.distribution.update_marks()
            self._update_compare()
            return
        self.step_chosen.emit(timeline.points[index].prefix)

    def _on_cell_clicked(self, row: int, column: int) -> None:
        overview = self.overview_model.overview
        if overview is not None:
            self.scope_chosen.emit(overview.scopes[row], overview.columns[column].prefix)

    def _update_compare(self) -> None:
        pair = self.model.compare_pair()
        self.compare_button.setEnabled(pair is not None)
        if pair is None or self.model.timeline is None:
            picked = len(self.model.picked_indices())
            self.compare_button.setText("Compare…")
            self.compare_button.setToolTip(
                f"Ctrl+click two steps in a plot, then compare them ({picked} of 2 picked)"
            )
            return
        points = {point.prefix: point for point in self.model.timeline.points}
        older, newer = (point_title(points[prefix]) for prefix in pair)
        self.compare_button.setText(f"Compare {older} with {newer.removeprefix('step ')}")
        self.compare_button.setToolTip(plain_tooltip(f"A: {pair[0]}\nB: {pair[1]}"))

    def _on_compare(self) -> None:
        pair = self.model.compare_pair()
        if pair is not None:
            self.compare_requested.emit(*pair)

    def _fill_marks(self) -> None:
        self.marks_list.clear()
        timeline = self.model.timeline
        for mark in self.model.marks():
            point = timeline.points[mark.index]
            item = QListWidgetItem(f"{point_title(point)} · {mark.text}")
            item.setData(INDEX_ROLE, mark.index)
            item.setToolTip(plain_tooltip(f"{point.prefix}\n{mark.text}"))
            self.marks_list.addItem(item)
        showing = self.tabs.currentIndex() != OVERVIEW_TAB
        self.marks_box.setVisible(showing and self.marks_list.count() > 0)

    def _on_mark_activated(self, item: QListWidgetItem) -> None:
        index = item.data(INDEX_ROLE)
        if index is not None:
            self._on_step_clicked(index, QApplication.keyboardModifiers())
