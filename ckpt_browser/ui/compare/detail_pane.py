"""The right side of the compare view: one name of A and B, side by side.

What each side is (dtype, shape, key; in colour where they differ), the distances, the histograms
of A and B on shared bins, the histogram of A - B, and the same slice of A, B and A - B
(`compare_slices`: heatmaps, or lines for 1-D tensors). The histograms and slices are computed by
workers (`core.compare_detail`), so selecting a large tensor never blocks the window. Legends are
plot titles, outside the data.
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QColor
from PySide6.QtWidgets import QGridLayout, QLabel, QSplitter, QVBoxLayout, QWidget

from ckpt_browser.core.compare.checkpoints import TensorComparison
from ckpt_browser.core.compare.detail import (
    HistogramPair,
    SliceTriple,
    difference_histogram,
    histogram_pair,
    is_numeric,
    read_slices,
)
from ckpt_browser.core.compare.report import describe_difference, format_distance
from ckpt_browser.core.formatting import format_count, format_shape, plural
from ckpt_browser.core.tensor.stats import Histogram
from ckpt_browser.format import Checkpoint, TensorInfo
from ckpt_browser.ui.compare.lines import B_COLOR, DIFFERENCE_NOTE, legend_html
from ckpt_browser.ui.compare.slices import CompareSlices
from ckpt_browser.ui.widgets import theme
from ckpt_browser.ui.widgets.histogram_plot import _LOG_EMPTY_LEVEL, HistogramPlot
from ckpt_browser.ui.widgets.plain_text import name_title_label
from ckpt_browser.ui.widgets.workers import TaskContext, TaskHandle, TaskRunner


class OverlaidHistogram(HistogramPlot):
    """HistogramPlot with a second step curve: B drawn over A on the same bins."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.curve_b = pg.PlotDataItem(stepMode="center", fillLevel=0.0)
        self._counts_b = np.zeros(0, dtype=np.int64)
        self.plot_widget.addItem(self.curve_b)
        self._apply_colors()

    @property
    def counts_b(self) -> np.ndarray:
        return self._counts_b

    def set_pair(self, pair: HistogramPair) -> None:
        """Draw A and B (either may be missing); the note says what is not in the bars, or that
        the bars are a sampled preview."""
        reference = pair.a or pair.b
        if reference is None:
            self.clear("no numbers to draw")
            return
        empty = np.zeros_like(reference.counts)
        self._counts_b = pair.b.counts if pair.b is not None else empty
        counts_a = pair.a.counts if pair.a is not None else empty
        drawn = [h for h in (pair.a, pair.b) if h is not None]
        exact = all(h.exact for h in drawn)
        sample = max(h.counted for h in drawn)
        self.set_histogram(counts_a, reference.edges, exact=exact, sample_size=sample)
        if exact:
            notes = [_not_drawn(side, h) for side, h in (("A", pair.a), ("B", pair.b)) if h]
            self.note_label.setText("  ".join(note for note in notes if note))

    def clear(self, message: str = "") -> None:
        if hasattr(self, "curve_b"):
            self._counts_b = np.zeros(0, dtype=np.int64)
            self.curve_b.setData([], [])
        super().clear(message)

    def _apply_colors(self) -> None:
        super()._apply_colors()
        if not hasattr(self, "curve_b"):  # called by the base class before B's curve exists
            return
        fill = QColor(B_COLOR)
        fill.setAlpha(110)
        self.curve_b.setPen(pg.mkPen(B_COLOR, width=1))
        self.curve_b.setBrush(pg.mkBrush(fill))
        self.plot_widget.setTitle(legend_html([("A", theme.accent()), ("B", B_COLOR)]), size="9pt")

    def _redraw(self) -> None:
        super()._redraw()
        if not hasattr(self, "curve_b"):
            return
        counts, edges = self._counts_b, self.edges
        if counts.size == 0 or edges.size != counts.size + 1:
            self.curve_b.setData([], [])
            return
        heights = counts.astype(np.float64)
        level = 0.0
        if self.log_y:  # the same transform the base class applies to A
            with np.errstate(divide="ignore"):
                heights = np.where(heights > 0, np.log10(heights), _LOG_EMPTY_LEVEL)
            level = _LOG_EMPTY_LEVEL
        self.curve_b.setFillLevel(level)
        self.curve_b.setData(edges, heights)


