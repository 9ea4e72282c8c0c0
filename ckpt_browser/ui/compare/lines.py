"""1-D tensors in the compare view: A and B as lines over their index, B over A, and A − B below.

A heatmap of a bias is one row stretched into a band under a row axis that means nothing; lines
show the values themselves. The two plots share the x range (zoom one, the other follows). The
legend is the top plot's title, so it never covers a line.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QEvent
from PySide6.QtGui import QColor
from PySide6.QtWidgets import QLabel, QVBoxLayout, QWidget

from ckpt_browser.core.compare.detail import SliceTriple
from ckpt_browser.ui.widgets import theme
from ckpt_browser.ui.widgets.heatmap import IndexAxis

B_COLOR = QColor(230, 120, 20)  # B drawn in orange over A in the palette's accent colour
DIFFERENCE_NOTE = "A − B"
SYMBOLS_UP_TO = 64  # this few points are drawn as dots too (a scalar is a single point)
MIN_PLOT_HEIGHT = 110


def legend_html(entries: Iterable[tuple[str, QColor]]) -> str:
    """A legend as rich text for a plot's title: a bar in each entry's colour, then its label."""
    return "&nbsp;&nbsp;&nbsp;".join(
        f"<span style='color:{color.name()}'>&#9644;&#9644;</span>&nbsp;{label}"
        for label, color in entries
    )


class CompareLines(QWidget):
    """Two plots over the tensor index: A and B together, then A − B."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.values_plot = _index_plot("value")
        self.difference_plot = _index_plot("a − b")
        self.difference_plot.setXLink(self.values_plot)
        self.curves = {
            "A": self.values_plot.plot([], []),
            "B": self.values_plot.plot([], []),
            DIFFERENCE_NOTE: self.difference_plot.plot([], []),
        }
        self.note = QLabel()
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.values_plot, 1)
        layout.addWidget(self.difference_plot, 1)
        layout.addWidget(self.note)
        self._difference_reason = ""
        self._apply_colors()

    def show_triple(self, triple: SliceTriple, reasons: Mapping[str, str]) -> None:
        """Draw the points of `triple` (its `lines` form); `reasons` say why a side is missing."""
        drawn = {"A": triple.a, "B": triple.b, DIFFERENCE_NOTE: triple.difference}
        lengths = {"A": triple.shape_a, "B": triple.shape_b, DIFFERENCE_NOTE: triple.shape_a}
        notes = []
        for key, points in drawn.items():
            length = int(np.prod(lengths[key])) if points is not None else 0
            self._draw(key, points, length)
            if points is not None and len(points) != length:
                how = "block means" if triple.downsampling == "mean" else "evenly spaced values"
                if key != DIFFERENCE_NOTE:
                    notes.append(f"{key}: {len(points):,} {how} of {length:,}")
        missing = [f"{key}: {reasons.get(key, '')}" for key in ("A", "B") if drawn[key] is None]
        self.note.setText("  ·  ".join(missing + notes))
        self._difference_reason = (
            ""
            if triple.difference is not None
            else (reasons.get(DIFFERENCE_NOTE) or "no difference to draw")
        )
        self._set_titles()
        for plot in (self.values_plot, self.difference_plot):
            plot.enableAutoRange()

    def clear(self) -> None:
        for curve in self.curves.values():
            curve.setData([], [])
        self.note.clear()
        self._difference_reason = ""
        self._set_titles()

    def changeEvent(self, event: QEvent) -> None:
        if event.type() == QEvent.Type.PaletteChange:
            self._apply_colors()
        super().changeEvent(event)

    def _draw(self, key: str, points: np.ndarray | None, length: int) -> None:
        curve = self.curves[key]
        if points is None or len(points) == 0:
            curve.setData([], [])
            return
        x = np.linspace(0, max(length - 1, 0), num=len(points))
        curve.setData(x, np.asarray(points, dtype=np.float64))
        curve.setSymbol("o" if len(points) <= SYMBOLS_UP_TO else None)

    def _set_titles(self) -> None:
        self.values_plot.setTitle(legend_html([("A", theme.accent()), ("B", B_COLOR)]), size="9pt")
        text = DIFFERENCE_NOTE
        if self._difference_reason:
            text += f": {self._difference_reason}"
        self.difference_plot.setTitle(text, size="9pt")

    def _apply_colors(self) -> None:
        colors = {"A": theme.accent(), "B": B_COLOR, DIFFERENCE_NOTE: theme.plot_foreground()}
        for key, curve in self.curves.items():
            # A wider than B: where they coincide (often) A still shows as a rim around B.
            width = 3.5 if key == "A" else 1.5
            curve.setPen(pg.mkPen(colors[key], width=width))
            curve.setSymbolPen(pg.mkPen(colors[key]))
            curve.setSymbolBrush(pg.mkBrush(colors[key]))
            curve.setSymbolSize(9 if key == "A" else 5)
        for plot in (self.values_plot, self.difference_plot):
            theme.style_plot(plot)
        self._set_titles()


def _index_plot(value_label: str) -> pg.PlotWidget:
    """A plot over the tensor index: whole-number ticks, values in their own units."""
    plot = pg.PlotWidget(axisItems={"bottom": IndexAxis("bottom")})
    plot.setMenuEnabled(False)
    plot.showGrid(x=True, y=True, alpha=0.2)
    plot.setLabel("bottom", "index")
    plot.setLabel("left", value_label)
    plot.getAxis("left").enableAutoSIPrefix(False)  # "0.004", not "4" under "(x0.001)"
    plot.setMinimumHeight(MIN_PLOT_HEIGHT)
    return plot
