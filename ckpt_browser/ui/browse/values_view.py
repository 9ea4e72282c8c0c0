"""The values of the selected tensor: a table and a heatmap of any 2-D slice, a line for 1-D.

The slicer says which slice; a worker reads just that part of the tensor (`ckpt.read(name, index)`),
turns it into displayable numbers or text, and downsamples it for the heatmap and the line, so even
a slice of millions of values never stalls the window. Scalars show as one number, strings as text,
complex values as magnitude or phase, booleans as 0/1.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QEvent, Qt, QTimer, Signal
from PySide6.QtGui import QFontDatabase
from PySide6.QtWidgets import (
    QComboBox,
    QHBoxLayout,
    QLabel,
    QPlainTextEdit,
    QSizePolicy,
    QStackedWidget,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from ckpt_browser.core.formatting import format_shape, shortest_text
from ckpt_browser.core.tensor.heatmap_grid import Block
from ckpt_browser.core.tensor.slicing import (
    SliceSpec,
    display_array,
    downsample_for_heatmap,
    element_index,
    index_tuple,
    phase_array,
)
from ckpt_browser.core.tensor.string_display import describe_bytes, is_text, object_graph_text
from ckpt_browser.format import Checkpoint, TensorInfo, TensorKind
from ckpt_browser.ui.browse.value_table import NOTATIONS, ValueTableModel, ValueTableView
from ckpt_browser.ui.widgets import theme
from ckpt_browser.ui.widgets.heatmap import Heatmap, choose_levels
from ckpt_browser.ui.widgets.slicer import Slicer
from ckpt_browser.ui.widgets.workers import TaskContext, TaskHandle, TaskRunner

HEATMAP_MAX_PIXELS = (1000, 1000)
LINE_MAX_POINTS = 100_000
# Block means need a float64 copy of the whole slice; past this many cells (32 MB of copy) the
# heatmap and line take every k-th value instead, which costs nothing.
BLOCK_MEAN_MAX_CELLS = 4_000_000
COMPLEX_PARTS = ("magnitude", "phase")


@dataclass(frozen=True)
class SliceData:
    """One slice, ready to show: table values, heatmap pixels, line points."""

    spec: SliceSpec | None
    table: np.ndarray  # what the table shows: 2-D numbers or text (1-D and 0-D as given)
    heatmap: np.ndarray | None  # float pixels, maybe downsampled; None for text
    line: np.ndarray | None  # float points of a 1-D tensor, maybe downsampled
    full_shape: tuple[int, ...]  # the slice's shape before downsampling
    downsampling: str = "mean"  # how heatmap and line were shrunk if they were: "mean", "stride"
    levels: tuple[float, float] = (0.0, 1.0)  # heatmap colour limits
    diverging: bool = False  # values of both signs: a diverging map centred on 0
    document: str | None = None  # a scalar string shown as a page: object graph tree or hex dump


def prepare_slice(
    checkpoint: Checkpoint, info: TensorInfo, spec: SliceSpec | None, complex_part: str
) -> SliceData:
    """Read and convert the part of `info` that `spec` selects (runs in a worker thread)."""
    if spec is None:
        raw = checkpoint.read(info.name)
    else:
        raw = checkpoint.read(info.name, index_tuple(spec, info.shape))
        if spec.transposed:
            raw = raw.T  # the read keeps axes in tensor order; the user asked for them swapped
    if raw.dtype.kind == "c" and complex_part == "phase":
        table = phase_array(raw)
    else:
        table = display_array(raw, info.dtype.name)
    numeric = table.dtype.kind in "biuf"
    method = "mean" if table.size <= BLOCK_MEAN_MAX_CELLS else "stride"
    heatmap = line = None
    levels, diverging = (0.0, 1.0), False
    if numeric and table.ndim == 2:
        heatmap = downsample_for_heatmap(table, HEATMAP_MAX_PIXELS, method=method)
        levels, diverging = choose_levels(heatmap)  # here, not in the GUI thread
    if numeric and table.ndim == 1:
        row = table.reshape(1, -1)
        line = downsample_for_heatmap(row, (1, LINE_MAX_POINTS), method=method)[0]
    document = None
    if info.dtype.is_string and table.ndim == 0:
        data = bytes(raw.reshape(()).item())
        if info.kind is TensorKind.OBJECT_GRAPH:
            document = object_graph_text(data)
        elif not is_text(data):
            document = describe_bytes(data)
    return SliceData(
        spec, table, heatmap, line, tuple(table.shape), method, levels, diverging, document
    )


class LinePlot(QWidget):
    """A 1-D tensor as a line over its index."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.plot_widget = pg.PlotWidget()
        self.plot_widget.setMenuEnabled(False)
        self.plot_widget.showGrid(x=True, y=True, alpha=0.2)
        self.plot_widget.setLabel("bottom", "index")
        self.curve = self.plot_widget.plot([], [])
        self.note = QLabel()
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.plot_widget, 1)
        layout.addWidget(self.note)
        theme.style_plot(self.plot_widget)
        self._apply_colors()

    def set_points(self, points: np.ndarray, length: int, downsampling: str = "mean") -> None:
        """Draw `points` spread over indices 0..length-1 (fewer points: a downsampled line)."""
        x = np.linspace(0, max(length - 1, 0), num=len(points)) if len(points) else points
        self.curve.setData(x, np.asarray(points, dtype=np.float64))
        self.plot_widget.enableAutoRange()
        how = "block means" if downsampling == "mean" else "evenly spaced values"
        self.note.setText("" if len(points) == length else f"{len(points):,} {how} of {length:,}")

    def changeEvent(self, event: QEvent) -> None:
        if event.type() == QEvent.Type.PaletteChange:
            theme.style_plot(self.plot_widget)
            self._apply_colors()
        super().changeEvent(event)

    def _apply_colors(self) -> None:
        self.curve.setPen(pg.mkPen(theme.accent(), width=1.5))