class CompareDetailPane(QWidget):
    """Shows one TensorComparison of two open checkpoints."""

    details_shown = Signal()  # histograms or slices have arrived (for tests and screenshots)

    def __init__(self, runner: TaskRunner, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.runner = runner
        self._item: TensorComparison | None = None
        self._checkpoints: tuple[Checkpoint | None, Checkpoint | None] = (None, None)
        self._histogram_task: TaskHandle | None = None
        self._slice_task: TaskHandle | None = None

        self.title_label = name_title_label()
        self.side_labels = {side: QLabel() for side in ("A", "B")}
        sides = QGridLayout()
        sides.setContentsMargins(0, 0, 0, 0)
        for column, label in enumerate(self.side_labels.values()):
            label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
            label.setWordWrap(True)
            sides.addWidget(label, 0, column)
        self.distances_label = QLabel()
        self.distances_label.setTextFormat(Qt.TextFormat.PlainText)
        self.distances_label.setWordWrap(True)
        self.distances_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)

        self.histograms = OverlaidHistogram()
        self.difference_histogram = HistogramPlot()
        self.difference_histogram.plot_widget.setTitle(DIFFERENCE_NOTE, size="9pt")
        self.histograms.bins_changed.connect(self._on_bins_changed)
        self.difference_histogram.bins_changed.connect(self._on_bins_changed)

        self.slices = CompareSlices()
        self.slicer = self.slices.slicer
        self.slicer.changed.connect(self._start_slices)
        self.heatmaps = self.slices.grid.heatmaps
        self.lines = self.slices.lines

        self.histogram_splitter = QSplitter(Qt.Orientation.Horizontal)
        self.histogram_splitter.addWidget(self.histograms)
        self.histogram_splitter.addWidget(self.difference_histogram)
        self.splitter = QSplitter(Qt.Orientation.Vertical)
        self.splitter.addWidget(self.histogram_splitter)
        self.splitter.addWidget(self.slices)
        self.splitter.setSizes([300, 420])

        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 0, 0, 0)
        layout.addWidget(self.title_label)
        layout.addLayout(sides)
        layout.addWidget(self.distances_label)
        layout.addWidget(self.splitter, 1)
        self.show_item(None, None, None)

    # -- public -----------------------------------------------------------------------------------

    @property
    def item(self) -> TensorComparison | None:
        return self._item

    def show_item(
        self, item: TensorComparison | None, a: Checkpoint | None, b: Checkpoint | None
    ) -> None:
        """Show `item` (None: nothing selected) of checkpoints `a` and `b`."""
        self.cancel()
        self._item = item
        self._checkpoints = (a, b)
        if item is None:
            self.title_label.setText("Select a name in the table")
            for label in self.side_labels.values():
                label.clear()
            self.distances_label.clear()
            self.histograms.clear()
            self.difference_histogram.clear()
            self.slices.clear()
            return
        self.title_label.setText(item.name)
        for side, info, other in (("A", item.a, item.b), ("B", item.b, item.a)):
            self.side_labels[side].setText(_side_text(side, info, other))
        self.distances_label.setText(_distances_text(item))
        same_shape = item.a is not None and item.b is not None and item.a.shape == item.b.shape
        shape = item.a.shape if item.a is not None else item.b.shape
        self.slices.set_shape(shape if same_shape else None)
        self.histograms.clear("computing…")
        self.difference_histogram.clear("computing…" if same_shape else "shapes differ")
        self._start_histograms()
        self._start_slices()

    def cancel(self) -> None:
        for task in (self._histogram_task, self._slice_task):
            if task is not None and task.pending:
                task.cancel()
        self._histogram_task = self._slice_task = None

    # -- histograms -------------------------------------------------------------------------------

    def _on_bins_changed(self, bins: int) -> None:
        for plot in (self.histograms, self.difference_histogram):
            plot.bins_spin.blockSignals(True)
            plot.bins_spin.setValue(bins)
            plot.bins_spin.blockSignals(False)
        if self._item is not None:
            self._start_histograms()

    def _start_histograms(self) -> None:
        item, (a, b) = self._item, self._checkpoints
        if item is None:
            return
        if self._histogram_task is not None and self._histogram_task.pending:
            self._histogram_task.cancel()
        bins = self.histograms.bins
        limit = item.distance("max_abs_diff")

        def work(context: TaskContext) -> tuple[HistogramPair, Histogram | None]:
            pair = histogram_pair(
                a,
                item.a,
                b,
                item.b,
                bins,
                progress=_half(context, 0),
                cancel=context.cancelled,
                on_preview=context.publish,
            )
            difference = None
            if a is not None and b is not None and item.a is not None and item.b is not None:
                progress = _half(context, 1)
                difference = difference_histogram(
                    a, item.a, b, item.b, bins, limit, progress=progress, cancel=context.cancelled
                )
            return pair, difference

        self._histogram_task = self.runner.start(
            work,
            self._show_histograms,
            on_failed=self._on_failed,
            on_partial=self.histograms.set_pair,
            doing=f"compare the values of {item.name!r}",
        )

    def _show_histograms(self, result: tuple[HistogramPair, Histogram | None]) -> None:
        pair, difference = result
        self.histograms.set_pair(pair)
        if difference is not None:
            self.difference_histogram.set_histogram(
                difference.counts,
                difference.edges,
                exact=True,
                nan_count=difference.nan_count,
                inf_count=difference.posinf_count + difference.neginf_count,
            )
        else:
            reason = _missing_reason(self._item, DIFFERENCE_NOTE)
            self.difference_histogram.clear(reason or "no difference to draw")
        self.details_shown.emit()

    # -- slices -----------------------------------------------------------------------------------

    def _start_slices(self) -> None:
        item, (a, b) = self._item, self._checkpoints
        if item is None:
            return
        if self._slice_task is not None and self._slice_task.pending:
            self._slice_task.cancel()
        spec = self.slicer.spec() if self.slicer.shape else None

        def work(context: TaskContext) -> SliceTriple:
            return read_slices(a, item.a, b, item.b, spec)

        self._slice_task = self.runner.start(
            work,
            self._show_slices,
            on_failed=self._on_failed,
            doing=f"read a slice of {item.name!r}",
        )

    def _show_slices(self, triple: SliceTriple) -> None:
        reasons = {title: _missing_reason(self._item, title) for title in ("A", "B")}
        reasons[DIFFERENCE_NOTE] = _missing_reason(self._item, DIFFERENCE_NOTE)
        self.slices.show_triple(triple, reasons)
        self.details_shown.emit()

    def _on_failed(self, message: str) -> None:
        self.histograms.clear(f"failed: {message}")
        self.difference_histogram.clear(f"failed: {message}")


