"""The right pane: what one tensor is, its statistics, its histogram and its values.

Statistics and the histogram are exact over the whole tensor and are computed in a worker thread
with progress and cancel. For a large tensor a quick histogram of a sample is drawn first and
replaced by the exact one when it is ready, so the user sees the shape of the distribution at
once and the window never waits on a pass over hundreds of megabytes. A tensor whose stored
checksum does not match its bytes (TensorFlow refuses it) gets a note under its title.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING

from PySide6.QtCore import QByteArray, Qt, Signal
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QScrollArea,
    QSizePolicy,
    QSplitter,
    QStackedWidget,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from ckpt_browser.core.formatting import format_bytes, format_shape, plural
from ckpt_browser.core.tasks.choice import ComputeTarget
from ckpt_browser.core.tensor.analysis import (
    Analysis,
    AnalysisCache,
    QuickPreview,
)
from ckpt_browser.core.tensor.stats import Histogram, TensorStats
from ckpt_browser.format import Checkpoint, TensorInfo
from ckpt_browser.ui.browse.tensor_work import (
    WORK_ERRORS,
    analysis_work,
    checksum_work,
    histogram_work,
)
from ckpt_browser.ui.widgets.plain_text import name_title_label, plain_tooltip
from ckpt_browser.ui.widgets.progress_bar import ProgressBar
from ckpt_browser.ui.widgets.workers import TaskHandle, TaskRunner

if TYPE_CHECKING:
    from ckpt_browser.ui.browse.stats_panel import StatsPanel
    from ckpt_browser.ui.browse.values_view import ValuesView
    from ckpt_browser.ui.widgets.histogram_plot import HistogramPlot

TENSOR_SPLITTERS = ("tensor", "stats_histogram")  # names of the pane's splitters in settings


class TensorView(QWidget):
    """Header, statistics beside the histogram, and the values below; all for one tensor."""

    busy_changed = Signal(bool)
    analysis_done = Signal()
    # Reading the tensor failed: the format layer's sentence, once per tensor. The pane shows it
    # itself; a dialog would stop arrow-key browsing at every damaged tensor of a damaged file.
    failed = Signal(str)

    # Made by `_build` when the first tensor is shown.
    stats_panel: StatsPanel
    histogram_plot: HistogramPlot
    values: ValuesView

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.runner = TaskRunner(self)
        self.runner.busy_changed.connect(self.busy_changed)
        self._checkpoint: Checkpoint | None = None
        self._info: TensorInfo | None = None
        self._analysis: Analysis | None = None
        self._stats_task: TaskHandle | None = None
        self._histogram_task: TaskHandle | None = None
        self._failure_reported_for: str | None = None
        self._preview: QuickPreview | None = None
        self.cache = AnalysisCache()
        self.compute = ComputeTarget()  # where huge tensors' statistics run (Compute Settings)

        self.placeholder = QLabel(
            "Select a variable in the tree to see its statistics, histogram and values."
        )
        self.placeholder.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.placeholder.setWordWrap(True)
        self.pages = QStackedWidget()
        self.pages.addWidget(self.placeholder)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.pages)
        self._built = False
        self._splitter_states: dict[str, QByteArray] = {}

    # -- public -----------------------------------------------------------------------------------

    @property
    def key(self) -> str | None:
        return self._info.name if self._info is not None else None

    @property
    def info(self) -> TensorInfo | None:
        return self._info

    @property
    def analysis(self) -> Analysis | None:
        return self._analysis

    @property
    def busy(self) -> bool:
        return self.runner.busy or (self._built and self.values.busy)

    def splitter_states(self) -> dict[str, QByteArray]:
        """The pane's splitter positions, to keep in the settings."""
        if not self._built:
            return dict(self._splitter_states)
        return {name: splitter.saveState() for name, splitter in self._splitters().items()}

    def restore_splitter_states(self, states: dict[str, QByteArray]) -> None:
        """Put the splitters where `splitter_states` found them (applied once they exist)."""
        self._splitter_states = dict(states)
        if self._built:
            for name, splitter in self._splitters().items():
                if name in states:
                    splitter.restoreState(states[name])

    def _splitters(self) -> dict[str, QSplitter]:
        return {"tensor": self.vertical_splitter, "stats_histogram": self.top_splitter}

    def show_tensor(self, checkpoint: Checkpoint | None, key: str | None) -> None:
        """Show tensor `key` of `checkpoint` (None: nothing selected)."""
        if checkpoint is self._checkpoint and key == self.key and key is not None:
            return  # re-selected after a filter or sort: the results are still right
        self.cancel()
        self._analysis = self._preview = None
        self._failure_reported_for = None
        self._checkpoint = checkpoint
        self._info = checkpoint[key] if checkpoint is not None and key is not None else None
        info = self._info
        if checkpoint is None or info is None:
            if self._built:
                self.title_label.clear()
                self.info_label.clear()
                self._show_error_line(None)
                self._show_checksum_note(None)
                self.stats_panel.offer_exact(False)
                self.stats_panel.set_stats(None)
                self.histogram_plot.clear()
                self.values.clear()
            self.pages.setCurrentWidget(self.placeholder)
            return
        self._build()
        self.pages.setCurrentIndex(1)
        self._show_error_line(None)
        self.title_label.setText(info.readable_name)
        self.title_label.setToolTip(plain_tooltip(info.readable_name))
        self.info_label.setText(self._describe(info))
        self.info_label.setToolTip(plain_tooltip(self._describe(info)))
        self._check_checksum(checkpoint, info)
        self.values.set_tensor(checkpoint, info)
        cached = self.cache.get(self._cache_key())
        if cached is not None:  # seen lately: the same bytes, the same bins
            self._on_analysis(cached)
            return
        self.stats_panel.set_stats(None, "computing…" if info.size else "")
        self.histogram_plot.clear("computing…" if info.size else "empty tensor")
        self._start_analysis()

    def compute_exact(self) -> None:
        """Start the exact statistics again (after a cancel)."""
        if self._info is None or self._analysis is not None or self._stats_task is not None:
            return
        if self._preview is None:
            self.stats_panel.set_stats(None, "computing…")
        else:
            self._show_preview(self._preview, "computing the exact ones…")
        self._start_analysis()

    def cancel(self) -> None:
        """Stop computing for the current tensor; what is already shown stays, marked."""
        if not self._built:
            return  # nothing can have started before the pane was built
        running = [t for t in (self._stats_task, self._histogram_task) if t and t.pending]
        for task in running:
            task.cancel()
        self._stats_task = self._histogram_task = None
        self._set_progress_visible(False)
        if not running or self._info is None:
            return
        if self._analysis is None:
            if self._preview is not None:
                self._show_preview(self._preview, "exact computation cancelled")
            else:
                self.stats_panel.set_stats(None, "cancelled")
            self.stats_panel.offer_exact(True)
        if not self.histogram_plot.exact:
            if self.histogram_plot.counts.size:
                self.histogram_plot.note_label.setText(
                    "sampled preview only: the exact computation was cancelled"
                )
            else:
                self.histogram_plot.clear("cancelled")

    def shutdown(self) -> None:
        """Stop all work and wait for the threads (before the window and checkpoint go)."""
        self.cancel()
        if self._built:
            self.values.shutdown()
        self.runner.cancel_all()
        self.runner.wait_all(5000)
        self.compute.close()

    def prepare(self) -> None:
        """Build the pane now (an interactive window does it right after start-up, so the first
        click on a tensor does not wait for pyqtgraph's import)."""
        self._build()

    def _build(self) -> None:
        """Make the widgets of the tensor pane, the first time a tensor is shown.

        They need pyqtgraph, which takes about half a second to import; a window that shows no
        tensor yet (a big checkpoint just opened, a --screenshot of the tree) does without it.
        """
        if self._built:
            return
        from ckpt_browser.ui.browse.stats_panel import StatsPanel
        from ckpt_browser.ui.browse.values_view import ValuesView
        from ckpt_browser.ui.widgets.histogram_plot import HistogramPlot

        self.title_label = name_title_label()
        # Deep TF2 object paths are long: let the title be cut rather than widen the window.
        self.title_label.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.info_label = QLabel()
        self.info_label.setTextFormat(Qt.TextFormat.PlainText)
        self.info_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        # Cut at the edge rather than widen the window (a wrapping label would ask for more width).
        self.info_label.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.progress = ProgressBar(maximum=1000)
        self.progress.setMaximumWidth(180)
        self.cancel_button = QToolButton()
        self.cancel_button.setText("Cancel")
        self.cancel_button.setToolTip("Stop computing the statistics of this tensor")
        self.cancel_button.clicked.connect(self.cancel)
        self._set_progress_visible(False)
        self.error_label = QLabel()
        self.error_label.setTextFormat(Qt.TextFormat.PlainText)
        self.error_label.setObjectName("tensor_error")
        self.error_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.error_label.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.error_label.setStyleSheet("color: #d0302f; font-weight: bold;")
        self.error_label.setVisible(False)
        self.checksum_label = QLabel()
        self.checksum_label.setObjectName("tensor_checksum")
        self.checksum_label.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.checksum_label.setStyleSheet("color: #d0302f; font-weight: bold;")
        self.checksum_label.setVisible(False)

        self.stats_panel = StatsPanel()
        self.stats_panel.compute_exact_requested.connect(self.compute_exact)
        stats_scroll = QScrollArea()
        stats_scroll.setWidget(self.stats_panel)
        stats_scroll.setWidgetResizable(True)
        stats_scroll.setFrameShape(QScrollArea.Shape.NoFrame)
        stats_scroll.setMinimumWidth(200)
        self.histogram_plot = HistogramPlot()
        self.histogram_plot.bins_changed.connect(self._on_bins_changed)
        self.values = ValuesView(self.runner)
        self.values.notation_changed.connect(self.stats_panel.set_notation)
        self.values.failed.connect(self._report_failure)

        self.top_splitter = QSplitter(Qt.Orientation.Horizontal)
        self.top_splitter.setObjectName("stats_histogram_splitter")
        self.top_splitter.addWidget(stats_scroll)
        self.top_splitter.addWidget(self.histogram_plot)
        self.top_splitter.setStretchFactor(1, 1)
        self.top_splitter.setSizes([260, 580])
        self.vertical_splitter = QSplitter(Qt.Orientation.Vertical)
        self.vertical_splitter.setObjectName("tensor_splitter")
        self.vertical_splitter.addWidget(self.top_splitter)
        self.vertical_splitter.addWidget(self.values)
        self.vertical_splitter.setSizes([380, 420])

        header = QHBoxLayout()
        header.setContentsMargins(0, 0, 0, 0)
        titles = QVBoxLayout()
        titles.addWidget(self.title_label)
        titles.addWidget(self.info_label)
        titles.addWidget(self.error_label)
        titles.addWidget(self.checksum_label)
        header.addLayout(titles, 1)
        header.addWidget(self.progress)
        header.addWidget(self.cancel_button)
        content = QWidget()
        content_layout = QVBoxLayout(content)
        content_layout.setContentsMargins(4, 0, 0, 0)
        content_layout.addLayout(header)
        content_layout.addWidget(self.vertical_splitter, 1)
        self.pages.addWidget(content)
        self._built = True
        self.restore_splitter_states(self._splitter_states)

    # -- analysis ---------------------------------------------------------------------------------

    def _cache_key(self, bins: int | None = None):
        if self._info is None or not self._built:
            return None
        bins = self.histogram_plot.bins if bins is None else bins
        return self.cache.key(self._checkpoint, self._info.name, bins)

    def _start_analysis(self) -> None:
        checkpoint, info = self._checkpoint, self._info
        if checkpoint is None or info is None or info.size == 0:
            return
        bins = self.histogram_plot.bins
        key = self._cache_key(bins)
        self.stats_panel.offer_exact(False)

        preview = self._preview is None  # not when "Compute exact" follows a cancel
        work = analysis_work(self.compute, checkpoint, info, bins, preview)

        def done(analysis: Analysis) -> None:
            self.cache.put(key, analysis)
            self._on_analysis(analysis)

        self._stats_task = self.runner.start(
            work,
            done,
            on_failed=self._on_analysis_failed,
            on_progress=self._on_progress,
            on_partial=self._on_quick_preview,
            user_errors=WORK_ERRORS,
            doing=f"compute the statistics of {info.name!r} in {checkpoint.prefix}",
        )
        self.progress.setValue(0)
        self._set_progress_visible(True)

    def _on_bins_changed(self, bins: int) -> None:
        analysis, info, checkpoint = self._analysis, self._info, self._checkpoint
        if info is None or info.size == 0 or checkpoint is None:
            return
        if analysis is None:  # the exact histogram is not there yet: start over with these bins
            self.cancel()
            self._start_analysis()
            return
        if self._histogram_task is not None:
            self._histogram_task.cancel()
        cached = self.cache.get(self._cache_key(bins))
        if cached is not None:
            self._on_new_histogram(cached.histogram)
            return
        stats, key = analysis.stats, self._cache_key(bins)
        work = histogram_work(self.compute, checkpoint, info, stats, bins)

        def done(exact: Histogram) -> None:
            self.cache.put(key, Analysis(stats, exact))
            self._on_new_histogram(exact)

        self._histogram_task = self.runner.start(
            work,
            done,
            on_failed=self._on_analysis_failed,
            on_progress=self._on_progress,
            user_errors=WORK_ERRORS,
            doing=f"compute the histogram of {info.name!r} in {checkpoint.prefix}",
        )
        self._set_progress_visible(True)

    def _on_quick_preview(self, preview: QuickPreview) -> None:
        self._preview = preview
        self._show_preview(preview, "computing the exact ones…")
        self._draw_histogram(preview.histogram)

    def _show_preview(self, preview: QuickPreview, state: str) -> None:
        sample = plural(preview.sample_size, "value")
        note = f"≈: approximate, from a sample of {sample}; {state}"
        extra = self._stats_note(preview.stats)
        self.stats_panel.set_stats(preview.stats, f"{note}\n{extra}" if extra else note, True)

    def _on_analysis(self, analysis: Analysis) -> None:
        self._stats_task = None
        self._analysis = analysis
        self.stats_panel.offer_exact(False)
        self.stats_panel.set_stats(analysis.stats, self._stats_note(analysis.stats))
        self._draw_histogram(analysis.histogram)
        self._set_progress_visible(self._histogram_task is not None)
        self.analysis_done.emit()

    def _on_new_histogram(self, exact: Histogram) -> None:
        self._histogram_task = None
        self._set_progress_visible(self._stats_task is not None)
        if self._analysis is not None:
            self._analysis = dataclasses.replace(self._analysis, histogram=exact)
        self._draw_histogram(exact)
        self.analysis_done.emit()

    def _draw_histogram(self, hist: Histogram) -> None:
        self.histogram_plot.set_histogram(
            hist.counts,
            hist.edges,
            exact=hist.exact,
            nan_count=hist.nan_count,
            inf_count=hist.posinf_count + hist.neginf_count,
            sample_size=None if hist.exact else hist.counted,
            measure=hist.measure,
        )

    @staticmethod
    def _stats_note(stats: TensorStats) -> str:
        if stats.measure == "magnitude":
            return "Statistics of the magnitudes |z|."
        if stats.measure == "length":
            return "Statistics of the string lengths in bytes."
        return ""

    def _on_analysis_failed(self, message: str) -> None:
        self._stats_task = self._histogram_task = None
        self._set_progress_visible(False)
        self._report_failure(message)

    def _report_failure(self, message: str) -> None:
        """Reading failed (statistics or values): the sentence in the pane, nothing of the
        tensor shown before; statistics and values read the same bytes, so once per tensor."""
        if self._failure_reported_for == self.key:
            return
        self._failure_reported_for = self.key
        self.cancel()
        self._analysis = None
        self._show_error_line(message)
        self.stats_panel.offer_exact(False)
        self.stats_panel.set_stats(None, "could not be read")
        self.histogram_plot.clear("could not be read")
        self.values.clear("Could not read the values (see above).")
        self.failed.emit(message)

    def _check_checksum(self, checkpoint: Checkpoint, info: TensorInfo) -> None:
        """Check the tensor's stored checksum in a worker; a mismatch shows as a note."""
        self._show_checksum_note(None)
        key = info.name

        def done(problem: str | None) -> None:
            if self._checkpoint is checkpoint and self.key == key:
                self._show_checksum_note(problem)

        work = checksum_work(self.compute, checkpoint, info)
        self.runner.start(work, done, user_errors=WORK_ERRORS)

    def _show_checksum_note(self, problem: str | None) -> None:
        """One line under the tensor's title; the whole sentence in its tooltip."""
        note = "Damaged: these bytes do not match their stored checksum; TensorFlow refuses them"
        self.checksum_label.setText(note if problem else "")
        self.checksum_label.setToolTip(plain_tooltip(problem or ""))
        self.checksum_label.setVisible(bool(problem))

    def _show_error_line(self, message: str | None) -> None:
        """One line under the tensor's title; the whole sentence in its tooltip."""
        self.error_label.setText(f"Cannot read this tensor: {message}" if message else "")
        self.error_label.setToolTip(plain_tooltip(message or ""))
        self.error_label.setVisible(bool(message))

    def _on_progress(self, fraction: float) -> None:
        self.progress.setValue(int(fraction * 1000))

    def _set_progress_visible(self, visible: bool) -> None:
        self.progress.setVisible(visible)
        self.cancel_button.setVisible(visible)

    @staticmethod
    def _describe(info: TensorInfo) -> str:
        parts = [
            info.dtype.name,
            format_shape(info.shape),
            plural(info.size, "element"),
            format_bytes(info.nbytes),
            info.kind.value,
        ]
        if info.readable_name != info.name:
            parts.append(f"key {info.name}")
        if info.slot_of:
            parts.append(f"slot of {info.slot_of}")
        if info.partitioned:
            parts.append("partitioned")
        return "  ·  ".join(parts)
