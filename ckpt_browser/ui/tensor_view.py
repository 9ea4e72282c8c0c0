"""The right pane: what one tensor is, its statistics, its histogram and its values.

Statistics and the histogram are exact over the whole tensor and are computed in a worker thread
with progress and cancel. For a large tensor a quick histogram of a strided sample is drawn first
and replaced by the exact one when it is ready, so the user sees the shape of the distribution at
once and the window never waits on a pass over hundreds of megabytes.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from ckpt_browser.core.stats import (
    Histogram,
    TensorStats,
    compute_stats,
    histogram,
    quick_histogram,
)
from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QFont
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QProgressBar,
    QScrollArea,
    QSplitter,
    QStackedWidget,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from ckpt_browser.core.formatting import format_bytes, format_count, format_shape
from ckpt_browser.format import Checkpoint, TensorInfo
from ckpt_browser.ui.histogram_plot import HistogramPlot
from ckpt_browser.ui.stats_panel import StatsPanel
from ckpt_browser.ui.values_view import ValuesView
from ckpt_browser.ui.workers import TaskContext, TaskHandle, TaskRunner

# Above this many elements a quick sampled histogram is shown before the exact one.
QUICK_PREVIEW_THRESHOLD = 2_000_000
QUICK_SAMPLE = 1_000_000
STATS_SHARE = 0.6  # the part of the progress bar the statistics take; the histogram takes the rest


@dataclass(frozen=True)
class QuickPreview:
    histogram: Histogram
    sample_size: int


@dataclass(frozen=True)
class Analysis:
    """Everything the stats worker returns for one tensor."""

    array: np.ndarray
    stats: TensorStats
    histogram: Histogram | None  # None for strings


def _scaled(context: TaskContext, start: float, share: float):
    return lambda fraction: context.report(start + share * fraction)


def analyse(checkpoint: Checkpoint, info: TensorInfo, bins: int, context: TaskContext) -> Analysis:
    """Read the tensor, publish a quick preview if it is large, then compute the exact results."""
    array = checkpoint.read(info.name)
    context.raise_if_cancelled()
    numeric = not info.dtype.is_string
    if numeric and array.size > QUICK_PREVIEW_THRESHOLD:
        sample = min(QUICK_SAMPLE, array.size)
        context.publish(QuickPreview(quick_histogram(array, bins, sample=sample), sample))
    stats = compute_stats(
        array, progress=_scaled(context, 0.0, STATS_SHARE), cancel=context.cancelled
    )
    exact = None
    if numeric:
        exact = histogram(
            array,
            bins,
            progress=_scaled(context, STATS_SHARE, 1.0 - STATS_SHARE),
            cancel=context.cancelled,
        )
    context.report(1.0)
    return Analysis(array, stats, exact)


class TensorView(QWidget):
    """Header, statistics beside the histogram, and the values below; all for one tensor."""

    busy_changed = Signal(bool)
    analysis_done = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.runner = TaskRunner(self)
        self.runner.busy_changed.connect(self.busy_changed)
        self._checkpoint: Checkpoint | None = None
        self._info: TensorInfo | None = None
        self._analysis: Analysis | None = None
        self._stats_task: TaskHandle | None = None

        self.title_label = QLabel()
        title_font = QFont(self.title_label.font())
        title_font.setBold(True)
        title_font.setPointSizeF(title_font.pointSizeF() * 1.15)
        self.title_label.setFont(title_font)
        self.title_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.info_label = QLabel()
        self.info_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.info_label.setWordWrap(True)
        self.progress = QProgressBar()
        self.progress.setRange(0, 1000)
        self.progress.setMaximumWidth(180)
        self.progress.setTextVisible(False)
        self.cancel_button = QToolButton()
        self.cancel_button.setText("Cancel")
        self.cancel_button.setToolTip("Stop computing the statistics of this tensor")
        self.cancel_button.clicked.connect(self.cancel)
        self._set_progress_visible(False)

        self.stats_panel = StatsPanel()
        stats_scroll = QScrollArea()
        stats_scroll.setWidget(self.stats_panel)
        stats_scroll.setWidgetResizable(True)
        stats_scroll.setFrameShape(QScrollArea.Shape.NoFrame)
        stats_scroll.setMinimumWidth(200)
        self.histogram_plot = HistogramPlot()
        self.histogram_plot.bins_changed.connect(self._on_bins_changed)
        self.values = ValuesView(self.runner)
        self.values.notation_changed.connect(self.stats_panel.set_notation)

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
        header.addLayout(titles, 1)
        header.addWidget(self.progress)
        header.addWidget(self.cancel_button)
        content = QWidget()
        content_layout = QVBoxLayout(content)
        content_layout.setContentsMargins(4, 0, 0, 0)
        content_layout.addLayout(header)
        content_layout.addWidget(self.vertical_splitter, 1)
        self.placeholder = QLabel(
            "Select a variable in the tree to see its statistics, histogram and values."
        )
        self.placeholder.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.placeholder.setWordWrap(True)
        self.pages = QStackedWidget()
        self.pages.addWidget(self.placeholder)
        self.pages.addWidget(content)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.pages)
        self.show_tensor(None, None)

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
        return self.runner.busy or self.values.busy

    def splitters(self) -> dict[str, QSplitter]:
        return {"tensor": self.vertical_splitter, "stats_histogram": self.top_splitter}

    def show_tensor(self, checkpoint: Checkpoint | None, key: str | None) -> None:
        """Show tensor `key` of `checkpoint` (None: nothing selected)."""
        if checkpoint is self._checkpoint and key == self.key and key is not None:
            return  # re-selected after a filter or sort: the results are still right
        self.cancel()
        self._analysis = None
        self._checkpoint = checkpoint
        self._info = checkpoint[key] if checkpoint is not None and key is not None else None
        info = self._info
        if checkpoint is None or info is None:
            self.title_label.clear()
            self.info_label.clear()
            self.stats_panel.set_stats(None)
            self.histogram_plot.clear()
            self.values.clear()
            self.pages.setCurrentWidget(self.placeholder)
            return
        self.pages.setCurrentIndex(1)
        self.title_label.setText(info.readable_name)
        self.info_label.setText(self._describe(info))
        self.stats_panel.set_stats(None, "computing…" if info.size else "")
        self.histogram_plot.clear("computing…" if info.size else "empty tensor")
        self.values.set_tensor(checkpoint, info)
        self._start_analysis()

    def cancel(self) -> None:
        """Stop the statistics of the current tensor (the sampled preview stays, marked)."""
        if self._stats_task is not None and self._stats_task.pending:
            self._stats_task.cancel()
            if self._info is not None:
                self.stats_panel.set_stats(None, "cancelled")
                if self.histogram_plot.counts.size:
                    self.histogram_plot.note_label.setText(
                        "sampled preview only: the exact computation was cancelled"
                    )
                else:
                    self.histogram_plot.clear("cancelled")
        self._stats_task = None
        self._set_progress_visible(False)

    def shutdown(self) -> None:
        """Stop all work and wait for the threads (before the window and checkpoint go)."""
        self.cancel()
        self.values.shutdown()
        self.runner.cancel_all()
        self.runner.wait_all(5000)

    # -- analysis ---------------------------------------------------------------------------------

    def _start_analysis(self) -> None:
        checkpoint, info = self._checkpoint, self._info
        if checkpoint is None or info is None:
            return
        bins = self.histogram_plot.bins
        self._stats_task = self.runner.start(
            lambda context: analyse(checkpoint, info, bins, context),
            self._on_analysis,
            on_failed=self._on_analysis_failed,
            on_progress=self._on_progress,
            on_partial=self._on_quick_preview,
        )
        self.progress.setValue(0)
        self._set_progress_visible(True)

    def _on_bins_changed(self, bins: int) -> None:
        analysis, info = self._analysis, self._info
        if info is None:
            return
        if analysis is None:  # still computing: start over with the new bin count
            self.cancel()
            self._start_analysis()
            return
        if analysis.histogram is None:
            return
        array = analysis.array

        def work(context: TaskContext) -> Histogram:
            return histogram(array, bins, progress=context.report, cancel=context.cancelled)

        self._stats_task = self.runner.start(
            work,
            self._show_histogram,
            on_failed=self._on_analysis_failed,
            on_progress=self._on_progress,
        )
        self._set_progress_visible(True)

    def _on_quick_preview(self, preview: QuickPreview) -> None:
        self._draw_histogram(preview.histogram, exact=False, sample_size=preview.sample_size)

    def _on_analysis(self, analysis: Analysis) -> None:
        self._analysis = analysis
        self._set_progress_visible(False)
        note = "of the magnitudes |z|" if analysis.stats.of_magnitude else ""
        if self._info is not None and self._info.dtype.is_string:
            note = "strings: only counts are shown"
        self.stats_panel.set_stats(analysis.stats, note)
        if analysis.histogram is None:
            self.histogram_plot.clear("no histogram for strings")
        else:
            self._draw_histogram(analysis.histogram, exact=True)
        self.analysis_done.emit()

    def _show_histogram(self, exact: Histogram) -> None:
        self._set_progress_visible(False)
        if self._analysis is not None:
            self._analysis = Analysis(self._analysis.array, self._analysis.stats, exact)
        self._draw_histogram(exact, exact=True)
        self.analysis_done.emit()

    def _draw_histogram(
        self, hist: Histogram, *, exact: bool, sample_size: int | None = None
    ) -> None:
        self.histogram_plot.set_histogram(
            hist.counts,
            hist.edges,
            exact=exact,
            nan_count=hist.nan_count,
            inf_count=hist.posinf_count + hist.neginf_count,
            sample_size=sample_size,
        )

    def _on_analysis_failed(self, message: str) -> None:
        self._set_progress_visible(False)
        self.stats_panel.set_stats(None, f"failed: {message}")
        self.histogram_plot.clear(f"failed: {message}")

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
            f"{format_count(info.size)} elements",
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
