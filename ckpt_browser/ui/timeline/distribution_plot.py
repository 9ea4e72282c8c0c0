"""The distribution over steps, as TensorBoard's histogram and distribution dashboards show it, but
from every value of every checkpoint: each step's histogram on bins shared by all steps, drawn as
a heatmap (step across, value up), and the exact quantile bands below it.

Columns are as wide as the space between saves (`model.cell_edges`), so unevenly spaced saves
stay on their steps; a colour is the share of the step's values in the bin, comparable between
steps. Bands are the 0-100, 7-93, 16-84 and 31-69 % ranges, darker inwards, and the median line.
"""

from __future__ import annotations

import math

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QEvent, QObject, QPointF, Qt, Signal
from PySide6.QtGui import QColor
from PySide6.QtWidgets import QLabel, QSizePolicy, QVBoxLayout, QWidget

from ckpt_browser.core.formatting import format_number
from ckpt_browser.core.timeline import TIMELINE_PERCENTS, Distribution
from ckpt_browser.ui.timeline.model import TimelineModel, cell_edges, point_title
from ckpt_browser.ui.timeline.stats_plot import StepAxis
from ckpt_browser.ui.timeline.step_lines import StepLines
from ckpt_browser.ui.widgets import theme

DISTRIBUTION_BINS = 64
HEAT_MAP = "viridis"
BANDS = ((0.0, 100.0), (7.0, 93.0), (16.0, 84.0), (31.0, 69.0))
BAND_ALPHAS = (40, 70, 100, 140)


def finite_runs(values: np.ndarray) -> list[slice]:
    """The runs of consecutive finite values: a band is drawn per run, broken at gaps."""
    finite = np.isfinite(values)
    runs, start = [], None
    for index, ok in enumerate(finite):
        if ok and start is None:
            start = index
        elif not ok and start is not None:
            runs.append(slice(start, index))
            start = None
    if start is not None:
        runs.append(slice(start, len(values)))
    return runs


