"""Statistics and changes against step: a checkable list of measures beside one plot per measure.

Measures of different kinds (a norm near 10, a share of zeros, a count of NaNs) each get a plot of
their own with its own y axis, stacked and sharing the step axis, rather than one axis that would
flatten all but the largest. A click on a plot picks the nearest step (`step_clicked`); the
line under the plots reads out the step under the cursor.
"""

from __future__ import annotations

import math

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QEvent, QObject, QPointF, Qt, Signal
from PySide6.QtGui import QColor
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QSizePolicy,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from ckpt_browser.ui.timeline.model import MEASURES, Measure, TimelineModel
from ckpt_browser.ui.timeline.step_lines import StepLines
from ckpt_browser.ui.widgets import theme

SECOND_COLOUR = QColor(230, 120, 20)  # the second series of a plot (max beside min, Inf beside NaN)
KEY_ROLE = Qt.ItemDataRole.UserRole


def series_colour(position: int) -> QColor:
    return theme.accent() if position == 0 else SECOND_COLOUR


class StepAxis(pg.AxisItem):
    """Steps as they are (`120000`), never `120 (x1e3)`."""

    def __init__(self, orientation: str = "bottom", **kwargs) -> None:
        super().__init__(orientation, **kwargs)
        self.enableAutoSIPrefix(False)


