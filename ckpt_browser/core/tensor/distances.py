"""How far apart two tensors of equal shape are, computed chunk by chunk and merged exactly.

Each chunk of A and B is worked through in blocks that stay in the CPU cache; a block gives a
`PartialDistances` (counts, sums and the largest |a-b| with its position) and partials merge by
addition, so the result does not depend on the chunking and chunks can run on several threads. The
comparison of two checkpoints and the change between the saves of a run both sum with these.

- Floats of every width (bfloat16, float8, float16, float32 ...) are compared in float64, where
  the difference of two float32 values and all the sums are as exact as numpy's own float64 pass.
  NaN-aware: distances cover the positions where a - b is a finite number; NaN against NaN and
  +Inf against +Inf count as equal, any other NaN or Inf position as a mismatch.
  `rtol`/`atol` follow `np.isclose(a, b, rtol, atol, equal_nan=True)`: |a-b| <= atol + rtol*|b|.
- Integers and bools are compared exactly (tolerances do not apply): |a-b| is computed in uint64
  with wrap-around arithmetic, which is exact even for int64 extremes whose difference overflows.
- Complex values: |a-b| is the modulus of the difference; the cosine is Re<a,b> / (|a| |b|).
- Strings (and other object values) are compared by equality only: no distances, only mismatches.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

# 256 KB of float64 per buffer: a block stays in the L2 cache through all its passes, and is large
# enough that numpy's per-call overhead stays small (8192 made it a quarter slower).
BLOCK_ELEMENTS = 32768
# Dot products go in pieces under OpenBLAS's threading threshold (10,000 elements): above it every
# np.dot wakes OpenBLAS's own threads, which fight the comparison's threads and run 10-30x slower.
DOT_ELEMENTS = 8192

STRING, INTEGER, FLOAT, COMPLEX = "string", "integer", "float", "complex"


@dataclass
class PartialDistances:
    """Sums and counts over part of a tensor pair; `merge` adds another part."""

    elements: int = 0  # positions looked at
    compared: int = 0  # positions where a - b is a finite number (all of them for integers)
    mismatches: int = 0  # positions not equal (for floats with a tolerance: not close)
    nonfinite_mismatches: int = 0  # of those, a NaN/Inf on one side not matched on the other
    max_abs: float | int = -1  # largest |a-b| so far; -1 before any
    max_at: int = -1  # its flat position
    sum_abs: float = 0.0
    sum_sq_diff: float = 0.0
    sum_sq_a: float = 0.0
    sum_sq_b: float = 0.0
    sum_ab: float = 0.0

    def merge(self, other: PartialDistances) -> None:
        """Add `other` (a later part: on a tie the earlier position of the maximum is kept)."""
        self.elements += other.elements
        self.compared += other.compared
        self.mismatches += other.mismatches
        self.nonfinite_mismatches += other.nonfinite_mismatches
        if other.max_abs > self.max_abs:
            self.max_abs, self.max_at = other.max_abs, other.max_at
        self.sum_abs += other.sum_abs
        self.sum_sq_diff += other.sum_sq_diff
        self.sum_sq_a += other.sum_sq_a
        self.sum_sq_b += other.sum_sq_b
        self.sum_ab += other.sum_ab


@dataclass(frozen=True)
class Distances:
    """The distances of a tensor pair; None where one does not apply (see `finish`)."""

    elements: int
    compared: int
    mismatches: int
    nonfinite_mismatches: int
    max_abs_diff: float | int | None
    max_abs_diff_index: tuple[int, ...] | None  # where in the tensor the largest |a-b| is
    mean_abs_diff: float | None
    rms_diff: float | None
    rel_l2: float | None  # ||a-b|| / ||a||
    cosine: float | None
    mismatch_fraction: float | None


def category(dtype: np.dtype) -> str | None:
    """STRING, INTEGER, FLOAT or COMPLEX for a numpy storage dtype (None: not comparable)."""
    dtype = np.dtype(dtype)
    if dtype.kind in "OSU":
        return STRING
    if dtype.kind in "biu":
        return INTEGER
    if dtype.kind == "f":
        return FLOAT
    if dtype.kind == "c":
        return COMPLEX
    if dtype.kind == "V":  # ml_dtypes: bfloat16, float8_*, float4_*, int4, uint2 ...
        if dtype.name.startswith(("float", "bfloat")):
            return FLOAT
        if dtype.name.startswith(("int", "uint")):
            return INTEGER
    return None


def comparison_category(dtype_a: np.dtype, dtype_b: np.dtype) -> str | None:
    """How values of these two dtypes are compared, or None if they cannot be."""
    first, second = category(dtype_a), category(dtype_b)
    if first is None or second is None:
        return None
    if STRING in (first, second):
        return STRING if first == second else None
    if COMPLEX in (first, second):
        return COMPLEX
    if first == second == INTEGER:
        unsigned_64 = [np.dtype(d) == np.dtype(np.uint64) for d in (dtype_a, dtype_b)]
        if any(unsigned_64) and not all(unsigned_64):
            return FLOAT  # uint64 against a signed type has no common exact integer type
        return INTEGER
    return FLOAT


Kernel = Callable[[np.ndarray, np.ndarray, int], PartialDistances]


def kernel_for(dtype_a: np.dtype, dtype_b: np.dtype, rtol: float, atol: float) -> Kernel | None:
    """`kernel(a_chunk, b_chunk, offset)`: the partial distances of two 1-D chunks whose first
    element sits at flat position `offset`. None when the dtypes cannot be compared."""
    how = comparison_category(dtype_a, dtype_b)
    if how == STRING:
        return _string_chunk
    if how == INTEGER:
        unsigned = np.dtype(dtype_a) == np.dtype(dtype_b) == np.dtype(np.uint64)
        return lambda a, b, offset: _integer_chunk(a, b, offset, unsigned)
    if how in (FLOAT, COMPLEX):
        work = np.dtype(np.complex128 if how == COMPLEX else np.float64)
        return lambda a, b, offset: _inexact_chunk(a, b, offset, work, rtol, atol)
    return None


def sums_kernel(dtype_a: np.dtype, dtype_b: np.dtype) -> Kernel | None:
    """Like `kernel_for` with no tolerance, for callers that need only the sums behind the
    relative L2 distance and the cosine (the timeline, every save of a run against two others):
    for real floats it skips the maximum, the sum of |a-b| and the mismatch count, about a third
    of the work. The sums equal `kernel_for`'s (same blocks, same dots, same positions left out);
    the fields it skips stay at their start values."""
    if comparison_category(dtype_a, dtype_b) != FLOAT:
        return kernel_for(dtype_a, dtype_b, 0.0, 0.0)
    return _float_sums_chunk


def _float_sums_chunk(a: np.ndarray, b: np.ndarray, offset: int) -> PartialDistances:
    part = PartialDistances(elements=a.size)
    work = np.dtype(np.float64)
    values_a, values_b = _buffers("values", work, 2)
    diff = _buffers("diff", work, 1)[0]
    flags = _flags()
    with np.errstate(invalid="ignore", over="ignore"):  # Inf - Inf is NaN: left out below
        for start in range(0, a.size, BLOCK_ELEMENTS):
            n = min(BLOCK_ELEMENTS, a.size - start)
            x = _as_work(a[start : start + n], values_a[:n], work)
            y = _as_work(b[start : start + n], values_b[:n], work)
            d = np.subtract(x, y, out=diff[:n])
            squares = _dot(d, d)
            if not math.isfinite(squares):  # a NaN or Inf, or an overflow: finite positions only
                kept = np.flatnonzero(np.isfinite(d, out=flags[:n]))
                x, y, d = x[kept], y[kept], d[kept]
                squares = _dot(d, d)
            part.compared += d.size
            part.sum_sq_diff += squares
            part.sum_sq_a += _dot(x, x)
            part.sum_sq_b += _dot(y, y)
            part.sum_ab += _dot(x, y)
    return part


def finish(partial: PartialDistances, shape: tuple[int, ...], how: str) -> Distances:
    """Turn merged sums into distances.

    No element compared: every distance is None. rel_l2 is None when ||a|| is 0 and a != b
    (0 when both are all zeros); the cosine is None when either norm is 0. Strings get only
    mismatch counts. A distance that overflowed to Inf or NaN is None as well.
    """
    fraction = partial.mismatches / partial.elements if partial.elements else None
    if how == STRING or partial.compared == 0:
        return Distances(
            partial.elements,
            partial.compared,
            partial.mismatches,
            partial.nonfinite_mismatches,
            None,
            None,
            None,
            None,
            None,
            None,
            fraction,
        )
    count = partial.compared
    norm_a, norm_b = math.sqrt(partial.sum_sq_a), math.sqrt(partial.sum_sq_b)
    norm_diff = math.sqrt(partial.sum_sq_diff)
    rel_l2 = norm_diff / norm_a if norm_a > 0 else (0.0 if norm_diff == 0 else None)
    cosine = None
    if norm_a > 0 and norm_b > 0:
        cosine = min(1.0, max(-1.0, partial.sum_ab / norm_a / norm_b))
    max_abs: float | int = partial.max_abs
    max_abs = int(max_abs) if how == INTEGER else float(max_abs)
    index = _unravel(partial.max_at, shape)
    return Distances(
        partial.elements,
        count,
        partial.mismatches,
        partial.nonfinite_mismatches,
        _finite(max_abs),
        index,
        _finite(partial.sum_abs / count),
        _finite(math.sqrt(partial.sum_sq_diff / count)),
        _finite(rel_l2),
        _finite(cosine),
        fraction,
    )


def _unravel(flat_index: int, shape: tuple[int, ...]) -> tuple[int, ...]:
    """`np.unravel_index` for one index, in plain Python (numpy's costs more for one value)."""
    index = []
    for length in reversed(shape):
        flat_index, position = divmod(flat_index, length)
        index.append(position)
    return tuple(reversed(index))


def _finite(value: float | int | None) -> float | int | None:
    if value is None or isinstance(value, int) or math.isfinite(value):
        return value
    return None


# -- kernels ----------------------------------------------------------------------------------

_scratch = threading.local()  # per-thread block buffers, reused across chunks and tensors


def _buffers(role: str, dtype: np.dtype, count: int) -> list[np.ndarray]:
    """`count` scratch buffers of BLOCK_ELEMENTS values of `dtype` owned by this thread."""
    key = (role, np.dtype(dtype).str, count)
    cache = getattr(_scratch, "buffers", None)
    if cache is None:
        cache = _scratch.buffers = {}
    buffers = cache.get(key)
    if buffers is None:
        buffers = cache[key] = [np.empty(BLOCK_ELEMENTS, dtype) for _ in range(count)]
    return buffers


def _flags() -> np.ndarray:
    return _buffers("flags", np.dtype(bool), 1)[0]


def _string_chunk(a: np.ndarray, b: np.ndarray, offset: int) -> PartialDistances:
    unequal = int(np.count_nonzero(np.asarray(a != b, dtype=bool)))
    return PartialDistances(elements=a.size, compared=0, mismatches=unequal)


def _integer_chunk(a: np.ndarray, b: np.ndarray, offset: int, unsigned: bool) -> PartialDistances:
    """Exact |a-b| in uint64: for a >= b, (a - b) mod 2**64 is the true difference."""
    part = PartialDistances()
    ints_a, ints_b = _buffers("values", np.dtype(np.uint64 if unsigned else np.int64), 2)
    diff = _buffers("diff", np.dtype(np.uint64), 1)[0]
    floats_a, floats_b, floats_d = _buffers("floats", np.dtype(np.float64), 3)
    flags = _flags()
    for start in range(0, a.size, BLOCK_ELEMENTS):
        n = min(BLOCK_ELEMENTS, a.size - start)
        x, y, d, lt = ints_a[:n], ints_b[:n], diff[:n], flags[:n]
        np.copyto(x, a[start : start + n], casting="unsafe")
        np.copyto(y, b[start : start + n], casting="unsafe")
        np.less(x, y, out=lt)
        np.subtract(x.view(np.uint64), y.view(np.uint64), out=d)
        np.negative(d, out=d, where=lt)
        at = int(d.argmax())
        if int(d[at]) > part.max_abs:
            part.max_abs, part.max_at = int(d[at]), offset + start + at
        unequal = int(np.count_nonzero(np.not_equal(d, 0, out=lt)))
        fa, fb = floats_a[:n], floats_b[:n]
        np.copyto(fa, x, casting="unsafe")
        np.copyto(fb, y, casting="unsafe")
        if unequal:
            fd = floats_d[:n]
            np.copyto(fd, d, casting="unsafe")
            part.sum_abs += float(fd.sum())
            part.sum_sq_diff += _dot(fd, fd)
        part.mismatches += unequal
        part.sum_sq_a += _dot(fa, fa)
        part.sum_sq_b += _dot(fb, fb)
        part.sum_ab += _dot(fa, fb)
    part.elements = part.compared = a.size
    return part


def _inexact_chunk(
    a: np.ndarray, b: np.ndarray, offset: int, work: np.dtype, rtol: float, atol: float
) -> PartialDistances:
    """Floats and complex numbers in float64/complex128 blocks (see the module docstring)."""
    with np.errstate(invalid="ignore", over="ignore"):  # Inf - Inf is NaN: handled below
        return _inexact_blocks(a, b, offset, work, rtol, atol)


def _inexact_blocks(
    a: np.ndarray, b: np.ndarray, offset: int, work: np.dtype, rtol: float, atol: float
) -> PartialDistances:
    part = PartialDistances(elements=a.size)
    values_a, values_b = _buffers("values", work, 2)
    diff, tolerance = _buffers("diff", np.dtype(np.float64), 2)
    flags = _flags()
    is_complex = work.kind == "c"
    for start in range(0, a.size, BLOCK_ELEMENTS):
        n = min(BLOCK_ELEMENTS, a.size - start)
        x = _as_work(a[start : start + n], values_a[:n], work)
        y = _as_work(b[start : start + n], values_b[:n], work)
        d = diff[:n]
        if is_complex:
            np.abs(x - y, out=d)
        else:
            np.subtract(x, y, out=d)
            np.abs(d, out=d)
        total = float(d.sum())
        if math.isfinite(total):
            _add_finite(part, x, y, d, total, None, offset + start, tolerance, flags, rtol, atol)
            continue
        # Some NaN or Inf: judge those positions alone, then measure the finite ones.
        finite = np.isfinite(d, out=flags[:n])
        odd = np.flatnonzero(~finite)
        odd_a, odd_b = x[odd], y[odd]
        matched = (odd_a == odd_b) | (np.isnan(odd_a) & np.isnan(odd_b))
        unmatched = int(odd.size - np.count_nonzero(matched))
        part.mismatches += unmatched
        part.nonfinite_mismatches += unmatched
        kept = np.flatnonzero(finite)
        if kept.size:
            dk = d[kept]
            block = (x[kept], y[kept], dk, float(dk.sum()), kept, offset + start)
            _add_finite(part, *block, tolerance, flags, rtol, atol)
    return part


def _as_work(chunk: np.ndarray, buffer: np.ndarray, work: np.dtype) -> np.ndarray:
    if chunk.dtype == work:
        return chunk  # already float64 (or complex128): read it in place
    np.copyto(buffer, chunk, casting="unsafe")
    return buffer


def _dot(u: np.ndarray, v: np.ndarray) -> float:
    """Re(u . conj(v)) in pieces of DOT_ELEMENTS (see there why)."""
    if u.size <= DOT_ELEMENTS:
        return float(np.vdot(u, v).real)
    return sum(
        float(np.vdot(u[i : i + DOT_ELEMENTS], v[i : i + DOT_ELEMENTS]).real)
        for i in range(0, u.size, DOT_ELEMENTS)
    )


def _add_finite(
    part: PartialDistances,
    x: np.ndarray,
    y: np.ndarray,
    d: np.ndarray,
    total: float,
    positions: np.ndarray | None,
    offset: int,
    tolerance_buffer: np.ndarray,
    flags: np.ndarray,
    rtol: float,
    atol: float,
) -> None:
    """Add a block whose |a-b| values `d` are all finite; `positions` maps back into the block."""
    n = d.size
    at = int(d.argmax())
    largest = float(d[at])
    if largest > part.max_abs:
        part.max_abs = largest
        part.max_at = offset + (int(positions[at]) if positions is not None else at)
    part.compared += n
    part.sum_abs += total
    part.sum_sq_diff += _dot(d, d)
    part.sum_sq_a += _dot(x, x)
    part.sum_sq_b += _dot(y, y)
    part.sum_ab += _dot(x, y)
    if largest <= atol:
        return  # every position is within atol (or equal): nothing fails
    if rtol == 0.0:
        part.mismatches += int(np.count_nonzero(np.greater(d, atol, out=flags[:n])))
        return
    allowed = tolerance_buffer[:n]
    np.abs(y, out=allowed)
    allowed *= rtol
    allowed += atol
    part.mismatches += int(np.count_nonzero(np.greater(d, allowed, out=flags[:n])))
