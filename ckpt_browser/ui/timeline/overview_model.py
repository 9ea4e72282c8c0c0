"""What the whole-run overview draws, without Qt: the colour of each (scope, save) cell and what a
cell says when the cursor is on it.

Relative changes span orders of magnitude (a layer at 1e-4 per save beside one at 3), so colours
follow log10 of the change. A layer that did not move at all reads exactly 0, whose log has no
value: it gets the level below the smallest change on show, the darkest colour, so a frozen row
stands out as one dark band.
"""

from __future__ import annotations

import math

import numpy as np

from ckpt_browser.core.timeline import Overview, Status

FLOOR_DECADES = 8  # the colour scale spans at most this many powers of ten below the largest
DEFAULT_LEVELS = (-4.0, 0.0)


class OverviewModel:
    """The overview on show (None before it is computed)."""

    def __init__(self) -> None:
        self.overview: Overview | None = None

    def set_overview(self, overview: Overview | None) -> None:
        self.overview = overview

    @property
    def shape(self) -> tuple[int, int]:
        if self.overview is None:
            return (0, 0)
        return self.overview.rel_change.shape

    def colour_values(self) -> tuple[np.ndarray, tuple[float, float]]:
        """log10 of each cell's change (NaN where it has none; the floor for an exact 0), and
        the colour levels."""
        if self.overview is None:
            return np.zeros((0, 0)), DEFAULT_LEVELS
        changes = self.overview.rel_change
        positive = changes[np.isfinite(changes) & (changes > 0)]
        if positive.size:
            high = math.ceil(math.log10(float(positive.max())) * 4) / 4
            low = math.floor(math.log10(float(positive.min())) * 4) / 4
            low = max(low, high - FLOOR_DECADES)
            if high - low < 1:
                low = high - 1
        else:
            low, high = DEFAULT_LEVELS
        with np.errstate(divide="ignore", invalid="ignore"):
            values = np.log10(changes)
        values[changes == 0] = low - 0.5
        values = np.where(np.isfinite(changes), np.maximum(values, low - 0.5), np.nan)
        return values, (low - 0.5, high)

    def column_titles(self) -> list[str]:
        if self.overview is None:
            return []
        return [
            str(column.step) if column.step is not None else column.prefix.rsplit("/", 1)[-1]
            for column in self.overview.columns
        ]

    def cell_text(self, row: int, column: int) -> str:
        """`net/layer_2 · step 60 (from 50): relative change 0 (did not move)`."""
        assert self.overview is not None
        scope = self.overview.scopes[row]
        entry = self.overview.columns[column]
        step = f"step {entry.step}" if entry.step is not None else entry.prefix.rsplit("/", 1)[-1]
        if entry.status is Status.ERROR:
            return f"{scope} · {step}: not read: {entry.reason}"
        if entry.previous_step is not None:
            step += f" (from {entry.previous_step})"
        value = float(self.overview.rel_change[row, column])
        if math.isnan(value):
            if entry.previous_step is None:
                return f"{scope} · {step}: the first save, nothing to compare with"
            return f"{scope} · {step}: no parameter of the scope in both saves"
        if value == 0:
            return f"{scope} · {step}: relative change 0 (did not move)"
        return f"{scope} · {step}: relative change {value:.4g}"

    def cell_at(self, x: float, y: float) -> tuple[int, int] | None:
        """(row, column) of the cell at (x, y): column c spans [c, c + 1), row r [r, r + 1)."""
        rows, columns = self.shape
        if not (math.isfinite(x) and math.isfinite(y)):
            return None
        row, column = math.floor(y), math.floor(x)
        if 0 <= row < rows and 0 <= column < columns:
            return row, column
        return None
