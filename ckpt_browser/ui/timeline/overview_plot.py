"""The whole run at a glance: a heatmap of each top-level scope's relative change per save (scope
down, save across), coloured by its logarithm (`overview_model`), so a layer that froze is a dark
row and one that blew up a bright one. A click on a cell asks for that scope at that save.
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QEvent, QObject, QPointF, QRectF, Qt, Signal
from PySide6.QtWidgets import QLabel, QSizePolicy, QVBoxLayout, QWidget

from ckpt_browser.ui.timeline.overview_model import OverviewModel
from ckpt_browser.ui.widgets import theme

OVERVIEW_MAP = "viridis"
MAX_STEP_LABELS = 16  # step labels under the columns; more would overlap


def column_ticks(titles: list[str]) -> list[tuple[float, str]]:
    """Labels under at most MAX_STEP_LABELS columns, evenly spread, the last always shown."""
    if not titles:
        return []
    every = max(1, -(-len(titles) // MAX_STEP_LABELS))
    chosen = list(range(0, len(titles), every))
    if chosen[-1] != len(titles) - 1:
        chosen[-1] = len(titles) - 1
    return [(index + 0.5, titles[index]) for index in chosen]


class OverviewPlot(QWidget):
    """The heatmap of an `OverviewModel`, its colour bar and a readout line."""

    cell_clicked = Signal(int, int)  # row (scope), column (checkpoint)

    def __init__(self, model: OverviewModel, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.model = model
        self.graphics = pg.GraphicsLayoutWidget()
        self.plot = self.graphics.addPlot()
        self.plot.setTitle(
            "Relative change per save by top-level scope (log colour; darkest: did not move)",
            size="9pt",
            color=theme.plot_foreground(),
        )
        self.plot.invertY(True)  # the first scope on top, as in the tree
        self.plot.setMenuEnabled(False)
        self.plot.setLabel("bottom", "step")
        self.plot.getAxis("left").enableAutoSIPrefix(False)
        self.image = pg.ImageItem(axisOrder="row-major")
        self.plot.addItem(self.image)
        self.color_bar = pg.ColorBarItem(
            colorMap=pg.colormap.get(OVERVIEW_MAP),
            interactive=False,
            colorMapMenu=False,
            width=12,
            label="log10 relative change",
        )
        self.color_bar.setImageItem(self.image, insert_in=self.plot)
        self.graphics.scene().sigMouseClicked.connect(self._on_clicked)
        self.graphics.viewport().installEventFilter(self)
        self.readout = QLabel(" ")
        self.readout.setTextFormat(Qt.TextFormat.PlainText)
        self.readout.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.message = QLabel()
        self.message.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.message.setWordWrap(True)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.graphics, 1)
        layout.addWidget(self.message, 1)
        layout.addWidget(self.readout)
        theme.style_plot(self.graphics)
        self.show_message("The overview is computed when this tab is shown")

    def show_message(self, text: str) -> None:
        self.message.setText(text)
        self.message.show()
        self.graphics.hide()

    def redraw(self) -> None:
        model = self.model
        if model.overview is None:
            self.image.clear()
            return
        rows, columns = model.shape
        if rows == 0 or columns == 0:
            self.show_message("No parameters to follow in this run")
            return
        self.message.hide()
        self.graphics.show()
        values, levels = model.colour_values()
        self.image.setImage(values.astype(np.float64), autoLevels=False)
        self.image.setRect(QRectF(0, 0, columns, rows))
        self.color_bar.setLevels(levels)
        left = self.plot.getAxis("left")
        left.setTicks([[(row + 0.5, scope) for row, scope in enumerate(model.overview.scopes)]])
        self.plot.getAxis("bottom").setTicks([column_ticks(model.column_titles()), []])
        self.plot.vb.setLimits(xMin=0, xMax=columns, yMin=0, yMax=rows)
        self.plot.vb.setRange(xRange=(0, columns), yRange=(0, rows), padding=0)
        theme.style_plot(self.graphics)

    def cell_at(self, scene_position: QPointF) -> tuple[int, int] | None:
        if not self.plot.vb.sceneBoundingRect().contains(scene_position):
            return None
        point = self.plot.vb.mapSceneToView(scene_position)
        return self.model.cell_at(point.x(), point.y())

    def _on_clicked(self, event) -> None:
        if event.button() != Qt.MouseButton.LeftButton or event.double():
            return
        cell = self.cell_at(event.scenePos())
        if cell is not None:
            event.accept()
            self.cell_clicked.emit(*cell)

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if event.type() == QEvent.Type.MouseMove and watched is self.graphics.viewport():
            cell = self.cell_at(self.graphics.mapToScene(event.position().toPoint()))
            if cell is not None:
                self.readout.setText(self.model.cell_text(*cell))
        return super().eventFilter(watched, event)

    def changeEvent(self, event: QEvent) -> None:
        if event.type() == QEvent.Type.PaletteChange:
            theme.style_plot(self.graphics)
        super().changeEvent(event)
