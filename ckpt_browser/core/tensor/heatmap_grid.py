"""Where the pixels of a downsampled heatmap lie over the cells of the slice they stand for.

A slice too big to draw is shrunk by whole steps (`downsample_for_heatmap`): pixel (i, j) stands
for the block of rows i*row_step .. (i+1)*row_step - 1 and the matching columns, and shows either
their mean or, striding, the value of the block's first cell. The picture, the hover readout and a
full-resolution block loaded on zooming all place a pixel over exactly its block, so a position
over the map always names the cells it shows. (Stretching the pixels evenly over the slice, as the
heatmap once did, put pixel 615 of a 5000-row slice over row 3078 while it held row 3075.)
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import NamedTuple

ElementIndex = Callable[[int, int], Sequence[int]]


def heatmap_steps(shape: Sequence[int], max_pixels: Sequence[int]) -> tuple[int, int]:
    """Cells per pixel down and across that fit a (rows, columns) slice into `max_pixels`."""
    rows, columns = (int(n) for n in shape)
    max_rows, max_columns = (max(1, int(n)) for n in max_pixels)
    return max(1, math.ceil(rows / max_rows)), max(1, math.ceil(columns / max_columns))


class Block(NamedTuple):
    """Rows top..bottom-1 and columns left..right-1 of a slice."""

    top: int
    left: int
    bottom: int
    right: int

    @property
    def shape(self) -> tuple[int, int]:
        return self.bottom - self.top, self.right - self.left

    def contains(self, other: Block) -> bool:
        return (
            self.top <= other.top
            and self.left <= other.left
            and other.bottom <= self.bottom
            and other.right <= self.right
        )

    def holds(self, row: int, column: int) -> bool:
        return self.top <= row < self.bottom and self.left <= column < self.right


@dataclass(frozen=True)
class HeatmapGrid:
    """The pixels of a heatmap over a slice of `shape` cells, `steps` cells per pixel."""

    shape: tuple[int, int]
    steps: tuple[int, int] = (1, 1)
    method: str = "mean"  # what a pixel of a downsampled map shows: "mean" or "stride"

    @classmethod
    def for_pixels(
        cls, shape: Sequence[int], pixels: Sequence[int], method: str = "mean"
    ) -> HeatmapGrid:
        """The grid that shrank a slice of `shape` to `pixels`.

        Downsampling uses the smallest step that fits the limit, and ceil(n / pixels) is that
        step for any limit that gave `pixels`, so the sizes alone say the steps.
        """
        rows, columns = (int(n) for n in shape)
        return cls((rows, columns), heatmap_steps((rows, columns), pixels), method)

    @property
    def downsampled(self) -> bool:
        return self.steps != (1, 1)

    @property
    def pixels(self) -> tuple[int, int]:
        (rows, columns), (row_step, column_step) = self.shape, self.steps
        return math.ceil(rows / row_step), math.ceil(columns / column_step)

    @property
    def covered(self) -> tuple[int, int]:
        """Rows and columns the pixels cover: whole blocks, so a little past a partial last one."""
        (pixel_rows, pixel_columns), (row_step, column_step) = self.pixels, self.steps
        return pixel_rows * row_step, pixel_columns * column_step

    def cell_at(self, x: float, y: float) -> tuple[int, int] | None:
        """The (row, column) under a point of the map (cell centres sit on whole numbers)."""
        row, column = math.floor(y + 0.5), math.floor(x + 0.5)
        rows, columns = self.shape
        return (row, column) if 0 <= row < rows and 0 <= column < columns else None

    def pixel_of(self, row: int, column: int) -> tuple[int, int]:
        return row // self.steps[0], column // self.steps[1]

    def block_of(self, pixel_row: int, pixel_column: int) -> Block:
        """The cells pixel (pixel_row, pixel_column) stands for."""
        (row_step, column_step), (rows, columns) = self.steps, self.shape
        top, left = pixel_row * row_step, pixel_column * column_step
        return Block(top, left, min(top + row_step, rows), min(left + column_step, columns))

    def visible_block(self, x_range: Sequence[float], y_range: Sequence[float]) -> Block | None:
        """The cells at least partly inside a view of the map; None if it shows none."""
        rows, columns = self.shape
        top = max(0, math.floor(y_range[0] + 0.5))
        bottom = min(rows, math.ceil(y_range[1] + 0.5))
        left = max(0, math.floor(x_range[0] + 0.5))
        right = min(columns, math.ceil(x_range[1] + 0.5))
        return Block(top, left, bottom, right) if top < bottom and left < right else None

    def detail_block(self, visible: Block, budget: Sequence[int]) -> Block | None:
        """The block to load at full resolution for a view of `visible` cells, or None.

        None while the view holds more than `budget` (rows, columns) cells or the map is not
        downsampled. Otherwise the visible block grown on every side (half its size, within the
        budget and the slice), so that small pans stay inside what is loaded.
        """
        if not self.downsampled:
            return None
        max_rows, max_columns = (int(n) for n in budget)
        height, width = visible.shape
        if height > max_rows or width > max_columns:
            return None
        top, bottom = _grow(visible.top, visible.bottom, max_rows, self.shape[0])
        left, right = _grow(visible.left, visible.right, max_columns, self.shape[1])
        return Block(top, left, bottom, right)


def _grow(start: int, stop: int, limit: int, length: int) -> tuple[int, int]:
    size = stop - start
    target = min(limit, 2 * size, length)
    start = max(0, start - (target - size) // 2)
    stop = min(length, start + target)
    return max(0, stop - target), stop


def format_index(index: Sequence[int]) -> str:
    return "[" + ", ".join(str(int(i)) for i in index) + "]"


def format_rows_columns(block: Block) -> str:
    def span(start: int, stop: int) -> str:
        return str(start) if stop - start == 1 else f"{start}–{stop - 1}"

    return f"rows {span(block.top, block.bottom)}, columns {span(block.left, block.right)}"


def hover_text(
    grid: HeatmapGrid,
    row: int,
    column: int,
    *,
    pixel_text: str,
    exact_text: str | None = None,
    element_index: ElementIndex | None = None,
) -> str:
    """What the readout says over cell (row, column).

    `exact_text` is the cell's own value when the full-resolution slice is at hand, `pixel_text`
    the value of the pixel drawn there; each value is named by the element(s) it belongs to.
    """
    index_of = element_index or (lambda r, c: (r, c))
    block = grid.block_of(*grid.pixel_of(row, column))
    if not grid.downsampled:
        return f"element {format_index(index_of(row, column))}: {exact_text or pixel_text}"
    if grid.method == "stride":
        shown = f"element {format_index(index_of(block.top, block.left))}: {pixel_text}"
        what = f"{shown} (one pixel for {format_rows_columns(block)})"
    else:
        count = block.shape[0] * block.shape[1]
        what = f"{format_rows_columns(block)}: mean {pixel_text} of {count:,} values"
    if exact_text is None:
        return what
    return f"element {format_index(index_of(row, column))}: {exact_text}  ·  pixel: {what}"
