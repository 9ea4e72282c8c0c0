"""Tensors as CSV text: one row per row of a 2-D tensor (a 1-D tensor is one column).

Numbers are written with enough digits to read back exactly (`%.9g` for float32, `%.17g` for
float64); bfloat16, float16 and float8 go through float32; strings are decoded as UTF-8 with
backslash escapes for other bytes, so the file is always valid text.
"""

from __future__ import annotations

import csv
from typing import TextIO

import numpy as np


def _cell_formatter(dtype: np.dtype):
    if dtype.kind == "O":
        return lambda v: v.decode("utf-8", "backslashreplace") if isinstance(v, bytes) else str(v)
    if dtype.kind in "iub":
        return lambda v: str(int(v))
    if dtype.kind == "c":
        digits = 17 if dtype.itemsize > 8 else 9
        return lambda v: f"{v.real:.{digits}g}{v.imag:+.{digits}g}j"
    digits = 17 if dtype.itemsize >= 8 else 9
    return lambda v: f"{float(v):.{digits}g}"


def write_csv(array: np.ndarray, file: TextIO, name: str = "") -> None:
    """Write a 0-, 1- or 2-D array as CSV (a scalar is one cell, 1-D one column)."""
    if array.ndim > 2:
        raise ValueError(f"{name or 'tensor'} has rank {array.ndim}; CSV holds 1-D or 2-D")
    dtype = array.dtype
    if dtype.kind not in "biufcO":  # ml_dtypes: bfloat16, float8, int4...
        kind_int = "int" in dtype.name
        array = array.astype(np.int32 if kind_int else np.float32)
        dtype = array.dtype
    table = array.reshape(-1, 1) if array.ndim < 2 else array
    cell = _cell_formatter(dtype)
    writer = csv.writer(file, lineterminator="\n")
    for row in table:
        writer.writerow([cell(v) for v in row])