class StatsPlot(QWidget):
    """The measures list and the stacked plots of a `TimelineModel`."""

    step_clicked = Signal(int, object)  # point index, Qt.KeyboardModifier
    chosen_changed = Signal()

    def __init__(self, model: TimelineModel, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.model = model
        self.measure_list = QListWidget()
        self.measure_list.setToolTip("What to plot against step (tick several to stack them)")
        for measure in MEASURES:
            item = QListWidgetItem(measure.label)
            item.setData(KEY_ROLE, measure.key)
            item.setToolTip(measure.tip)
            item.setFlags(item.flags() | Qt.ItemFlag.ItemIsUserCheckable)
            checked = measure.key in model.chosen
            item.setCheckState(Qt.CheckState.Checked if checked else Qt.CheckState.Unchecked)
            self.measure_list.addItem(item)
        self.measure_list.itemChanged.connect(self._on_item_changed)
        width = self.measure_list.sizeHintForColumn(0) + 2 * self.measure_list.frameWidth() + 8
        self.measure_list.setMinimumWidth(min(width, 260))
        self.graphics = pg.GraphicsLayoutWidget()
        self.graphics.scene().sigMouseClicked.connect(self._on_clicked)
        self.graphics.viewport().installEventFilter(self)
        self.readout = QLabel(" ")
        self.readout.setTextFormat(Qt.TextFormat.PlainText)
        self.readout.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.empty_label = QLabel()
        self.empty_label.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.empty_label.setWordWrap(True)
        plots = QWidget()
        plots_layout = QVBoxLayout(plots)
        plots_layout.setContentsMargins(0, 0, 0, 0)
        plots_layout.addWidget(self.graphics, 1)
        plots_layout.addWidget(self.empty_label, 1)
        plots_layout.addWidget(self.readout)
        splitter = QSplitter(Qt.Orientation.Horizontal)
        splitter.addWidget(self.measure_list)
        splitter.addWidget(plots)
        splitter.setStretchFactor(0, 0)
        splitter.setStretchFactor(1, 1)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(splitter)
        self.plots: dict[str, pg.PlotItem] = {}  # measure key -> its plot
        self.curves: dict[str, pg.PlotDataItem] = {}  # series name -> its curve
        self._lines: list[StepLines] = []
        self.show_message("Select a variable or a scope in the tree")

    # -- public -----------------------------------------------------------------------------------

    def show_message(self, text: str) -> None:
        """Say `text` where the plots go (nothing to plot, or not yet)."""
        self.empty_label.setText(text)
        self.empty_label.show()
        self.graphics.hide()
        self.readout.setText(" ")

    def redraw(self) -> None:
        """Draw the model's timeline afresh (a new timeline, or other measures chosen)."""
        self.graphics.clear()
        self.plots, self.curves, self._lines = {}, {}, []
        if self.model.timeline is None:
            return
        measures = self.model.measures()
        if not measures:
            self.show_message("Tick a measure on the left to plot it")
            return
        self.empty_label.hide()
        self.graphics.show()
        first: pg.PlotItem | None = None
        for row, measure in enumerate(measures):
            last = row == len(measures) - 1
            plot = self._add_plot(row, measure, show_steps=last)
            if first is None:
                first = plot
            else:
                plot.setXLink(first)
        self.update_marks()
        theme.style_plot(self.graphics)
        if first is not None:
            first.vb.autoRange(padding=0.04)

    def update_marks(self) -> None:
        """Draw the current and picked steps and the marked ones again."""
        model = self.model
        positions = model.positions()
        marks = model.marks()
        for lines in self._lines:
            lines.update(positions, marks, model.current_index(), model.picked_indices())

    # -- drawing ----------------------------------------------------------------------------------

    def _add_plot(self, row: int, measure: Measure, *, show_steps: bool) -> pg.PlotItem:
        plot = self.graphics.addPlot(row=row, col=0, axisItems={"bottom": StepAxis()})
        plot.setTitle(measure.label, size="9pt", justify="left")
        plot.showGrid(x=True, y=True, alpha=0.15)
        plot.getAxis("bottom").setStyle(showValues=show_steps)
        plot.getAxis("left").setWidth(60)  # the stacked plots' axes line up
        if show_steps:
            plot.setLabel("bottom", "step")
        plot.vb.setMouseEnabled(x=True, y=False)
        plot.setMenuEnabled(False)
        curves = self.model.curves(measure)
        if len(curves) > 1:
            plot.addLegend(offset=(-4, 4), labelTextSize="8pt")
        for position, curve in enumerate(curves):
            colour = series_colour(position)
            drawn = np.isfinite(curve.y).any()  # pyqtgraph warns on a series of NaN alone
            item = plot.plot(
                curve.x if drawn else [],
                curve.y if drawn else [],
                pen=pg.mkPen(colour, width=2),
                symbol="o",
                symbolSize=5,
                symbolBrush=colour,
                symbolPen=None,
                connect="finite",
                name=curve.label,
            )
            self.curves[curve.name] = item
        if not any(np.isfinite(curve.y).any() for curve in curves):
            text = pg.TextItem("no value at any step", color=theme.plot_foreground())
            plot.addItem(text)
        self.plots[measure.key] = plot
        self._lines.append(StepLines(plot))
        return plot

    # -- input ------------------------------------------------------------------------------------

    def _on_item_changed(self, _item: QListWidgetItem) -> None:
        keys = []
        for row in range(self.measure_list.count()):
            item = self.measure_list.item(row)
            if item.checkState() == Qt.CheckState.Checked:
                keys.append(item.data(KEY_ROLE))
        self.model.set_chosen(keys)
        self.chosen_changed.emit()
        self.redraw()

    def set_chosen(self, keys: list[str]) -> None:
        """Tick exactly these measures (as a user would)."""
        self.measure_list.blockSignals(True)
        for row in range(self.measure_list.count()):
            item = self.measure_list.item(row)
            wanted = item.data(KEY_ROLE) in keys
            item.setCheckState(Qt.CheckState.Checked if wanted else Qt.CheckState.Unchecked)
        self.measure_list.blockSignals(False)
        self._on_item_changed(self.measure_list.item(0))

    def index_at(self, scene_position: QPointF) -> int | None:
        """The step under a point of the plots' scene (None off the plots)."""
        for plot in self.plots.values():
            if plot.vb.sceneBoundingRect().contains(scene_position):
                x = plot.vb.mapSceneToView(scene_position).x()
                return self.model.index_near(x) if math.isfinite(x) else None
        return None

    def _on_clicked(self, event) -> None:
        if event.button() != Qt.MouseButton.LeftButton or event.double():
            return
        index = self.index_at(event.scenePos())
        if index is not None:
            event.accept()
            self.step_clicked.emit(index, event.modifiers())

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if event.type() == QEvent.Type.MouseMove and watched is self.graphics.viewport():
            scene_position = self.graphics.mapToScene(event.position().toPoint())
            index = self.index_at(scene_position)
            if index is not None and self.model.timeline is not None:
                self.readout.setText(self.model.readout(index))
        return super().eventFilter(watched, event)

    def changeEvent(self, event: QEvent) -> None:
        if event.type() == QEvent.Type.PaletteChange:
            theme.style_plot(self.graphics)
        super().changeEvent(event)
