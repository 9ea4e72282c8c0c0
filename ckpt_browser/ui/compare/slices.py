"""The lower half of the compare detail: the same slice of A, B and A − B under one slicer.

Tensors of two or more axes show as three heatmaps. They reflow with the pane's width: side by
side while each gets MIN_HEATMAP_WIDTH, then A and B above A − B, then one above the other, each
at least MIN_HEATMAP_HEIGHT tall with a scroll bar when the pane is shorter. Squeezed below that,
a heatmap shrinks to a sliver and its colour bar is pushed out of the panel. Tensors of one axis
or none show as lines (`compare_lines`).

A and B share their colour scale so the same colour means the same value; A − B always uses the
diverging map, centred on 0.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtGui import QResizeEvent
from PySide6.QtWidgets import (
    QFrame,
    QGridLayout,
    QLabel,
    QScrollArea,
    QStackedWidget,
    QVBoxLayout,
    QWidget,
)

from ckpt_browser.core.compare.detail import SliceTriple
from ckpt_browser.core.tensor.slicing import symmetric_levels
from ckpt_browser.ui.compare.lines import DIFFERENCE_NOTE, CompareLines
from ckpt_browser.ui.widgets.heatmap import DIVERGING_MAP, SEQUENTIAL_MAP, Heatmap, choose_levels
from ckpt_browser.ui.widgets.slicer import Slicer

# Left axis, image and colour bar with its labels take about 100 px; below this the image is a
# sliver. Three fit side by side in the pane of a 1500 px window.
MIN_HEATMAP_WIDTH = 230
MIN_HEATMAP_HEIGHT = 240


class DifferenceHeatmap(Heatmap):
    """A heatmap that always uses the diverging map with limits symmetric around 0."""

    def set_values(self, values, full_shape=None, downsampling: str = "mean") -> None:
        super().set_values(values, full_shape, downsampling)
        self.diverging = True
        self.color_bar.setColorMap(pg.colormap.get(DIVERGING_MAP))
        self.color_bar.setLevels(symmetric_levels(self.values))


class HeatmapGrid(QScrollArea):
    """The heatmaps of A, B and A − B in as many columns (3, 2 or 1) as the width allows."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.heatmaps: dict[str, Heatmap] = {
            "A": Heatmap(),
            "B": Heatmap(),
            DIFFERENCE_NOTE: DifferenceHeatmap(),
        }
        self.titles: dict[str, QLabel] = {}
        self._cells: list[QWidget] = []
        for title, heatmap in self.heatmaps.items():
            cell = QWidget()
            cell.setMinimumSize(MIN_HEATMAP_WIDTH, MIN_HEATMAP_HEIGHT)
            cell_layout = QVBoxLayout(cell)
            cell_layout.setContentsMargins(0, 0, 0, 0)
            label = QLabel(title)
            label.setAlignment(Qt.AlignmentFlag.AlignCenter)
            self.titles[title] = label
            cell_layout.addWidget(label)
            cell_layout.addWidget(heatmap, 1)
            self._cells.append(cell)
        inner = QWidget()
        self._grid = QGridLayout(inner)
        self._grid.setContentsMargins(0, 0, 0, 0)
        self.setWidget(inner)
        self.setWidgetResizable(True)
        self.setFrameShape(QFrame.Shape.NoFrame)
        self._columns = 0
        self._reflow(len(self._cells))

    @property
    def columns(self) -> int:
        return self._columns

    def show_triple(self, triple: SliceTriple, reasons: Mapping[str, str]) -> None:
        shown = {"A": (triple.a, triple.shape_a), "B": (triple.b, triple.shape_b)}
        shown[DIFFERENCE_NOTE] = (triple.difference, triple.shape_a)
        for title, (values, full_shape) in shown.items():
            heatmap = self.heatmaps[title]
            if values is None:
                heatmap.clear()
                heatmap.plot.setTitle(reasons.get(title, ""), size="9pt")
            else:
                heatmap.set_values(values, full_shape, triple.downsampling)
        if triple.a is not None and triple.b is not None:
            _share_levels(self.heatmaps["A"], self.heatmaps["B"])

    def clear(self) -> None:
        for heatmap in self.heatmaps.values():
            heatmap.clear()

    def resizeEvent(self, event: QResizeEvent) -> None:
        # The width without the vertical scroll bar, whether or not it shows: deciding on the
        # viewport's width would flip the layout as the bar comes and goes.
        width = event.size().width() - self.verticalScrollBar().sizeHint().width()
        self._reflow(max(1, min(len(self._cells), width // MIN_HEATMAP_WIDTH)))
        super().resizeEvent(event)

    def _reflow(self, columns: int) -> None:
        if columns == self._columns:
            return
        self._columns = columns
        for cell in self._cells:
            self._grid.removeWidget(cell)
        for position, cell in enumerate(self._cells):
            self._grid.addWidget(cell, position // columns, position % columns)
        for column in range(len(self._cells)):
            self._grid.setColumnStretch(column, 1 if column < columns else 0)
        for row in range(len(self._cells)):
            self._grid.setRowStretch(row, 1 if row * columns < len(self._cells) else 0)


class CompareSlices(QWidget):
    """The slicer over either the heatmap grid or, for tensors of one axis or none, lines."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.slicer = Slicer()
        self.grid = HeatmapGrid()
        self.lines = CompareLines()
        self.stack = QStackedWidget()
        self.stack.addWidget(self.grid)
        self.stack.addWidget(self.lines)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.slicer)
        layout.addWidget(self.stack, 1)

    def set_shape(self, shape: tuple[int, ...] | None) -> None:
        """The shape to slice (None: A and B differ, each shows its default slice)."""
        self.slicer.set_shape(shape or ())
        self.slicer.setVisible(shape is not None and len(shape) >= 2)

    def show_triple(self, triple: SliceTriple, reasons: Mapping[str, str]) -> None:
        """Show the slices; `reasons` say why a side (or the difference) is missing."""
        if triple.lines:
            self.stack.setCurrentWidget(self.lines)
            self.lines.show_triple(triple, reasons)
        else:
            self.stack.setCurrentWidget(self.grid)
            self.grid.show_triple(triple, reasons)

    def clear(self) -> None:
        self.grid.clear()
        self.lines.clear()
        self.set_shape(())


def _share_levels(first: Heatmap, second: Heatmap) -> None:
    """One colour scale over both heatmaps, so equal colours mean equal values."""
    values = np.concatenate([first.values.ravel(), second.values.ravel()])
    levels, diverging = choose_levels(values)
    color_map = pg.colormap.get(DIVERGING_MAP if diverging else SEQUENTIAL_MAP)
    for heatmap in (first, second):
        heatmap.diverging = diverging
        heatmap.color_bar.setColorMap(color_map)
        heatmap.color_bar.setLevels(levels)
