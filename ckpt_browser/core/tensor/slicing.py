"""Choosing a 2-D slice of an N-D tensor and turning it into what a table or heatmap can show.

A `SliceSpec` names the axis shown down the rows, the axis shown across the columns, and an index
for every other axis. `index_tuple` turns it into the index `Checkpoint.read(name, index)` takes, so
only that slice is read from disk.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from ckpt_browser.core.formatting import plural
from ckpt_browser.core.tensor.heatmap_grid import heatmap_steps
from ckpt_browser.core.tensor.string_display import hex_cell, is_text

DEFAULT_MAX_CHARS = 200
ELLIPSIS = "…"


@dataclass(frozen=True)
class SliceSpec:
    """Which 2-D slice of a tensor to show.

    `row_axis` and `col_axis` are distinct axes (either order: a row axis after the column axis
    shows the slice transposed); `fixed` gives the index of every other axis (missing ones are 0).
    A 1-D tensor has only a row axis (`col_axis` None); a 0-D tensor has neither.
    """

    row_axis: int | None
    col_axis: int | None
    fixed: Mapping[int, int] = field(default_factory=dict)

    @classmethod
    def default(cls, shape: Sequence[int]) -> SliceSpec:
        """The last two axes shown, every other axis at index 0."""
        ndim = len(shape)
        if ndim == 0:
            return cls(None, None, {})
        if ndim == 1:
            return cls(0, None, {})
        return cls(ndim - 2, ndim - 1, {axis: 0 for axis in range(ndim - 2)})

    def validate(self, shape: Sequence[int]) -> None:
        """Raise ValueError saying what is wrong if this spec does not fit a tensor of `shape`."""
        ndim = len(shape)
        shown = [axis for axis in (self.row_axis, self.col_axis) if axis is not None]
        expected = min(ndim, 2)
        if len(shown) != expected:
            raise ValueError(
                f"a {ndim}-D tensor shows {plural(expected, 'axis', 'axes')}, "
                f"the slice names {len(shown)}"
            )
        if ndim < 2 and self.col_axis is not None:
            raise ValueError("a 1-D tensor is shown down the rows: col_axis must be None")
        for axis in shown:
            if not 0 <= axis < ndim:
                raise ValueError(f"axis {axis} is out of range for a {ndim}-D tensor")
        if len(set(shown)) != len(shown):
            raise ValueError(f"rows and columns cannot both show axis {shown[0]}")
        for axis, index in self.fixed.items():
            if axis in shown:
                raise ValueError(f"axis {axis} is shown, it cannot also be fixed at an index")
            if not 0 <= axis < ndim:
                raise ValueError(f"fixed axis {axis} is out of range for a {ndim}-D tensor")
            length = int(shape[axis])
            if not (0 <= index < length or index == length == 0):
                raise ValueError(
                    f"index {index} is out of range for axis {axis} of length {length}"
                )

    @property
    def transposed(self) -> bool:
        """True when rows show a later axis than columns: the read slice must be transposed."""
        return (
            self.row_axis is not None
            and self.col_axis is not None
            and self.row_axis > self.col_axis
        )


def index_tuple(spec: SliceSpec, shape: Sequence[int]) -> tuple[int | slice, ...]:
    """The index for `Checkpoint.read(name, index)` that reads just the slice `spec` shows.

    The result keeps the axes in tensor order; transpose it when `spec.transposed`
    (`take_slice` does both for an array already in memory). A fixed axis of length 0 becomes an
    empty slice, so the read gives an empty array; `slice_shape` says its 2-D shape.
    """
    spec.validate(shape)
    shown = {spec.row_axis, spec.col_axis}
    index: list[int | slice] = []
    for axis, length in enumerate(shape):
        if axis in shown:
            index.append(slice(None))
        elif length == 0:
            index.append(slice(0, 0))
        else:
            index.append(int(spec.fixed.get(axis, 0)))
    return tuple(index)


def slice_shape(spec: SliceSpec, shape: Sequence[int]) -> tuple[int, ...]:
    """The shape of the slice as shown: (rows, columns), (rows,) for 1-D, () for 0-D."""
    spec.validate(shape)
    shown = [axis for axis in (spec.row_axis, spec.col_axis) if axis is not None]
    lengths = [int(shape[axis]) for axis in shown]
    if lengths and any(int(n) == 0 for axis, n in enumerate(shape) if axis not in shown):
        lengths[0] = 0  # an empty fixed axis: a table with its columns but no rows
    return tuple(lengths)


def element_index(spec: SliceSpec, shape: Sequence[int], row: int, column: int) -> tuple[int, ...]:
    """The index in the whole tensor of the cell (row, column) of the slice `spec` shows."""
    shown = {spec.row_axis: row, spec.col_axis: column}
    return tuple(
        int(shown[axis]) if axis in shown else int(spec.fixed.get(axis, 0))
        for axis in range(len(shape))
    )


def take_slice(array: np.ndarray, spec: SliceSpec) -> np.ndarray:
    """The slice `spec` shows of an array in memory, oriented rows x columns."""
    part = np.asarray(array[index_tuple(spec, array.shape)])
    if part.size == 0:
        return np.empty(slice_shape(spec, array.shape), dtype=part.dtype)
    return part.T if spec.transposed else part


def display_array(values: np.ndarray, dtype_name: str, *, max_chars: int = DEFAULT_MAX_CHARS):
    """What the value table and heatmap show for `values` of the checkpoint dtype `dtype_name`.

    bool -> 0/1 (uint8); complex -> magnitude (see `phase_array` for the angle); bfloat16, float16,
    float8 and float4 -> float32; int4/int2 -> int8 (uint4/uint2 -> uint8); strings -> text (an
    object array of str: the UTF-8 text, or hex with printable ASCII beside it for bytes that are
    not text, cut at `max_chars` with an ellipsis). Other numeric types come back as they are.
    """
    values = np.asarray(values)
    if dtype_name == "string" or values.dtype == np.dtype(object):
        return _as_text(values, max_chars)
    if dtype_name == "bool" or values.dtype == np.dtype(bool):
        return values.astype(np.uint8)
    if values.dtype.kind == "c":
        return np.abs(values)
    if values.dtype in (np.dtype(np.float32), np.dtype(np.float64)):
        return values
    if values.dtype.kind == "f" or dtype_name.startswith(("float", "bfloat")):
        return values.astype(np.float32)  # float16 and the ml_dtypes floats convert exactly
    if dtype_name.startswith("uint"):
        return values.astype(np.uint8) if values.dtype.kind == "V" else values
    if dtype_name.startswith("int"):
        return values.astype(np.int8) if values.dtype.kind == "V" else values
    return values


def phase_array(values: np.ndarray) -> np.ndarray:
    """The angle of complex values in radians (the other half of what `display_array` shows)."""
    return np.angle(np.asarray(values))


def _as_text(values: np.ndarray, max_chars: int) -> np.ndarray:
    flat = values.reshape(-1)
    out = np.empty(flat.size, dtype=object)
    for i, item in enumerate(flat):
        if isinstance(item, bytes):
            text = item.decode("utf-8") if is_text(item) else hex_cell(item)
        else:
            text = str(item)
        if len(text) > max_chars:
            text = text[: max(max_chars - 1, 0)] + ELLIPSIS
        out[i] = text
    return out.reshape(values.shape)


def downsample_for_heatmap(
    values: np.ndarray, max_pixels: tuple[int, int] = (1000, 1000), *, method: str = "mean"
) -> np.ndarray:
    """Shrink a 2-D array to at most `max_pixels` (rows, columns) for drawing, as float.

    `mean` averages each block of cells, ignoring NaN (a block of only NaN stays NaN);
    `stride` keeps every k-th row and column, which is faster and keeps exact values.
    An array that already fits comes back unchanged except for the float conversion.
    """
    values = np.asarray(values)
    if values.ndim != 2:
        raise ValueError(f"a heatmap needs a 2-D array, not {values.ndim}-D")
    if method not in ("mean", "stride"):
        raise ValueError(f"unknown downsampling method {method!r}; use 'mean' or 'stride'")
    if values.dtype.kind not in "f":
        values = values.astype(np.float64)
    row_step, col_step = heatmap_steps(values.shape, max_pixels)
    if row_step == 1 and col_step == 1:
        return values
    if method == "stride":
        return values[::row_step, ::col_step]
    return _block_nanmean(values, row_step, col_step)


def _block_nanmean(values: np.ndarray, row_step: int, col_step: int) -> np.ndarray:
    rows, cols = values.shape
    out_rows, out_cols = math.ceil(rows / row_step), math.ceil(cols / col_step)
    # Pad with NaN to whole blocks so one reshape gives (out_rows, row_step, out_cols, col_step).
    padded = np.full((out_rows * row_step, out_cols * col_step), np.nan, dtype=np.float64)
    padded[:rows, :cols] = values
    blocks = padded.reshape(out_rows, row_step, out_cols, col_step)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN blocks give NaN, as wanted
        means = np.nanmean(blocks, axis=(1, 3))
    return means.astype(values.dtype, copy=False)


def symmetric_levels(values: np.ndarray) -> tuple[float, float]:
    """Colour limits (-m, m) centred on 0 for a diverging map: m is the largest finite |value|.

    (-1, 1) when there is no finite non-zero value, so the colour bar still has a range.
    """
    values = np.asarray(values)
    if values.dtype.kind == "c":
        values = np.abs(values)
    finite = values[np.isfinite(values)] if values.dtype.kind == "f" else values
    if finite.size == 0:
        return (-1.0, 1.0)
    limit = float(np.max(np.abs(finite.astype(np.float64, copy=False))))
    if limit == 0.0:
        return (-1.0, 1.0)
    return (-limit, limit)
