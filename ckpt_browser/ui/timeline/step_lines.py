"""The vertical marks every timeline plot shares: the checkpoint open in the window, the steps
picked for comparing, and the steps that are gaps, failed reads or hold NaN/Inf.

A gap or failed read is a shaded band as wide as a third of the space to its neighbours (a line
one pixel wide is lost beside a curve and cannot be pointed at); NaN/Inf a dashed red line.
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtGui import QColor

from ckpt_browser.ui.timeline.model import Mark, MarkKind
from ckpt_browser.ui.widgets import theme

GAP_COLOUR = QColor(128, 128, 128, 70)
ERROR_COLOUR = QColor(220, 50, 47, 70)
NONFINITE_COLOUR = QColor(220, 50, 47)
PICK_COLOUR = QColor(255, 140, 0)


def band_half_width(positions: np.ndarray, index: int) -> float:
    """A sixth of the distance to the nearer neighbour (0.5 alone)."""
    gaps = []
    if index > 0:
        gaps.append(positions[index] - positions[index - 1])
    if index + 1 < positions.size:
        gaps.append(positions[index + 1] - positions[index])
    return max(min(gaps) / 6, 1e-9) if gaps else 0.5


class StepLines:
    """The marks of one plot; `update` replaces them all."""

    def __init__(self, plot: pg.PlotItem) -> None:
        self.plot = plot
        self._items: list[pg.GraphicsObject] = []

    def update(
        self,
        positions: np.ndarray,
        marks: list[Mark],
        current: int | None,
        picked: list[int],
    ) -> None:
        for item in self._items:
            self.plot.removeItem(item)
        self._items = []
        for mark in marks:
            if mark.kind is MarkKind.NONFINITE:
                pen = pg.mkPen(NONFINITE_COLOUR, width=1.5, style=Qt.PenStyle.DashLine)
                self._add(pg.InfiniteLine(mark.position, angle=90, pen=pen, movable=False))
                continue
            half = band_half_width(positions, mark.index)
            colour = GAP_COLOUR if mark.kind is MarkKind.GAP else ERROR_COLOUR
            band = pg.LinearRegionItem(
                (mark.position - half, mark.position + half),
                movable=False,
                brush=pg.mkBrush(colour),
                pen=pg.mkPen(None),
            )
            band.setToolTip(mark.text)
            self._add(band)
        if current is not None and current < positions.size:
            pen = pg.mkPen(theme.accent(), width=2)
            self._add(pg.InfiniteLine(float(positions[current]), angle=90, pen=pen, movable=False))
        for letter, index in zip("AB", picked):
            if index < positions.size:
                pen = pg.mkPen(PICK_COLOUR, width=2, style=Qt.PenStyle.DashLine)
                line = pg.InfiniteLine(
                    float(positions[index]),
                    angle=90,
                    pen=pen,
                    movable=False,
                    label=letter,
                    labelOpts={"position": 0.92, "color": PICK_COLOUR},
                )
                self._add(line)

    def _add(self, item: pg.GraphicsObject) -> None:
        item.setZValue(-5 if isinstance(item, pg.LinearRegionItem) else 5)
        self.plot.addItem(item, ignoreBounds=True)
        self._items.append(item)
