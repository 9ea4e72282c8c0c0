"""What the compare view draws for one name: A and B histograms on the same bins, the histogram
of A - B, and the same 2-D slice of A, B and A - B (for 1-D and scalar tensors, their points, to
draw as lines: a 1-row heatmap has no rows to speak of).

The histograms of A and B reuse `stats` (exact, chunked, cancellable) over one value range that
covers both, so their bars line up. The A - B histogram is a chunked pass of its own over the two
memory maps (`tensor_chunks`), symmetric around 0 so that "B larger" and "B smaller" sit on either
side. Slices are read with `Checkpoint.read(name, index)`, so only the shown part leaves the disk.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from ckpt_browser.core.tensor.chunked import Cancel, Progress, scaled
from ckpt_browser.core.tensor.chunks import ChunkedTensor, map_pair_chunks, worker_pool
from ckpt_browser.core.tensor.distances import COMPLEX, STRING, comparison_category
from ckpt_browser.core.tensor.slicing import (
    SliceSpec,
    display_array,
    downsample_for_heatmap,
    index_tuple,
    slice_shape,
)
from ckpt_browser.core.tensor.stats import Histogram, compute_stats, histogram, quick_histogram
from ckpt_browser.format import Checkpoint, TensorInfo
from ckpt_browser.format.pages import release_pages

HEATMAP_MAX_PIXELS = (600, 600)
LINE_MAX_POINTS = 100_000  # as the main window's line; past this, block means (or every k-th)
# Block means need a float64 copy of the whole slice; past this many cells the heatmaps take every
# k-th value instead (as the main window's values view does).
BLOCK_MEAN_MAX_CELLS = 4_000_000
HISTOGRAM_BLOCK = 1 << 16  # differences binned a cache-sized block at a time
PREVIEW_THRESHOLD = 2_000_000  # elements above which a sampled preview comes first
PREVIEW_SAMPLE = 1_000_000


@dataclass(frozen=True)
class HistogramPair:
    """Histograms of A and B over the same edges (either None: that side has no numbers)."""

    a: Histogram | None
    b: Histogram | None


@dataclass(frozen=True)
class SliceTriple:
    """The pixels of one slice of A and of B, and of A - B when the shapes agree; with `lines`,
    the points of 1-D (or scalar) A and B instead."""

    a: np.ndarray | None  # 2-D float (1-D with `lines`), maybe downsampled; None: side missing
    b: np.ndarray | None  # or not numbers
    difference: np.ndarray | None
    shape_a: tuple[int, ...]  # slice shape (rows, columns; with `lines`: length) before
    shape_b: tuple[int, ...]  # downsampling
    downsampling: str = "mean"
    lines: bool = False


def is_numeric(info: TensorInfo | None) -> bool:
    return info is not None and info.dtype.numpy is not None and not info.dtype.is_string


def histogram_pair(
    a: Checkpoint | None,
    info_a: TensorInfo | None,
    b: Checkpoint | None,
    info_b: TensorInfo | None,
    bins: int,
    *,
    progress: Progress = None,
    cancel: Cancel = None,
    on_preview: Callable[[HistogramPair], None] | None = None,
) -> HistogramPair:
    """Exact histograms of the finite values of A and B, over one range that holds both.

    For tensors above PREVIEW_THRESHOLD elements, `on_preview` first gets histograms of a sample
    on the same bins (the exact ones take a pass over every value).
    """
    arrays = [_numbers(a, info_a), _numbers(b, info_b)]
    ranges = []
    for step, array in enumerate(arrays):
        stats = compute_stats(
            array,
            quantiles=False,
            progress=scaled(progress, step / 4, (step + 1) / 4),
            cancel=cancel,
        )
        if stats.min is not None:
            ranges.append((float(stats.min), float(stats.max)))
    if not ranges:
        return HistogramPair(None, None)
    low, high = min(r[0] for r in ranges), max(r[1] for r in ranges)
    if low == high:  # one value everywhere: give the bins some width
        low, high = low - 0.5, high + 0.5
    if on_preview is not None and max(array.size for array in arrays) > PREVIEW_THRESHOLD:
        on_preview(
            HistogramPair(
                *(
                    quick_histogram(array, bins, sample=PREVIEW_SAMPLE, value_range=(low, high))
                    if array.size
                    else None
                    for array in arrays
                )
            )
        )
    results = []
    for step, array in enumerate(arrays, 2):
        progress_part = scaled(progress, step / 4, (step + 1) / 4)
        results.append(
            histogram(array, bins, value_range=(low, high), progress=progress_part, cancel=cancel)
            if array.size
            else None
        )
        release_pages(array)  # the pass is done: give the mapped pages back
    return HistogramPair(*results)


def _numbers(checkpoint: Checkpoint | None, info: TensorInfo | None) -> np.ndarray:
    """The values of a numeric tensor; an empty array for a missing side or strings."""
    if checkpoint is None or info is None or not is_numeric(info):
        return np.zeros(0, np.float32)
    return checkpoint.read(info.name)


def difference_histogram(
    a: Checkpoint,
    info_a: TensorInfo,
    b: Checkpoint,
    info_b: TensorInfo,
    bins: int,
    limit: float | None,
    *,
    progress: Progress = None,
    cancel: Cancel = None,
) -> Histogram | None:
    """Exact histogram of a - b (|a - b| for complex) over [-limit, limit] ([0, limit]).

    `limit` is the largest |a - b| (the comparison knows it); None or 0 gives [-1, 1]. NaN and
    infinite differences are counted apart, as in `stats.histogram`. None when the two cannot be
    subtracted (strings, different shapes).
    """
    if info_a.shape != info_b.shape or not (is_numeric(info_a) and is_numeric(info_b)):
        return None
    how = comparison_category(info_a.dtype.numpy, info_b.dtype.numpy)
    if how is None or how == STRING:
        return None
    limit = float(limit) if limit else 1.0
    low = 0.0 if how == COMPLEX else -limit
    edges = np.histogram_bin_edges(np.empty(0), int(bins), range=(low, limit))

    def count(x: np.ndarray, y: np.ndarray, _start: int) -> np.ndarray:
        """Bin counts, then NaN, +Inf and -Inf counts, of one chunk's differences."""
        counts = np.zeros(int(bins) + 3, dtype=np.int64)
        for block in range(0, x.size, HISTOGRAM_BLOCK):
            difference = _difference(
                x[block : block + HISTOGRAM_BLOCK], y[block : block + HISTOGRAM_BLOCK], how
            )
            finite = np.isfinite(difference)
            if not finite.all():
                counts[-3] += np.count_nonzero(np.isnan(difference))
                counts[-2] += np.count_nonzero(difference == np.inf)
                counts[-1] += np.count_nonzero(difference == -np.inf)
                difference = difference[finite]
            counts[:-3] += np.histogram(difference, bins=int(bins), range=(low, limit))[0]
        return counts

    tensor_a, tensor_b = ChunkedTensor(a, info_a), ChunkedTensor(b, info_b)
    with worker_pool(info_a.nbytes + info_b.nbytes) as pool:
        parts = map_pair_chunks(
            tensor_a, tensor_b, count, pool=pool, progress=progress, cancel=cancel
        )
    counts = np.sum(parts, axis=0)
    nan, posinf, neginf = (int(c) for c in counts[-3:])
    total = info_a.size
    return Histogram(counts[:-3], edges, nan, posinf, neginf, 0, total, total, "difference")