# -- text -----------------------------------------------------------------------------------------


def _side_text(side: str, info: TensorInfo | None, other: TensorInfo | None) -> str:
    if info is None:
        return f"<b>{side}</b>: <i>not in this checkpoint</i>"
    dtype, shape = info.dtype.name, format_shape(info.shape)
    if other is not None and other.dtype.name != info.dtype.name:
        dtype = f"<span style='color:#b05be0'><b>{dtype}</b></span>"
    if other is not None and other.shape != info.shape:
        shape = f"<span style='color:#b05be0'><b>{shape}</b></span>"
    key = "" if info.name == info.readable_name else f" · key {info.name}"
    return f"<b>{side}</b>: {dtype} {shape} · {plural(info.size, 'element')}{key}"


def _distances_text(item: TensorComparison) -> str:
    structural = describe_difference(item)
    d = item.distances
    if d is None:
        return structural or "no values compared"
    parts = []
    labels = (
        ("max_abs_diff", "max |a−b|"),
        ("mean_abs_diff", "mean |a−b|"),
        ("rms_diff", "RMS"),
        ("rel_l2", "rel. L2"),
        ("cosine", "cosine"),
        ("mismatch_fraction", "mismatch"),
    )
    for field_name, label in labels:
        text = format_distance(field_name, item.distance(field_name))
        if text:
            if field_name == "max_abs_diff" and d.max_abs_diff and d.max_abs_diff_index:
                text += " at [" + ", ".join(str(i) for i in d.max_abs_diff_index) + "]"
            parts.append(f"{label} {text}")
    if d.nonfinite_mismatches:
        parts.append(f"{format_count(d.nonfinite_mismatches)} unmatched NaN/Inf")
    if structural:
        parts.append(structural)
    return "  ·  ".join(parts)


def _not_drawn(side: str, hist: Histogram) -> str:
    left_out = []
    if hist.nan_count:
        left_out.append(f"NaN {format_count(hist.nan_count)}")
    infinite = hist.posinf_count + hist.neginf_count
    if infinite:
        left_out.append(f"±Inf {format_count(infinite)}")
    return f"{side}: " + ", ".join(left_out) + " (not in the bars)" if left_out else ""


def _missing_reason(item: TensorComparison | None, title: str) -> str:
    if item is None:
        return ""
    info = {"A": item.a, "B": item.b}.get(title)
    if title in ("A", "B"):
        return "not in this checkpoint" if info is None else "no numbers to draw"
    if item.a is None or item.b is None:
        return "only one side has this name"
    if item.a.shape != item.b.shape:
        return "shapes differ"
    if not (is_numeric(item.a) and is_numeric(item.b)):
        return "strings: no difference to draw"
    return ""


def _half(context: TaskContext, which: int):
    return lambda fraction: context.report((which + fraction) / 2)
