"""Tensors to files a user can load anywhere: .npy, .npz and .csv.

One rule set for the command line (`ckpt-browser export`) and the window (File > Export Tensor):
.npy/.npz load with `np.load` without `allow_pickle` (strings byte for byte as `export_strings`
describes, scalars with shape (), bfloat16 and float8 bit-exact as the raw voids numpy stores for
them, or converted to float32 on request); .csv holds 1-D or 2-D tensors as text. Files are
written atomically.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

import numpy as np

from ..format.atomic import atomic_output
from .csv_export import write_csv
from .export_strings import exported_strings, strings_for_export

__all__ = [
    "ExportError",
    "check_destination",
    "export_arrays",
    "exportable_array",
    "exported_strings",
]

SUFFIXES = (".npy", ".npz", ".csv")


class ExportError(ValueError):
    """The tensor cannot be exported as asked (wrong suffix, rank, or contents)."""


def exportable_array(array: np.ndarray, name: str, *, as_float32: bool = False) -> np.ndarray:
    """`array` in a form `np.load` reads back without pickle."""
    if array.dtype == object:
        return strings_for_export(array)
    if as_float32 and array.dtype.kind not in "biuc":
        return np.asarray(array, dtype=np.float32)
    # Not np.ascontiguousarray: it makes a scalar (shape ()) a 1-element vector.
    return np.asarray(array, order="C")


def check_destination(path: str | os.PathLike, count: int) -> str:
    """The suffix of `path` if it can hold `count` tensors; ExportError otherwise."""
    path = os.fspath(path)
    suffix = Path(path).suffix.lower()
    if suffix not in SUFFIXES:
        raise ExportError(f"cannot export to {path!r}: the name must end in .npy, .npz or .csv")
    if suffix != ".npz" and count != 1:
        raise ExportError(f"{suffix} holds one tensor; export several to .npz")
    return suffix


def export_arrays(
    arrays: Mapping[str, np.ndarray], path: str | os.PathLike, *, as_float32: bool = False
) -> str:
    """Write tensors to `path`; the suffix picks the format (.npz for several). Returns the path."""
    path = os.fspath(path)
    suffix = check_destination(path, len(arrays))
    if suffix == ".csv":
        ((name, array),) = arrays.items()
        if array.ndim > 2:
            raise ExportError(f"{name!r} has rank {array.ndim}; .csv holds 1-D or 2-D, use .npy")
        with atomic_output(path, "w") as file:
            write_csv(array, file, name=name)
    elif suffix == ".npy":
        ((name, array),) = arrays.items()
        exportable = exportable_array(array, name, as_float32=as_float32)
        with atomic_output(path, "wb") as file:
            np.save(file, exportable, allow_pickle=False)
    else:
        exportables = {n: exportable_array(a, n, as_float32=as_float32) for n, a in arrays.items()}
        with atomic_output(path, "wb") as file:
            np.savez(file, allow_pickle=False, **exportables)
    return path
