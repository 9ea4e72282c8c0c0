"""A 2-D slice as an image with a colour bar.

Values of both signs (most weights) get a diverging map centred on zero with symmetric limits, so
white means 0 and the two colours compare magnitudes honestly; one-signed values (variances,
counts, magnitudes) get a sequential map. Big slices arrive already downsampled; each pixel is
laid over exactly the block of cells it stands for (`core.heatmap_grid`), so the axes keep the
slice's own row and column indices and the readout names the element whose value it shows.
Given the full-resolution slice (a memory map), the readout shows the exact value under the cursor
and, once the view is zoomed in to a block that fits the display budget, that block is loaded at
full resolution (by whoever listens to `detail_wanted`, off the event loop) and drawn in place.
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QEvent, QObject, QPointF, QRectF, QTimer, Signal
from PySide6.QtWidgets import QLabel, QSizePolicy, QVBoxLayout, QWidget

from ckpt_browser.core.formatting import format_number, shortest_text
from ckpt_browser.core.tensor.heatmap_grid import (
    Block,
    ElementIndex,
    HeatmapGrid,
    format_rows_columns,
    hover_text,
)
from ckpt_browser.core.tensor.slicing import symmetric_levels
from ckpt_browser.ui.widgets import theme

DIVERGING_MAP = "CET-D1A"  # blue - white - red, perceptually uniform
SEQUENTIAL_MAP = "viridis"
DETAIL_BUDGET = (1000, 1000)  # the most cells drawn at full resolution, as rows and columns
# Wait for the view to stop moving (a wheel turn sends several steps) before loading a block.
DETAIL_DELAY_MS = 150


def choose_levels(values: np.ndarray) -> tuple[tuple[float, float], bool]:
    """Colour limits for `values` and whether they call for the diverging map."""
    finite = values[np.isfinite(values)] if values.size else values
    if finite.size == 0:
        return (0.0, 1.0), False
    low, high = float(finite.min()), float(finite.max())
    if low < 0.0 < high:
        return tuple(float(v) for v in symmetric_levels(finite)), True
    if low == high:  # a constant slice still needs a non-empty range
        return (low - 0.5, high + 0.5), False
    return (low, high), False


class IndexAxis(pg.AxisItem):
    """An axis of whole indices: ticks on integers only and no SI prefix. Left to pyqtgraph, a
    one-row slice got ticks -500..500 under "row (x0.001)": rows that do not exist."""

    def __init__(self, orientation: str, **kwargs) -> None:
        super().__init__(orientation, **kwargs)
        self.enableAutoSIPrefix(False)

    def tickSpacing(self, minVal: float, maxVal: float, size: float):
        levels = [level for level in super().tickSpacing(minVal, maxVal, size) if level[0] >= 1]
        return levels or [(1.0, 0.0)]


class Heatmap(QWidget):
    """ImageItem + ColorBarItem over a 2-D float array; the value under the cursor below it."""

    detail_wanted = Signal(object)  # a Block of the slice to load at full resolution

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.plot_widget = pg.GraphicsLayoutWidget()
        self.plot = self.plot_widget.addPlot(
            axisItems={"left": IndexAxis("left"), "bottom": IndexAxis("bottom")}
        )
        self.plot.invertY(True)  # row 0 at the top, as in the table
        self.plot.setAspectLocked(False)
        self.plot.setLabel("left", "row")
        self.plot.setLabel("bottom", "column")
        self.image = pg.ImageItem(axisOrder="row-major")
        self.plot.addItem(self.image)
        self.detail_image = pg.ImageItem(axisOrder="row-major")  # a full-resolution block on top
        self.detail_image.setZValue(1)
        self.plot.addItem(self.detail_image)
        self.color_bar = pg.ColorBarItem(
            colorMap=pg.colormap.get(DIVERGING_MAP), interactive=False, colorMapMenu=False
        )
        self.color_bar.setImageItem([self.image, self.detail_image], insert_in=self.plot)
        self.hover_label = QLabel(" ")
        # A long readout is cut at the edge rather than widening the window.
        self.hover_label.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.plot_widget, 1)
        layout.addWidget(self.hover_label)

        self._values = np.zeros((0, 0), dtype=np.float32)
        self.grid = HeatmapGrid((0, 0))
        self.diverging = True
        self._source: np.ndarray | None = None
        self._stored_dtype: np.dtype | None = None
        self._element_index: ElementIndex | None = None
        self.detail_budget = DETAIL_BUDGET
        self.detail_block: Block | None = None  # the block drawn at full resolution
        self._detail_values: np.ndarray | None = None
        self._requested: Block | None = None
        self._detail_timer = QTimer(self)
        self._detail_timer.setSingleShot(True)
        self._detail_timer.setInterval(DETAIL_DELAY_MS)
        self._detail_timer.timeout.connect(self._check_detail)
        self.plot.vb.sigRangeChanged.connect(lambda *_: self._detail_timer.start())
        # Every move, not pyqtgraph's sigMouseMoved: that drops moves within 10 ms of the last
        # one, so a quick move that stops leaves the readout on a cell the cursor has left.
        self.plot_widget.viewport().installEventFilter(self)
        theme.style_plot(self.plot_widget)

    @property
    def values(self) -> np.ndarray:
        return self._values

    @property
    def detail_values(self) -> np.ndarray | None:
        return self._detail_values

    def set_values(
        self,
        values: np.ndarray,
        full_shape: tuple[int, int] | None = None,
        downsampling: str = "mean",
        levels: tuple[tuple[float, float], bool] | None = None,
        *,
        source: np.ndarray | None = None,
        stored_dtype: np.dtype | None = None,
        element_index: ElementIndex | None = None,
    ) -> None:
        """Show `values` (maybe downsampled) standing for a slice of `full_shape` cells.

        `downsampling` says how the values were shrunk: "mean" (block means) or "stride".
        `levels` is `choose_levels(values)` if the caller already has it (from a worker).
        `source` is the whole slice at full resolution (numbers as `display_array` gives them,
        `stored_dtype` the checkpoint's dtype): the readout then shows exact values and zooming
        in asks for full-resolution blocks. `element_index(row, column)` names a cell by its
        index in the whole tensor.
        """
        values = np.asarray(values, dtype=np.float64 if values.dtype == np.float64 else np.float32)
        if values.ndim == 1:
            values = values.reshape(1, -1)
        self._values = values
        self.grid = HeatmapGrid.for_pixels(full_shape or values.shape, values.shape, downsampling)
        self._source, self._stored_dtype = source, stored_dtype
        self._element_index = element_index
        self._drop_detail()
        levels, self.diverging = levels if levels is not None else choose_levels(values)
        color_map = DIVERGING_MAP if self.diverging else SEQUENTIAL_MAP
        self.color_bar.setColorMap(pg.colormap.get(color_map))
        self.image.setImage(values, autoLevels=False)
        self.color_bar.setLevels(levels)
        # Cell (r, c) covers [c - 0.5, c + 0.5] x [r - 0.5, r + 0.5], so ticks sit on cell centres;
        # a pixel covers its whole block, the last one maybe past the slice's edge.
        rows, columns = self.grid.shape
        covered_rows, covered_columns = self.grid.covered
        self.image.setRect(QRectF(-0.5, -0.5, max(covered_columns, 1), max(covered_rows, 1)))
        self.plot.vb.setLimits(
            xMin=-0.5, xMax=max(columns, 1) - 0.5, yMin=-0.5, yMax=max(rows, 1) - 0.5
        )
        self.plot.vb.setRange(
            xRange=(-0.5, max(columns, 1) - 0.5), yRange=(-0.5, max(rows, 1) - 0.5), padding=0
        )
        self._update_title()

    def set_detail(self, block: Block, values: np.ndarray) -> None:
        """Draw `values`, the cells of `block` at full resolution, over the downsampled map."""
        if self._source is None or block != self._requested:
            return  # an answer for a slice or view no longer shown
        values = np.asarray(values, dtype=np.float64 if values.dtype == np.float64 else np.float32)
        self.detail_block, self._detail_values = block, values
        self.detail_image.setImage(values, autoLevels=False)
        self.detail_image.setLevels(self.color_bar.levels())
        height, width = block.shape
        self.detail_image.setRect(QRectF(block.left - 0.5, block.top - 0.5, width, height))
        self.detail_image.setVisible(True)
        self._update_title()

    def clear(self) -> None:
        self.image.clear()
        self._values = np.zeros((0, 0), dtype=np.float32)
        self.grid = HeatmapGrid((0, 0))
        self._source = self._element_index = None
        self._drop_detail()
        self.hover_label.setText(" ")

    def changeEvent(self, event: QEvent) -> None:
        if event.type() == QEvent.Type.PaletteChange:
            theme.style_plot(self.plot_widget)
        super().changeEvent(event)

    def readout_at(self, x: float, y: float) -> str:
        """What the readout says with the cursor at (x, y) in the map's coordinates."""
        cell = self.grid.cell_at(x, y)
        if cell is None or self._values.size == 0:
            return " "
        row, column = cell
        pixel_value = self._values[self.grid.pixel_of(row, column)]
        exact = None
        if self._source is not None:
            exact = shortest_text(self._source[row, column], self._stored_dtype)
        if self.detail_block is not None and self.detail_block.holds(row, column):
            # Drawn at full resolution here: the pixel is the element itself.
            return hover_text(
                HeatmapGrid(self.grid.shape),
                row,
                column,
                pixel_text=exact or "",
                element_index=self._element_index,
            )
        stride = self.grid.method == "stride"
        pixel_text = (
            shortest_text(pixel_value, self._stored_dtype) if stride else format_number(pixel_value)
        )
        return hover_text(
            self.grid,
            row,
            column,
            pixel_text=pixel_text,
            exact_text=exact,
            element_index=self._element_index,
        )

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if event.type() == QEvent.Type.MouseMove and watched is self.plot_widget.viewport():
            self._on_mouse_moved(self.plot_widget.mapToScene(event.position().toPoint()))
        return super().eventFilter(watched, event)

    def _on_mouse_moved(self, scene_position: QPointF) -> None:
        if self._values.size == 0 or not self.plot.sceneBoundingRect().contains(scene_position):
            return
        point = self.plot.vb.mapSceneToView(scene_position)
        self.hover_label.setText(self.readout_at(point.x(), point.y()))

    def _check_detail(self) -> None:
        """Ask for the block in view at full resolution once it is small enough to draw whole."""
        if self._source is None or not self.grid.downsampled:
            return
        x_range, y_range = self.plot.vb.viewRange()
        visible = self.grid.visible_block(x_range, y_range)
        wanted = None if visible is None else self.grid.detail_block(visible, self.detail_budget)
        if wanted is None:
            if self.detail_block is not None or self._requested is not None:
                self._drop_detail()
                self._update_title()
            return
        loaded = self.detail_block if self.detail_block is not None else self._requested
        if loaded is not None and visible is not None and loaded.contains(visible):
            return
        self._requested = wanted
        self.detail_wanted.emit(wanted)

    def _drop_detail(self) -> None:
        self.detail_block = self._requested = self._detail_values = None
        self.detail_image.clear()
        self.detail_image.setVisible(False)

    def _update_title(self) -> None:
        grid, title = self.grid, ""
        if grid.downsampled:
            how = "block means" if grid.method == "mean" else "every k-th value"
            pixel_rows, pixel_columns = grid.pixels
            title = f"downsampled to {pixel_rows} × {pixel_columns} ({how})"
            if self.detail_block is not None:
                title += f"; full resolution over {format_rows_columns(self.detail_block)}"
            elif self._source is not None:
                title += "; zoom in for full resolution"
        self.plot.setTitle(title, size="9pt")
