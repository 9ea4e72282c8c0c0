"""A 2-D slice as an image with a colour bar.

Values of both signs (most weights) get a diverging map centred on zero with symmetric limits, so
white means 0 and the two colours compare magnitudes honestly; one-signed values (variances,
counts, magnitudes) get a sequential map. Big slices arrive already downsampled; the image is
stretched over the full slice extent so the axes keep the slice's own row and column indices.
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QEvent, QPointF, QRectF
from PySide6.QtWidgets import QLabel, QVBoxLayout, QWidget

from ckpt_browser.core.formatting import format_number
from ckpt_browser.core.slicing import symmetric_levels
from ckpt_browser.ui import theme

DIVERGING_MAP = "CET-D1A"  # blue - white - red, perceptually uniform
SEQUENTIAL_MAP = "viridis"


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
        self.color_bar = pg.ColorBarItem(
            colorMap=pg.colormap.get(DIVERGING_MAP), interactive=False, colorMapMenu=False
        )
        self.color_bar.setImageItem(self.image, insert_in=self.plot)
        self.hover_label = QLabel(" ")
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.plot_widget, 1)
        layout.addWidget(self.hover_label)

        self._values = np.zeros((0, 0), dtype=np.float32)
        self._full_shape: tuple[int, int] = (0, 0)
        self.diverging = True
        self._downsampling = "mean"
        self.plot.scene().sigMouseMoved.connect(self._on_mouse_moved)
        theme.style_plot(self.plot_widget)

    @property
    def values(self) -> np.ndarray:
        return self._values

    def set_values(
        self,
        values: np.ndarray,
        full_shape: tuple[int, int] | None = None,
        downsampling: str = "mean",
        levels: tuple[tuple[float, float], bool] | None = None,
    ) -> None:
        """Show `values` (maybe downsampled) standing for a slice of `full_shape` cells.

        `downsampling` says how the values were shrunk: "mean" (block means) or "stride".
        `levels` is `choose_levels(values)` if the caller already has it (from a worker).
        """
        values = np.asarray(values, dtype=np.float64 if values.dtype == np.float64 else np.float32)
        if values.ndim == 1:
            values = values.reshape(1, -1)
        self._values = values
        rows, columns = full_shape or values.shape
        self._full_shape = (rows, columns)
        levels, self.diverging = levels if levels is not None else choose_levels(values)
        color_map = DIVERGING_MAP if self.diverging else SEQUENTIAL_MAP
        self.color_bar.setColorMap(pg.colormap.get(color_map))
        self.image.setImage(values, autoLevels=False)
        self.color_bar.setLevels(levels)
        # Cell (r, c) covers [c - 0.5, c + 0.5] x [r - 0.5, r + 0.5], so ticks sit on cell centres.
        self.image.setRect(QRectF(-0.5, -0.5, max(columns, 1), max(rows, 1)))
        self.plot.autoRange(padding=0)
        self._downsampling = downsampling
        title = ""
        if values.shape != (rows, columns):
            how = "block means" if downsampling == "mean" else "every k-th value"
            title = f"downsampled to {values.shape[0]} × {values.shape[1]} ({how})"
        self.plot.setTitle(title, size="9pt")

    def clear(self) -> None:
        self.image.clear()
        self._values = np.zeros((0, 0), dtype=np.float32)
        self._full_shape = (0, 0)
        self.hover_label.setText(" ")

    def changeEvent(self, event: QEvent) -> None:
        if event.type() == QEvent.Type.PaletteChange:
            theme.style_plot(self.plot_widget)
        super().changeEvent(event)

    def _on_mouse_moved(self, scene_position: QPointF) -> None:
        if self._values.size == 0 or not self.plot.sceneBoundingRect().contains(scene_position):
            return
        point = self.plot.vb.mapSceneToView(scene_position)
        rows, columns = self._full_shape
        row, column = int(np.floor(point.y() + 0.5)), int(np.floor(point.x() + 0.5))
        if not (0 <= row < rows and 0 <= column < columns):
            self.hover_label.setText(" ")
            return
        shown_rows, shown_columns = self._values.shape
        value = self._values[row * shown_rows // rows, column * shown_columns // columns]
        approx = ""
        if self._values.shape != self._full_shape:
            approx = " (block mean)" if self._downsampling == "mean" else " (nearest shown value)"
        self.hover_label.setText(f"row {row}, column {column}: {format_number(value)}{approx}")
