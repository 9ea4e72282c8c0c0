"""Turning sizes, counts, shapes and values into the short text the window and the CLI show.

Kept in one place so the tree, the status bar, the statistics and `ckpt-browser ls` agree on how a
number looks.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from numbers import Integral

import numpy as np

NOTATIONS = ("auto", "scientific", "fixed")

_BYTE_UNITS = ("KiB", "MiB", "GiB", "TiB", "PiB", "EiB")
_SHORT_COUNT_UNITS = ((10**3, "K"), (10**6, "M"), (10**9, "B"), (10**12, "T"))


def format_bytes(n: int) -> str:
    """`512 B`, `1.5 KiB`, `256.0 MiB`: binary units, as file managers and `ls -lh` use."""
    n = int(n)
    if abs(n) < 1024:
        return f"{n} B"
    value = float(n)
    for unit in _BYTE_UNITS:
        value /= 1024.0
        if round(abs(value), 1) < 1024.0 or unit == _BYTE_UNITS[-1]:  # not "1024.0 KiB"
            return f"{value:.1f} {unit}"
    raise AssertionError("unreachable")


def format_count(n: int, *, short: bool = False) -> str:
    """`1,234,567`, or with `short=True` `1.2M` (K, M, B, T) for narrow places."""
    n = int(n)
    if not short:
        return f"{n:,}"
    if abs(n) < 1000:
        return str(n)
    for scale, suffix in _SHORT_COUNT_UNITS:
        value = n / scale
        # 12.3M but 123M: three significant digits at most; 999,950 is 1M, not 1000K.
        text = f"{value:.1f}" if abs(value) < 99.95 else f"{value:.0f}"
        if abs(float(text)) < 1000 or suffix == _SHORT_COUNT_UNITS[-1][1]:
            return text.removesuffix(".0") + suffix
    raise AssertionError("unreachable")


def plural(count: int, singular: str, plural_form: str | None = None) -> str:
    """`1 variable`, `2 variables`, `1,234 matches`: a count and its noun, agreeing.

    The plural is `singular` + "s" (+ "es" after s, x, z, ch, sh) unless `plural_form` is given
    ("source unused" / "sources unused", "missing" / "missing").
    """
    count = int(count)
    if count == 1:
        noun = singular
    elif plural_form is not None:
        noun = plural_form
    elif singular.endswith(("s", "x", "z", "ch", "sh")):
        noun = singular + "es"
    else:
        noun = singular + "s"
    return f"{count:,} {noun}"


def format_shape(shape: Sequence[int]) -> str:
    """`[3, 3, 16, 32]`; a 0-D tensor is a `scalar`."""
    if len(shape) == 0:
        return "scalar"
    return "[" + ", ".join(str(int(d)) for d in shape) + "]"


def format_number(value: object, notation: str = "auto", digits: int = 6) -> str:
    """One value as text.

    `auto` is printf's `%g` with `digits` significant digits, `scientific` shows `digits`
    significant digits with an exponent, `fixed` shows `digits` places after the point. Integers
    (and bools) stay exact in `auto` and `fixed`; complex numbers show both parts; NaN and
    infinities read `nan`, `inf`, `-inf`.
    """
    if notation not in NOTATIONS:
        raise ValueError(f"unknown notation {notation!r}; use one of {', '.join(NOTATIONS)}")
    if value is None:
        return ""
    if isinstance(value, bytes):
        return value.decode("utf-8", "backslashreplace")
    if isinstance(value, str):
        return value
    if isinstance(value, Integral) or _is_numpy_integer(value):
        if notation == "scientific":
            return _format_float(float(value), notation, digits)
        return str(int(value))
    if isinstance(value, complex) or _is_numpy_complex(value):
        z = complex(value)
        real = _format_float(z.real, notation, digits)
        imag = _format_float(abs(z.imag), notation, digits)
        sign = "-" if math.copysign(1.0, z.imag) < 0 else "+"
        return f"{real}{sign}{imag}j"
    return _format_float(float(value), notation, digits)


def shortest_text(value: object, stored_dtype: np.dtype | None = None) -> str:
    """The shortest text that reads back as the same value of the dtype the checkpoint stores.

    float32 0.1 reads `0.1`, not float64's `0.10000000149011612`. `stored_dtype` is the
    checkpoint's dtype when `value` was widened for display (bfloat16, float16 and float8 are
    shown as float32): the value is narrowed back, exactly, before it is written out.
    """
    if isinstance(value, (bytes, str)) or value is None:
        return format_number(value)
    scalar = value if isinstance(value, np.generic) else np.asarray(value)[()]
    if not isinstance(scalar, np.generic):
        return str(scalar)
    if stored_dtype is not None and _narrower_float(np.dtype(stored_dtype), scalar.dtype):
        scalar = np.asarray(scalar).astype(stored_dtype)[()]
    if scalar.dtype.kind in "biu":
        return str(int(scalar))
    if scalar.dtype in _NUMPY_FLOATS or scalar.dtype.kind == "c":
        return str(scalar)  # numpy's shortest round-trip repr (Dragon4, unique) for its own dtype
    if _is_float(scalar.dtype):
        return _shortest_by_digits(scalar)
    return str(scalar)


_NUMPY_FLOATS = tuple(np.dtype(t) for t in (np.float16, np.float32, np.float64, np.longdouble))


def _is_float(dtype: np.dtype) -> bool:
    # ml_dtypes floats are numpy dtypes of kind "V" (float8_e5m2 alone says "f").
    return dtype.kind == "f" or (dtype.kind == "V" and dtype.name.startswith(("float", "bfloat")))


def _narrower_float(stored: np.dtype, shown: np.dtype) -> bool:
    return _is_float(stored) and shown in _NUMPY_FLOATS and stored.itemsize < shown.itemsize


def _shortest_by_digits(scalar: np.generic) -> str:
    """Shortest repr for float types numpy cannot format itself (bfloat16, float8, float4).

    numpy's format functions print these as the exact binary value (`0.10009765625` for
    bfloat16 0.1), so the fewest %g digits that cast back to the same value are found by trial:
    at most four for bfloat16.
    """
    x = float(scalar)
    if not math.isfinite(x):
        return str(np.float32(x))
    target = np.asarray(scalar)
    for digits in range(1, 18):
        candidate = float(f"{x:.{digits}g}")
        if np.asarray(candidate).astype(target.dtype) == target:
            return str(np.float32(candidate))
    return repr(x)


def _format_float(x: float, notation: str, digits: int) -> str:
    if math.isnan(x):
        return "nan"
    if math.isinf(x):
        return "inf" if x > 0 else "-inf"
    digits = max(1, int(digits))
    if notation == "scientific":
        return f"{x:.{digits - 1}e}"
    if notation == "fixed":
        return f"{x:.{digits}f}"
    return f"{x:.{digits}g}"


def _is_numpy_integer(value: object) -> bool:
    # numpy scalars (np.int64, np.bool_) are not `numbers.Integral` in every case (np.bool_).
    kind = getattr(getattr(value, "dtype", None), "kind", None)
    return kind in ("i", "u", "b") and getattr(value, "ndim", 1) == 0


def _is_numpy_complex(value: object) -> bool:
    kind = getattr(getattr(value, "dtype", None), "kind", None)
    return kind == "c" and getattr(value, "ndim", 1) == 0
