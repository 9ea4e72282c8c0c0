"""Pick a 2-D slice of an N-D tensor: which axes are rows and columns, and where the others stand.

Each axis that is not shown gets a slider and a spin box kept in step. The widget only holds the
choice; `spec()` turns it into core's `SliceSpec`, which says what to read.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QComboBox,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QSlider,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from ckpt_browser.core.tensor.slicing import SliceSpec


class _AxisPosition:
    """Slider plus spin box for the index along one axis that is held fixed."""

    def __init__(self, axis: int, size: int, on_change: Callable[[], None]) -> None:
        self.axis = axis
        self.label = QLabel(f"axis {axis} ({size})")
        self.slider = QSlider(Qt.Orientation.Horizontal)
        self.spin = QSpinBox()
        for control in (self.slider, self.spin):
            control.setRange(0, max(size - 1, 0))
        self.spin.setSuffix(f" / {size - 1}")
        self.spin.setKeyboardTracking(False)
        self.slider.valueChanged.connect(self.spin.setValue)
        self.spin.valueChanged.connect(self.slider.setValue)
        self.spin.valueChanged.connect(lambda _index: on_change())

    @property
    def index(self) -> int:
        return self.spin.value()

    def widgets(self) -> tuple[QWidget, ...]:
        return (self.label, self.slider, self.spin)


class Slicer(QWidget):
    """Axis pickers and per-axis positions; emits `changed` whenever the slice changes."""

    changed = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._shape: tuple[int, ...] = ()
        self._row_axis = 0
        self._col_axis = 1
        self._positions: dict[int, _AxisPosition] = {}

        self.row_combo = QComboBox()
        self.col_combo = QComboBox()
        self.row_combo.setToolTip("The axis shown down the rows")
        self.col_combo.setToolTip("The axis shown across the columns")
        self.row_combo.activated.connect(lambda index: self._choose_axes(index, None))
        self.col_combo.activated.connect(lambda index: self._choose_axes(None, index))

        axes_row = QHBoxLayout()
        axes_row.setContentsMargins(0, 0, 0, 0)
        axes_row.addWidget(QLabel("Rows:"))
        axes_row.addWidget(self.row_combo)
        axes_row.addSpacing(12)
        axes_row.addWidget(QLabel("Columns:"))
        axes_row.addWidget(self.col_combo)
        axes_row.addStretch(1)
        self._axes_widget = QWidget()
        self._axes_widget.setLayout(axes_row)

        self._positions_grid = QGridLayout()
        self._positions_grid.setContentsMargins(0, 0, 0, 0)
        self._positions_widget = QWidget()
        self._positions_widget.setLayout(self._positions_grid)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self._axes_widget)
        layout.addWidget(self._positions_widget)
        self.set_shape(())

    @property
    def shape(self) -> tuple[int, ...]:
        return self._shape

    def set_shape(self, shape: Sequence[int]) -> None:
        """Start over for a tensor of `shape`: the last two axes shown, the others at index 0."""
        self._shape = tuple(int(n) for n in shape)
        default = SliceSpec.default(self._shape)
        self._row_axis = default.row_axis
        self._col_axis = default.col_axis
        self._rebuild()

    def spec(self) -> SliceSpec:
        """The slice chosen now."""
        fixed = {axis: position.index for axis, position in self._positions.items()}
        return SliceSpec(self._row_axis, self._col_axis, fixed)

    @property
    def fixed_axes(self) -> list[int]:
        """The axes held at one index (each has a slider), in order."""
        return sorted(self._positions)

    def spin_for(self, axis: int) -> QSpinBox:
        """The spin box of a fixed `axis` (kept in step with its slider)."""
        return self._positions[axis].spin

    def slider_for(self, axis: int) -> QSlider:
        return self._positions[axis].slider

    def set_position(self, axis: int, index: int) -> None:
        """Move the slider of a fixed `axis` (for code and tests; the user drags the slider)."""
        self._positions[axis].spin.setValue(index)

    def set_axes(self, row_axis: int, col_axis: int) -> None:
        """Show `row_axis` down the rows and `col_axis` across."""
        if row_axis == col_axis:
            raise ValueError("rows and columns must be different axes")
        self._row_axis, self._col_axis = row_axis, col_axis
        self._rebuild()
        self.changed.emit()

    def _choose_axes(self, row_axis: int | None, col_axis: int | None) -> None:
        new_row = self._row_axis if row_axis is None else row_axis
        new_col = self._col_axis if col_axis is None else col_axis
        if new_row == new_col:  # picking the other side's axis swaps the two
            new_row, new_col = (
                (new_row, self._row_axis) if row_axis is not None else (self._col_axis, new_col)
            )
        self.set_axes(new_row, new_col)

    def _rebuild(self) -> None:
        ndim = len(self._shape)
        kept = {axis: p.index for axis, p in self._positions.items()}
        for position in self._positions.values():
            for widget in position.widgets():
                self._positions_grid.removeWidget(widget)
                widget.deleteLater()
        self._positions.clear()

        self._axes_widget.setVisible(ndim >= 2)
        for combo, chosen in ((self.row_combo, self._row_axis), (self.col_combo, self._col_axis)):
            combo.blockSignals(True)
            combo.clear()
            for axis, size in enumerate(self._shape):
                combo.addItem(f"axis {axis} ({size})")
            if ndim >= 2:
                combo.setCurrentIndex(chosen)
            combo.blockSignals(False)

        if ndim < 3:
            self._positions_widget.setVisible(False)
            return
        fixed_axes = [a for a in range(ndim) if a not in (self._row_axis, self._col_axis)]
        for row, axis in enumerate(fixed_axes):
            position = _AxisPosition(axis, self._shape[axis], self.changed.emit)
            position.spin.setValue(min(kept.get(axis, 0), max(self._shape[axis] - 1, 0)))
            for column, widget in enumerate(position.widgets()):
                self._positions_grid.addWidget(widget, row, column)
            self._positions[axis] = position
        self._positions_grid.setColumnStretch(1, 1)
        self._positions_widget.setVisible(True)
