"""Working through a whole tensor in chunks on a few threads, with progress and cancel.

The statistics, histograms and quantiles of `stats` and `quantiles` look at every element of
tensors that can hold hundreds of millions of them. Here a tensor is cut into chunks of about a
million elements that a small thread pool works through (numpy releases the GIL inside its loops);
between chunks the caller's `progress(fraction)` is called and its `cancel()` asked, so a GUI can
run the work in a worker thread and stop it. Inside a chunk numpy works on blocks small enough to
stay in the CPU cache, which matters more than the number of passes.

`Measured` says what is measured of a tensor: its values (bfloat16, float16, float8 converted to
float32 block by block, 4-bit integers to 8-bit), the magnitude |z| of complex values, or the byte
length of strings.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Executor, ThreadPoolExecutor
from dataclasses import dataclass
from functools import partial
from typing import TypeVar

import numpy as np

from ckpt_browser.format.errors import Cancelled
from ckpt_browser.format.pages import release_pages
from ckpt_browser.format.sources import cancellable, current_cancel_check

CHUNK_ELEMENTS = 1 << 20  # the unit of work between progress reports and cancel checks
# What one numpy call sees: 256 K values (1 MB of float32) stay in the cache, and each of the
# dozen numpy calls per block costs ~1.5 us of Python: statistics + histogram of 67M floats take
# 0.27 s of CPU with 256 K blocks, 0.31 s with 64 K ones.
BLOCK_ELEMENTS = 1 << 18
WORKERS = max(1, min(4, os.cpu_count() or 1))

T = TypeVar("T")
Progress = Callable[[float], None] | None
Cancel = Callable[[], bool] | None


@dataclass(frozen=True)
class Measured:
    """A tensor as a flat array, and how to turn a block of it into the numbers to measure."""

    flat: np.ndarray
    convert: Callable[[np.ndarray], np.ndarray]
    is_float: bool  # floats may hold NaN/Inf; ints (and bools, lengths) cannot
    work_dtype: np.dtype  # what blocks are sorted in: float32/float64 for floats, float64 for ints
    value_dtype: np.dtype  # dtype of converted blocks (bin edges follow it, as in np.histogram)
    measure: str  # "value", "magnitude" (complex) or "length" (strings)


def measured(array: object) -> Measured:
    """What to measure of `array`; TypeError for values that have no numbers (resources)."""
    flat = np.asarray(array).reshape(-1)
    dtype = flat.dtype
    f32, f64 = np.dtype(np.float32), np.dtype(np.float64)
    if dtype == np.dtype(object) or dtype.kind in "SU":
        lengths = np.fromiter(map(len, flat), dtype=np.int64, count=flat.size)
        return Measured(lengths, _identity, False, f64, lengths.dtype, "length")
    if dtype.kind == "b":
        return Measured(flat, _bool_as_uint8, False, f64, np.dtype(np.uint8), "value")
    if dtype.kind in "iu":
        return Measured(flat, _identity, False, f64, dtype, "value")
    if dtype.kind == "c":
        work = f32 if dtype == np.dtype(np.complex64) else f64
        return Measured(flat, np.abs, True, work, work, "magnitude")
    if dtype in (f32, f64):
        return Measured(flat, _identity, True, dtype, dtype, "value")
    if dtype.kind == "f" or (dtype.kind == "V" and dtype.name.startswith(("float", "bfloat"))):
        # float16, bfloat16, float8, float4 (ml_dtypes): exact in float32, and numpy sorts it fast.
        return Measured(flat, _as_float32, True, f32, f32, "value")
    if dtype.kind == "V" and dtype.name.startswith(("int", "uint")):  # int4, uint4, int2 ...
        ints = np.dtype(np.uint8 if dtype.name.startswith("u") else np.int8)
        return Measured(flat, lambda block: block.astype(ints), False, f64, ints, "value")
    raise TypeError(f"no statistics for values of dtype {dtype}")


def _identity(block: np.ndarray) -> np.ndarray:
    return block


def _bool_as_uint8(block: np.ndarray) -> np.ndarray:
    return block.view(np.uint8)


def _as_float32(block: np.ndarray) -> np.ndarray:
    return block.astype(np.float32)


def run_chunks(
    flat: np.ndarray, task: Callable[[np.ndarray], object], progress: Progress, cancel: Cancel
) -> list:
    """`task(chunk)` for consecutive chunks of `flat`, results in order; progress and cancel
    between chunks. An empty array is one empty chunk."""
    task = _releasing(_quietly(task))
    starts = range(0, max(flat.size, 1), CHUNK_ELEMENTS)
    calls = [partial(task, flat[start : start + CHUNK_ELEMENTS]) for start in starts]
    if len(calls) == 1 or WORKERS == 1:
        return run_in_order(calls, None, progress, cancel)
    with ThreadPoolExecutor(max_workers=WORKERS, thread_name_prefix="tensor-stats") as pool:
        return run_in_order(calls, pool, progress, cancel)


def run_in_order(
    calls: Sequence[Callable[[], T]], pool: Executor | None, progress: Progress, cancel: Cancel
) -> list[T]:
    """The results of `calls` in order, run on `pool`'s threads when there is one.

    `progress(fraction)` and `cancel()` are called between calls; a cancel raises Cancelled and,
    like an error, drops the calls that have not started yet.
    """
    if cancel is not None and cancel():
        raise Cancelled()
    # Reads that wait on a network ask the same question as we do between calls (see
    # `sources.cancellable`), in whichever thread they run.
    check = cancel or current_cancel_check()
    if pool is None or len(calls) == 1:
        results = []
        with cancellable(check):
            for done, call in enumerate(calls, 1):
                results.append(call())
                report(done / len(calls), progress, cancel)
        return results
    futures = [pool.submit(_with_cancel_check, call, check) for call in calls]
    try:
        results = []
        for done, future in enumerate(futures, 1):
            results.append(future.result())
            report(done / len(futures), progress, cancel)
        return results
    finally:
        for future in futures:
            future.cancel()


def _with_cancel_check(call: Callable[[], T], check: Cancel) -> T:
    with cancellable(check):
        return call()


def _releasing(task: Callable[[np.ndarray], T]) -> Callable[[np.ndarray], T]:
    """`task`, then the chunk's mapped pages handed back (see `format.pages`): a pass over a
    256 MB tensor then stays small, and the next pass maps the pages again from the page cache."""

    def run(chunk: np.ndarray) -> T:
        result = task(chunk)
        release_pages(chunk)
        return result

    return run


def _quietly(task: Callable[[np.ndarray], object]) -> Callable[[np.ndarray], object]:
    """`task` without floating-point warnings: NaN, Inf and overflow are counted, not errors.
    (numpy's error state belongs to the thread, so it is set inside each task.)"""

    def run(chunk: np.ndarray) -> object:
        with np.errstate(all="ignore"):
            return task(chunk)

    return run


def report(fraction: float, progress: Progress, cancel: Cancel) -> None:
    """Tell the caller how far along the work is; raise Cancelled if it wants to stop."""
    if progress is not None:
        progress(fraction)
    if cancel is not None and cancel():
        raise Cancelled()


def scaled(progress: Progress, start: float, end: float) -> Progress:
    """Map one pass's own 0..1 progress onto [start, end] of the caller's bar."""
    if progress is None:
        return None
    return lambda fraction: progress(start + (end - start) * fraction)


def blocks(chunk: np.ndarray) -> Iterator[np.ndarray]:
    for start in range(0, chunk.size, BLOCK_ELEMENTS):
        yield chunk[start : start + BLOCK_ELEMENTS]


def sorted_block(values: np.ndarray, buffer: np.ndarray) -> np.ndarray:
    """`values` sorted in (a view of) `buffer`; NaN sort last, as numpy does."""
    out = buffer[: values.size]
    np.copyto(out, values, casting="same_kind")
    out.sort()
    return out


def finite_part(sorted_values: np.ndarray) -> np.ndarray:
    """The finite values of a sorted array: after any -inf, before any +inf and NaN."""
    low = int(np.searchsorted(sorted_values, -np.inf, "right"))
    high = int(np.searchsorted(sorted_values, np.inf, "left"))
    return sorted_values[low:high]


def sample(flat: np.ndarray, size: int, run: int = 1024) -> np.ndarray:
    """About `size` elements of `flat` in evenly spaced runs of consecutive elements.

    Runs rather than every k-th element: a stride can line up with a row length and see a single
    column, and runs touch far fewer pages of a memory-mapped file.
    """
    if flat.size <= size:
        return flat
    runs = max(1, size // run)
    run = size // runs
    starts = np.linspace(0, flat.size - run, runs).astype(np.int64)
    return np.concatenate([flat[start : start + run] for start in starts])


def count_pass(
    measured: Measured,
    below: np.ndarray,
    at_or_below: np.ndarray,
    progress: Progress,
    cancel: Cancel,
) -> tuple[np.ndarray, np.ndarray]:
    """How many values are < each needle of `below`, and <= each needle of `at_or_below`.

    Each cache-sized block is sorted and the needles are looked up in it, which is exact and,
    for a hundred needles or a thousand, cheaper than comparing every value with each.
    NaN sort after +inf, so they count for neither.
    """
    dtype = np.result_type(below.dtype, at_or_below.dtype, measured.work_dtype)
    below, at_or_below = below.astype(dtype), at_or_below.astype(dtype)  # exact: never narrower

    def task(chunk: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        buffer = np.empty(min(chunk.size, BLOCK_ELEMENTS), dtype=dtype)
        less = np.zeros(below.size, dtype=np.int64)
        less_equal = np.zeros(at_or_below.size, dtype=np.int64)
        for block in blocks(chunk):
            ordered = sorted_block(measured.convert(block), buffer)
            less += np.searchsorted(ordered, below, "left")
            less_equal += np.searchsorted(ordered, at_or_below, "right")
        return less, less_equal

    parts = run_chunks(measured.flat, task, progress, cancel)
    return (
        sum((part[0] for part in parts), np.zeros(below.size, dtype=np.int64)),
        sum((part[1] for part in parts), np.zeros(at_or_below.size, dtype=np.int64)),
    )