def read_slices(
    a: Checkpoint | None,
    info_a: TensorInfo | None,
    b: Checkpoint | None,
    info_b: TensorInfo | None,
    spec: SliceSpec | None,
    max_pixels: tuple[int, int] = HEATMAP_MAX_PIXELS,
) -> SliceTriple:
    """The slice `spec` of A and B (each side's default slice when the shapes differ); for
    tensors of at most one axis on both sides, all their points (`lines`)."""
    same_shape = info_a is not None and info_b is not None and info_a.shape == info_b.shape
    lines = all(len(info.shape) <= 1 for info in (info_a, info_b) if info is not None)
    if lines:
        spec, max_pixels = None, (1, LINE_MAX_POINTS)
    values = []
    shapes = []
    for checkpoint, info in ((a, info_a), (b, info_b)):
        if checkpoint is None or info is None or not is_numeric(info):
            values.append(None)
            shapes.append((0, 0))
            continue
        if lines:
            values.append(np.asarray(checkpoint.read(info.name)).reshape(1, -1))
            shapes.append(values[-1].shape)
            continue
        own_spec = spec if same_shape and spec is not None else SliceSpec.default(info.shape)
        part = np.asarray(checkpoint.read(info.name, index_tuple(own_spec, info.shape)))
        if part.size == 0:  # an empty slice: give it the shape it is shown with
            part = part.reshape(slice_shape(own_spec, info.shape))
        elif own_spec.transposed:  # read in tensor axis order; shown rows first
            part = part.T
        values.append(_as_2d(part))
        shapes.append(values[-1].shape)
    method = "mean" if max(s[0] * s[1] for s in shapes) <= BLOCK_MEAN_MAX_CELLS else "stride"
    if method == "stride":  # keep every k-th cell before converting or subtracting anything
        values = [None if v is None else _every_kth(v, max_pixels) for v in values]
    difference = None
    if same_shape and values[0] is not None and values[1] is not None:
        how = comparison_category(values[0].dtype, values[1].dtype)
        if how not in (None, STRING):
            difference = _difference(values[0], values[1], how)
    pixels = [
        None if v is None else _pixels(v, dtype_name, max_pixels, method)
        for v, dtype_name in (
            (values[0], info_a.dtype.name if info_a else ""),
            (values[1], info_b.dtype.name if info_b else ""),
            (difference, "float64"),
        )
    ]
    if lines:
        pixels = [None if p is None else p[0] for p in pixels]
        shapes = [shape[1:] for shape in shapes]
    return SliceTriple(pixels[0], pixels[1], pixels[2], shapes[0], shapes[1], method, lines)


def _difference(x: np.ndarray, y: np.ndarray, how: str) -> np.ndarray:
    """a - b in float64 (|a - b| for complex), elementwise."""
    with np.errstate(invalid="ignore", over="ignore"):
        if how == COMPLEX:
            return np.abs(x.astype(np.complex128) - y.astype(np.complex128))
        return x.astype(np.float64) - y.astype(np.float64)


def _every_kth(values: np.ndarray, max_pixels: tuple[int, int]) -> np.ndarray:
    """Every k-th row and column so the slice fits `max_pixels`: the steps that
    `downsample_for_heatmap(..., method="stride")` takes, applied before any conversion, so a
    slice of hundreds of megabytes is never copied whole."""
    rows, columns = values.shape
    return values[
        :: max(1, math.ceil(rows / max_pixels[0])), :: max(1, math.ceil(columns / max_pixels[1]))
    ]


def _as_2d(values: np.ndarray) -> np.ndarray:
    if values.ndim == 2:
        return values
    return values.reshape(1, -1) if values.ndim == 1 else values.reshape(1, 1)


def _pixels(
    values: np.ndarray, dtype_name: str, max_pixels: tuple[int, int], method: str
) -> np.ndarray:
    shown = display_array(values, dtype_name)
    return downsample_for_heatmap(shown, max_pixels, method=method)
