"""The histogram of a tensor: bars, a bin-count control, a log-y toggle and a NaN/Inf note.

The widget draws counts it is given; the tensor view computes them (a quick subsample first, then
the exact counts) and recomputes when the bin count changes. Bars are one filled step curve, which
draws thousands of bins as fast as ten. Log-y is done here rather than with pyqtgraph's log mode,
because the log of an empty bin is -inf and would break the fill: empty bins sit below the
baseline, a bin of one count rises just above it. Counts label the y axis as `250K` and `1.5M`:
at most six characters, so the labels fit the axis however large a bin grows.
With no histogram (an empty or unreadable tensor) the plot gives way to a message, so the last
tensor's bars and axes never stand for this one.
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QEvent, Qt, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QHBoxLayout,
    QLabel,
    QSpinBox,
    QStackedWidget,
    QVBoxLayout,
    QWidget,
)

from ckpt_browser.core.formatting import format_count, plural
from ckpt_browser.ui.widgets import theme

DEFAULT_BINS = 100
MEASURE_LABELS = {"value": "value", "magnitude": "magnitude |z|", "length": "length in bytes"}
_LOG_EMPTY_LEVEL = -0.3  # log10 height of an empty bin: below 10**0 = 1 count, so it draws nothing


_COUNT_UNITS = ((10**12, "T"), (10**9, "B"), (10**6, "M"), (10**3, "K"))


def count_label(value: float) -> str:
    """A y-axis count: `99,999` in full, from 100,000 on `100K`, `1.25M`, `30M`, `5B`."""
    return count_labels([value])[0]


def count_labels(values: list[float]) -> list[str]:
    """The tick labels of one axis, all in the unit its largest count needs: `0 50K 100K 150K`,
    never `90,000` under `100K`."""
    largest = max((abs(value) for value in values), default=0)
    if largest < 100_000:
        return [f"{value:,.0f}" if value == round(value) else f"{value:g}" for value in values]
    scale, suffix = next(unit for unit in _COUNT_UNITS if largest >= unit[0])
    return [f"{value / scale:.4g}{suffix}" if value else "0" for value in values]


class CountAxis(pg.AxisItem):
    """The y axis of counts: short labels (`count_label`), powers of ten in log mode."""

    def tickStrings(self, values, scale, spacing):
        if self.logMode:
            return super().tickStrings(values, scale, spacing)
        return count_labels([value * scale for value in values])


class HistogramPlot(QWidget):
    """Draws given counts over given edges; asks for new counts through `bins_changed`."""

    bins_changed = Signal(int)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.count_axis = CountAxis("left")
        self.plot_widget = pg.PlotWidget(axisItems={"left": self.count_axis})
        self.plot_widget.setMenuEnabled(False)
        self.plot_widget.setLabel("left", "count")
        self.count_axis.enableAutoSIPrefix(False)
        # Tick labels in the tensor's own units: "0.4", not "400" under a "(x0.001)" axis title.
        self.plot_widget.getAxis("bottom").enableAutoSIPrefix(False)
        self.curve = pg.PlotDataItem(stepMode="center", fillLevel=0.0)
        self.plot_widget.addItem(self.curve)

        self.bins_spin = QSpinBox()
        self.bins_spin.setRange(1, 10_000)
        self.bins_spin.setValue(DEFAULT_BINS)
        self.bins_spin.setKeyboardTracking(False)
        self.bins_spin.setToolTip("Number of equal-width bins between the finite min and max")
        self.bins_spin.valueChanged.connect(self.bins_changed)
        self.log_check = QCheckBox("log y")
        self.log_check.toggled.connect(lambda _on: self._redraw())
        self.note_label = QLabel()  # exact or sampled; NaN and Inf counts
        self.note_label.setWordWrap(True)

        controls = QHBoxLayout()
        controls.setContentsMargins(0, 0, 0, 0)
        controls.addWidget(QLabel("Bins:"))
        controls.addWidget(self.bins_spin)
        controls.addWidget(self.log_check)
        controls.addWidget(self.note_label, 1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(controls)
        self.empty_label = QLabel()  # in place of the plot when there is no histogram
        self.empty_label.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.empty_label.setWordWrap(True)
        self.stack = QStackedWidget()
        self.stack.addWidget(self.plot_widget)
        self.stack.addWidget(self.empty_label)
        layout.addWidget(self.stack, 1)

        self._counts = np.zeros(0, dtype=np.int64)
        self._edges = np.zeros(0)
        self.exact = False
        theme.style_plot(self.plot_widget)
        self._apply_colors()

    @property
    def counts(self) -> np.ndarray:
        return self._counts

    @property
    def edges(self) -> np.ndarray:
        return self._edges

    @property
    def bins(self) -> int:
        return self.bins_spin.value()

    @property
    def log_y(self) -> bool:
        return self.log_check.isChecked()

    def set_histogram(
        self,
        counts: np.ndarray,
        edges: np.ndarray,
        *,
        exact: bool,
        nan_count: int = 0,
        inf_count: int = 0,
        sample_size: int | None = None,
        measure: str = "value",
    ) -> None:
        """Draw `counts` over `edges` and say whether they are exact and what was left out.

        `measure` names what was counted: "value", "magnitude" (complex) or "length" (strings).
        """
        self.plot_widget.setLabel("bottom", MEASURE_LABELS.get(measure, measure))
        self._counts = np.asarray(counts)
        self._edges = np.asarray(edges, dtype=np.float64)
        self.exact = exact
        notes = []
        if not exact:
            sampled = f" of {plural(sample_size, 'value')}" if sample_size else ""
            notes.append(f"quick preview from a sample{sampled}; exact counts coming…")
        if nan_count:
            notes.append(f"NaN: {format_count(nan_count)}")
        if inf_count:
            notes.append(f"±Inf: {format_count(inf_count)}")
        if nan_count or inf_count:
            notes.append("(not in the bars)")
        self.note_label.setText("  ".join(notes))
        self.stack.setCurrentWidget(self.plot_widget)
        self._redraw()

    def clear(self, message: str = "") -> None:
        """No histogram: the plot, its bars and axes give way to `message` (or "No histogram")."""
        self._counts = np.zeros(0, dtype=np.int64)
        self._edges = np.zeros(0)
        self.exact = False
        self.note_label.clear()
        self.curve.setData([], [])
        self.empty_label.setText(message or "No histogram")
        self.stack.setCurrentWidget(self.empty_label)

    def changeEvent(self, event: QEvent) -> None:
        if event.type() == QEvent.Type.PaletteChange:
            theme.style_plot(self.plot_widget)
            self._apply_colors()
        super().changeEvent(event)

    def _apply_colors(self) -> None:
        color = theme.accent()
        fill = pg.mkColor(color)
        fill.setAlpha(150)
        self.curve.setPen(pg.mkPen(color, width=1))
        self.curve.setBrush(pg.mkBrush(fill))

    def _redraw(self) -> None:
        if self._counts.size == 0 or self._edges.size != self._counts.size + 1:
            self.curve.setData([], [])
            return
        heights = self._counts.astype(np.float64)
        left_axis = self.count_axis
        if self.log_y:
            with np.errstate(divide="ignore"):
                heights = np.where(heights > 0, np.log10(heights), _LOG_EMPTY_LEVEL)
            self.curve.setFillLevel(_LOG_EMPTY_LEVEL)
            left_axis.setLogMode(True)
            left_axis.setLabel("count (log)")
        else:
            self.curve.setFillLevel(0.0)
            left_axis.setLogMode(False)
            left_axis.setLabel("count")
        self.curve.setData(self._edges, heights)
        self.plot_widget.enableAutoRange()
        # Now, not at the next paint: a paint that lays the axis out anew can leave the range of
        # the previous data in place (seen: a 1M-high view over a 30M bin).
        self.plot_widget.getViewBox().updateAutoRange()