class ValuesView(QWidget):
    """Slicer and notation controls over tabs: Table, Heatmap, Line; or one value / a message."""

    notation_changed = Signal(str)
    slice_shown = Signal()
    failed = Signal(str)  # the slice could not be read: the format layer's sentence

    def __init__(self, runner: TaskRunner, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._runner = runner
        self._checkpoint: Checkpoint | None = None
        self._info: TensorInfo | None = None
        self._pending: TaskHandle | None = None
        self.data: SliceData | None = None

        self.slicer = Slicer()
        self.slicer.changed.connect(self._schedule_reload)
        self.notation_combo = QComboBox()
        self.notation_combo.addItems(NOTATIONS)
        self.notation_combo.setToolTip("Number notation in the table and the statistics")
        self.notation_combo.currentTextChanged.connect(self._on_notation_changed)
        self.complex_combo = QComboBox()
        self.complex_combo.addItems(COMPLEX_PARTS)
        self.complex_combo.setToolTip("Which part of the complex values the table and map show")
        self.complex_combo.currentTextChanged.connect(lambda _part: self._schedule_reload())
        self.complex_label = QLabel("Complex:")
        self.slice_label = QLabel()
        # A long slice description must not make the window wider; it is cut at the edge instead.
        self.slice_label.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)

        self.table_model = ValueTableModel(self)
        self.table = ValueTableView()
        self.table.setModel(self.table_model)
        self.heatmap = Heatmap()
        self.heatmap.detail_budget = HEATMAP_MAX_PIXELS
        self.heatmap.detail_wanted.connect(self._load_detail)
        self._detail_task: TaskHandle | None = None
        self.line = LinePlot()
        self.tabs = QTabWidget()
        self.tabs.setDocumentMode(True)
        self.tabs.addTab(self.table, "Table")
        self.tabs.addTab(self.heatmap, "Heatmap")
        self.tabs.addTab(self.line, "Line")
        self._shown_in: dict[QWidget, SliceData] = {}  # which slice each tab shows
        self._columns_fitted_for: tuple[int, str | None] | None = None  # (checkpoint, tensor)
        self.tabs.currentChanged.connect(lambda _index: self._refresh_current_tab())

        self.message = QLabel()
        self.message.setTextFormat(Qt.TextFormat.PlainText)  # names are text
        self.message.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.message.setWordWrap(True)
        self.message.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.text_view = QPlainTextEdit()  # the decoded object graph, a hex dump
        self.text_view.setReadOnly(True)
        self.text_view.setLineWrapMode(QPlainTextEdit.LineWrapMode.NoWrap)
        self.text_view.setFont(QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont))
        self.stack = QStackedWidget()
        self.stack.addWidget(self.tabs)
        self.stack.addWidget(self.message)
        self.stack.addWidget(self.text_view)

        controls = QHBoxLayout()
        controls.setContentsMargins(0, 0, 0, 0)
        controls.addWidget(self.slice_label, 1)
        controls.addWidget(self.complex_label)
        controls.addWidget(self.complex_combo)
        controls.addWidget(QLabel("Notation:"))
        controls.addWidget(self.notation_combo)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(controls)
        layout.addWidget(self.slicer)
        layout.addWidget(self.stack, 1)

        self._reload_timer = QTimer(self)
        self._reload_timer.setSingleShot(True)
        self._reload_timer.setInterval(0)  # coalesce a burst of slider moves into one read
        self._reload_timer.timeout.connect(self.reload)
        self.clear()

    @property
    def busy(self) -> bool:
        return self._reload_timer.isActive() or (
            self._pending is not None and self._pending.pending
        )

    @property
    def notation(self) -> str:
        return self.notation_combo.currentText()

    def set_tensor(self, checkpoint: Checkpoint, info: TensorInfo) -> None:
        """Show `info` of `checkpoint`: pick the widgets that fit it and read its first slice."""
        self._cancel()
        self._checkpoint, self._info = checkpoint, info
        # An empty table drops the columns the last tensor sized; the new ones start from the
        # default width that `fit_columns` sets.
        self.table_model.set_values(np.zeros((0, 0)))
        ndim = len(info.shape)
        is_complex = info.dtype.numpy is not None and info.dtype.numpy.kind == "c"
        self.complex_label.setVisible(is_complex)
        self.complex_combo.setVisible(is_complex)
        self.slicer.blockSignals(True)
        self.slicer.set_shape(info.shape if ndim >= 2 else ())
        self.slicer.blockSignals(False)
        self.slicer.setVisible(ndim >= 2)
        numeric = not info.dtype.is_string
        self.tabs.setTabVisible(1, numeric and ndim >= 2)
        self.tabs.setTabVisible(2, numeric and ndim == 1)
        if not self.tabs.isTabVisible(self.tabs.currentIndex()):
            self.tabs.setCurrentIndex(0)
        if info.size == 0:
            self._show_message(f"Empty tensor: shape {format_shape(info.shape)}, no values.")
            return
        self._show_message("Reading…")
        self.reload()

    def clear(self, message: str = "Select a variable to see its values.") -> None:
        self._cancel()
        self._checkpoint = self._info = None
        self.data = None
        self.slicer.setVisible(False)
        self.complex_label.setVisible(False)
        self.complex_combo.setVisible(False)
        self.slice_label.clear()
        self.table_model.set_values(np.zeros((0, 0)))
        self.heatmap.clear()
        self.text_view.clear()
        self._shown_in.clear()
        self._columns_fitted_for = None
        self._show_message(message)

    def reload(self) -> None:
        """Read the slice the controls describe, in a worker."""
        self._reload_timer.stop()
        checkpoint, info = self._checkpoint, self._info
        if checkpoint is None or info is None or info.size == 0:
            return
        self._cancel()
        spec = self.slicer.spec() if len(info.shape) >= 2 else None
        part = self.complex_combo.currentText()

        def work(context: TaskContext) -> SliceData:
            context.raise_if_cancelled()
            return prepare_slice(checkpoint, info, spec, part)

        self._pending = self._runner.start(
            work,
            self._show,
            on_failed=self._on_failed,
            doing=f"read the values of {info.name!r} in {checkpoint.prefix}",
        )

    def shutdown(self) -> None:
        self._cancel()

    def _schedule_reload(self) -> None:
        self._reload_timer.start()

    def _cancel(self) -> None:
        self._reload_timer.stop()
        for task in (self._pending, self._detail_task):
            if task is not None:
                task.cancel()
        self._pending = self._detail_task = None

    def _load_detail(self, block: Block) -> None:
        """Read a block of the shown slice at full resolution for the zoomed-in heatmap.

        The slice is a memory map for most tensors: only the block's pages are read, in a
        worker, since pages not yet in memory come from disk.
        """
        data = self.data
        if data is None or data.table.ndim != 2:
            return
        if self._detail_task is not None:
            self._detail_task.cancel()
        table = data.table

        def work(context: TaskContext) -> np.ndarray:
            context.raise_if_cancelled()
            part = table[block.top : block.bottom, block.left : block.right]
            return np.asarray(part, dtype=np.float64 if part.dtype.kind in "iu" else None)

        def show(values: np.ndarray) -> None:
            if self.data is data:
                self.heatmap.set_detail(block, values)

        name = self._info.name if self._info is not None else ""
        self._detail_task = self._runner.start(
            work, show, on_failed=self._on_failed, doing=f"read a block of {name!r}"
        )

    def _show(self, data: SliceData) -> None:
        self.data = data
        info = self._info
        if info is None:
            return
        self.slice_label.setText(self._describe(data))
        if data.document is not None:
            self.text_view.setPlainText(data.document)
            self.stack.setCurrentWidget(self.text_view)
            self.slice_shown.emit()
            return
        if len(info.shape) == 0:
            value = data.table.reshape(()).item() if data.table.size else None
            text = value.decode("utf-8", "backslashreplace") if isinstance(value, bytes) else None
            self._show_message(text if text is not None else self._scalar_text(data.table))
            self.slice_shown.emit()
            return
        self._refresh_current_tab()
        self.stack.setCurrentWidget(self.tabs)
        self.slice_shown.emit()

    def _refresh_current_tab(self) -> None:
        """Give the visible tab the current slice; the others get it when they are shown.

        Filling a table of millions of cells or drawing a large heatmap takes tens of
        milliseconds each, so only the one the user looks at is updated.
        """
        data, current = self.data, self.tabs.currentWidget()
        if data is None or self._shown_in.get(current) is data:
            return
        if current is self.table:
            self.table_model.set_values(data.table, self._stored_dtype())
            fitted_for = (id(self._checkpoint), self._info.name if self._info else None)
            if fitted_for != self._columns_fitted_for:  # slices of one tensor keep the widths
                self.table.fit_columns()
                self._columns_fitted_for = fitted_for
        elif current is self.heatmap and data.heatmap is not None:
            rows, columns = data.full_shape
            info, spec = self._info, data.spec
            self.heatmap.set_values(
                data.heatmap,
                (rows, columns),
                data.downsampling,
                levels=(data.levels, data.diverging),
                source=data.table,
                stored_dtype=self._stored_dtype(),
                element_index=None
                if info is None or spec is None
                else functools.partial(element_index, spec, info.shape),
            )
        elif current is self.line and data.line is not None:
            self.line.set_points(data.line, data.full_shape[0], data.downsampling)
        self._shown_in[current] = data

    def _scalar_text(self, table: np.ndarray) -> str:
        if table.size == 0:
            return ""
        return shortest_text(table.reshape(())[()], self._stored_dtype())

    def _describe(self, data: SliceData) -> str:
        info = self._info
        if info is None or data.spec is None or len(info.shape) < 2:
            return ""
        spec = data.spec
        picks = ", ".join(
            ":" if axis in (spec.row_axis, spec.col_axis) else str(spec.fixed.get(axis, 0))
            for axis in range(len(info.shape))
        )
        transposed = " (transposed)" if spec.transposed else ""
        return f"slice [{picks}]{transposed}: {data.full_shape[0]} × {data.full_shape[1]}"

    def _on_failed(self, message: str) -> None:
        self._show_message(f"Could not read the values:\n{message}")
        self.failed.emit(message)

    def _show_message(self, text: str) -> None:
        self.message.setText(text)
        self.stack.setCurrentWidget(self.message)

    def _on_notation_changed(self, notation: str) -> None:
        self.table_model.set_notation(notation)
        if self.table_model.values.size:
            self.table.fit_columns()
        self.notation_changed.emit(notation)

    def _stored_dtype(self) -> np.dtype | None:
        """The checkpoint's dtype of the shown tensor: exact texts are written in it."""
        return self._info.dtype.numpy if self._info is not None else None
