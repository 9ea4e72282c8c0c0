"""TensorFlow's DataType enum and its numpy equivalents.

ml_dtypes supplies bfloat16, the float8 kinds and int4/uint4 as real numpy dtypes, so every
fixed-size TensorFlow type reads into an ordinary numpy array. It is imported only when a tensor of
such a type is read: importing ml_dtypes 0.7 takes 0.5 s, more than listing 20,000 variables.
Quantized types are read as their storage integers but keep their TensorFlow name (`qint8`), as
TensorFlow's reader reports them.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

import numpy as np

_ML_DTYPES = "ml_dtypes."


@dataclass(frozen=True)
class DType:
    """One TensorFlow dtype: its enum number, display name and numpy storage type."""

    enum: int
    name: str  # numpy's name where numpy has the type ("float32", "bfloat16"), else TF's ("qint8")
    storage: str | None  # the numpy type's name ("int8", "ml_dtypes.bfloat16"); None: no array
    itemsize: int | None  # bytes per element on disk; None for variable-length (string, variant)

    @property
    def numpy(self) -> np.dtype | None:
        """The numpy dtype (importing ml_dtypes for its types); None for `resource`."""
        return _numpy_dtype(self.storage)

    @property
    def is_string(self) -> bool:
        return self.enum == STRING

    @property
    def is_fixed_size(self) -> bool:
        return self.itemsize is not None


@cache
def _numpy_dtype(storage: str | None) -> np.dtype | None:
    if storage is None:
        return None
    if storage.startswith(_ML_DTYPES):
        import ml_dtypes

        return np.dtype(getattr(ml_dtypes, storage[len(_ML_DTYPES) :]))
    return np.dtype(storage)


STRING = 7
VARIANT = 21
RESOURCE = 20

# (enum, name, numpy storage type, bytes per element if ml_dtypes supplies the type)
_TABLE: list[tuple[int, str, str | None, int | None]] = [
    (1, "float32", "float32", None),
    (2, "float64", "float64", None),
    (3, "int32", "int32", None),
    (4, "uint8", "uint8", None),
    (5, "int16", "int16", None),
    (6, "int8", "int8", None),
    (7, "string", "object", None),
    (8, "complex64", "complex64", None),
    (9, "int64", "int64", None),
    (10, "bool", "bool", None),
    (11, "qint8", "int8", None),
    (12, "quint8", "uint8", None),
    (13, "qint32", "int32", None),
    (14, "bfloat16", "ml_dtypes.bfloat16", 2),
    (15, "qint16", "int16", None),
    (16, "quint16", "uint16", None),
    (17, "uint16", "uint16", None),
    (18, "complex128", "complex128", None),
    (19, "float16", "float16", None),
    (20, "resource", None, None),
    (21, "variant", "object", None),
    (22, "uint32", "uint32", None),
    (23, "uint64", "uint64", None),
    (24, "float8_e5m2", "ml_dtypes.float8_e5m2", 1),
    (25, "float8_e4m3fn", "ml_dtypes.float8_e4m3fn", 1),
    (26, "float8_e4m3fnuz", "ml_dtypes.float8_e4m3fnuz", 1),
    (27, "float8_e4m3b11fnuz", "ml_dtypes.float8_e4m3b11fnuz", 1),
    (28, "float8_e5m2fnuz", "ml_dtypes.float8_e5m2fnuz", 1),
    (29, "int4", "ml_dtypes.int4", 1),
    (30, "uint4", "ml_dtypes.uint4", 1),
    (31, "int2", "ml_dtypes.int2", 1),
    (32, "uint2", "ml_dtypes.uint2", 1),
    (33, "float4_e2m1fn", "ml_dtypes.float4_e2m1fn", 1),
]


def _itemsize(storage: str | None, ml_itemsize: int | None) -> int | None:
    if storage is None or storage == "object":
        return None
    return ml_itemsize if ml_itemsize is not None else np.dtype(storage).itemsize


BY_ENUM: dict[int, DType] = {
    enum: DType(enum, name, storage, _itemsize(storage, ml_itemsize))
    for enum, name, storage, ml_itemsize in _TABLE
}
BY_NAME: dict[str, DType] = {d.name: d for d in BY_ENUM.values()}


def from_enum(enum: int) -> DType | None:
    """The dtype for a DataType number, or None if unknown (a `_REF` type or a future one)."""
    return BY_ENUM.get(enum)


def from_numpy(dtype: np.dtype) -> DType:
    """The TensorFlow dtype for a numpy dtype (str, bytes and object arrays are DT_STRING)."""
    dtype = np.dtype(dtype)
    if dtype == np.dtype(object) or dtype.kind in "SUO":
        return BY_ENUM[STRING]
    # By name first: only a dtype named like an ml_dtypes type makes this import ml_dtypes.
    named = BY_NAME.get(dtype.name)
    if named is not None and not named.name.startswith("q") and named.numpy == dtype:
        return named
    for candidate in BY_ENUM.values():
        if (
            not (candidate.storage or _ML_DTYPES).startswith(_ML_DTYPES)
            and not candidate.name.startswith("q")
            and candidate.numpy == dtype
        ):
            return candidate
    raise ValueError(f"numpy dtype {dtype} has no TensorFlow equivalent")


def from_name(name: str) -> DType:
    """Look up by display name (`float32`, `bfloat16`, `string`, `qint8`)."""
    try:
        return BY_NAME[name]
    except KeyError:
        raise ValueError(f"unknown dtype name {name!r}") from None