class DistributionPlot(QWidget):
    """The histogram heatmap over the quantile bands, sharing the step axis."""

    step_clicked = Signal(int, object)  # point index, Qt.KeyboardModifier

    def __init__(self, model: TimelineModel, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.model = model
        self.distribution: Distribution | None = None
        self.shares: np.ndarray = np.zeros((0, 0))
        self.graphics = pg.GraphicsLayoutWidget()
        foreground = theme.plot_foreground()
        self.heat_plot = self.graphics.addPlot(row=0, col=0, axisItems={"bottom": StepAxis()})
        self.heat_plot.setTitle(
            "Histogram per step (share of values in each bin)", size="9pt", color=foreground
        )
        self.heat_plot.setLabel("left", "value")
        self.heat_plot.getAxis("bottom").setStyle(showValues=False)
        self.band_plot = self.graphics.addPlot(row=1, col=0, axisItems={"bottom": StepAxis()})
        percents = ", ".join(f"{p:g}" for p in TIMELINE_PERCENTS)
        self.band_plot.setTitle(f"Quantiles ({percents} %)", size="9pt", color=foreground)
        self.band_plot.setLabel("left", "value")
        self.band_plot.setLabel("bottom", "step")
        self.band_plot.setXLink(self.heat_plot)
        for plot in (self.heat_plot, self.band_plot):
            plot.getAxis("left").setWidth(60)
            plot.setMenuEnabled(False)
            plot.showGrid(x=True, y=True, alpha=0.15)
        self.mesh = pg.PColorMeshItem(colorMap=pg.colormap.get(HEAT_MAP), enableAutoLevels=False)
        self.heat_plot.addItem(self.mesh)
        self.color_bar = pg.ColorBarItem(
            colorMap=pg.colormap.get(HEAT_MAP), interactive=False, colorMapMenu=False, width=12
        )
        self.color_bar.setImageItem(self.mesh, insert_in=self.heat_plot)
        self.band_items: list[pg.GraphicsObject] = []
        self.median_curve: pg.PlotDataItem | None = None
        self._lines = [StepLines(self.heat_plot), StepLines(self.band_plot)]
        self.graphics.scene().sigMouseClicked.connect(self._on_clicked)
        self.graphics.viewport().installEventFilter(self)
        self.readout = QLabel(" ")
        self.readout.setTextFormat(Qt.TextFormat.PlainText)
        self.readout.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.graphics, 1)
        layout.addWidget(self.readout)
        theme.style_plot(self.graphics)

    def redraw(self) -> None:
        """Draw the model's timeline afresh."""
        for item in self.band_items:
            self.band_plot.removeItem(item)
        self.band_items = []
        self.median_curve = None
        timeline = self.model.timeline
        if timeline is None:
            self.mesh.setData(np.zeros((1, 1)) * np.nan)
            self.distribution = None
            return
        distribution = timeline.distribution(DISTRIBUTION_BINS)
        self.distribution = distribution
        self._draw_heatmap(distribution)
        self._draw_bands(distribution)
        self.update_marks()
        self.heat_plot.vb.autoRange(padding=0.02)
        self.band_plot.vb.enableAutoRange(axis="y")

    def update_marks(self) -> None:
        model = self.model
        positions, marks = model.positions(), model.marks()
        for lines in self._lines:
            lines.update(positions, marks, model.current_index(), model.picked_indices())

    def _draw_heatmap(self, distribution: Distribution) -> None:
        counts = distribution.counts
        totals = np.nansum(counts, axis=1, keepdims=True)
        with np.errstate(invalid="ignore", divide="ignore"):
            shares = np.where(totals > 0, counts / totals, np.nan)
        self.shares = shares
        if distribution.edges.size == 0 or not np.isfinite(shares).any():
            self.mesh.setData(np.zeros((1, 1)) * np.nan)
            return
        x_edges = cell_edges(distribution.positions)
        x = np.repeat(x_edges[:, None], distribution.edges.size, axis=1)
        y = np.repeat(distribution.edges[None, :], x_edges.size, axis=0)
        high = float(np.nanmax(shares)) or 1.0
        self.mesh.setLevels((0.0, high), update=False)
        self.mesh.setData(x, y, shares)
        self.color_bar.setLevels((0.0, high))

    def _draw_bands(self, distribution: Distribution) -> None:
        x = distribution.positions
        colour = theme.accent()
        for (low, high), alpha in zip(BANDS, BAND_ALPHAS):
            lower, upper = distribution.quantiles[low], distribution.quantiles[high]
            fill = QColor(colour)
            fill.setAlpha(alpha)
            for run in finite_runs(lower + upper):
                bottom = pg.PlotDataItem(x[run], lower[run], pen=pg.mkPen(None))
                top = pg.PlotDataItem(x[run], upper[run], pen=pg.mkPen(None))
                band = pg.FillBetweenItem(bottom, top, brush=pg.mkBrush(fill))
                for item in (bottom, top, band):
                    self.band_plot.addItem(item)
                    self.band_items.append(item)
        median = distribution.quantiles[50.0]
        self.median_curve = self.band_plot.plot(
            x,
            median,
            pen=pg.mkPen(colour.darker(130), width=2),
            symbol="o",
            symbolSize=4,
            symbolBrush=colour.darker(130),
            symbolPen=None,
            connect="finite",
            name="median",
        )
        self.band_items.append(self.median_curve)

    # -- input ------------------------------------------------------------------------------------

    def _plot_at(self, scene_position: QPointF) -> pg.PlotItem | None:
        for plot in (self.heat_plot, self.band_plot):
            if plot.vb.sceneBoundingRect().contains(scene_position):
                return plot
        return None

    def _on_clicked(self, event) -> None:
        if event.button() != Qt.MouseButton.LeftButton or event.double():
            return
        plot = self._plot_at(event.scenePos())
        if plot is None:
            return
        index = self.model.index_near(plot.vb.mapSceneToView(event.scenePos()).x())
        if index is not None:
            event.accept()
            self.step_clicked.emit(index, event.modifiers())

    def readout_at(self, plot: pg.PlotItem, x: float, y: float) -> str:
        """What the line under the plots says with the cursor at (x, y) of `plot`."""
        index = self.model.index_near(x)
        distribution = self.distribution
        if index is None or distribution is None or self.model.timeline is None:
            return " "
        point = self.model.timeline.points[index]
        title = point_title(point)
        if point.stats is None:
            return self.model.readout(index)
        if plot is self.heat_plot and distribution.edges.size:
            edges = distribution.edges
            row = int(np.searchsorted(edges, y, side="right")) - 1
            if 0 <= row < edges.size - 1 and math.isfinite(self.shares[index, row]):
                count = distribution.counts[index, row]
                low, high = (
                    format_number(edges[row], digits=4),
                    format_number(edges[row + 1], digits=4),
                )
                share = self.shares[index, row] * 100
                return f"{title} · values in [{low}, {high}): {count:,.0f} ({share:.3g} %)"
        quantiles = distribution.quantiles
        parts = [
            f"{percent:g} %: {format_number(quantiles[float(percent)][index], digits=5)}"
            for percent in TIMELINE_PERCENTS
        ]
        return f"{title} · " + " · ".join(parts)

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if event.type() == QEvent.Type.MouseMove and watched is self.graphics.viewport():
            scene_position = self.graphics.mapToScene(event.position().toPoint())
            plot = self._plot_at(scene_position)
            if plot is not None:
                point = plot.vb.mapSceneToView(scene_position)
                self.readout.setText(self.readout_at(plot, point.x(), point.y()))
        return super().eventFilter(watched, event)

    def changeEvent(self, event: QEvent) -> None:
        if event.type() == QEvent.Type.PaletteChange:
            theme.style_plot(self.graphics)
        super().changeEvent(event)
