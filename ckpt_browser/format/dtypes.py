"""TensorFlow's DataType enum and its numpy equivalents.

ml_dtypes supplies bfloat16, the float8 kinds and int4/uint4 as real numpy dtypes, so every
fixed-size TensorFlow type reads into an ordinary numpy array. Quantized types are read as their
storage integers but keep their TensorFlow name (`qint8`), as TensorFlow's reader reports them.
"""

from __future__ import annotations

from dataclasses import dataclass

import ml_dtypes
import numpy as np


@dataclass(frozen=True)
class DType:
    """One TensorFlow dtype: its enum number, display name and numpy storage type."""

    enum: int
    name: str  # numpy's name where numpy has the type ("float32", "bfloat16"), else TF's ("qint8")
    numpy: np.dtype | None  # None for types that cannot be held in a numpy array (resource)

    @property
    def itemsize(self) -> int | None:
        """Bytes per element on disk, or None for variable-length types (string, variant)."""
        if self.numpy is None or self.numpy == np.dtype(object):
            return None
        return self.numpy.itemsize

    @property
    def is_string(self) -> bool:
        return self.enum == STRING

    @property
    def is_fixed_size(self) -> bool:
        return self.itemsize is not None


STRING = 7
VARIANT = 21
RESOURCE = 20

_TABLE: list[tuple[int, str, object]] = [
    (1, "float32", np.float32),
    (2, "float64", np.float64),
    (3, "int32", np.int32),
    (4, "uint8", np.uint8),
    (5, "int16", np.int16),
    (6, "int8", np.int8),
    (7, "string", object),
    (8, "complex64", np.complex64),
    (9, "int64", np.int64),
    (10, "bool", np.bool_),
    (11, "qint8", np.int8),
    (12, "quint8", np.uint8),
    (13, "qint32", np.int32),
    (14, "bfloat16", ml_dtypes.bfloat16),
    (15, "qint16", np.int16),
    (16, "quint16", np.uint16),
    (17, "uint16", np.uint16),
    (18, "complex128", np.complex128),
    (19, "float16", np.float16),
    (20, "resource", None),
    (21, "variant", object),
    (22, "uint32", np.uint32),
    (23, "uint64", np.uint64),
    (24, "float8_e5m2", ml_dtypes.float8_e5m2),
    (25, "float8_e4m3fn", ml_dtypes.float8_e4m3fn),
    (26, "float8_e4m3fnuz", ml_dtypes.float8_e4m3fnuz),
    (27, "float8_e4m3b11fnuz", ml_dtypes.float8_e4m3b11fnuz),
    (28, "float8_e5m2fnuz", ml_dtypes.float8_e5m2fnuz),
    (29, "int4", ml_dtypes.int4),
    (30, "uint4", ml_dtypes.uint4),
    (31, "int2", ml_dtypes.int2),
    (32, "uint2", ml_dtypes.uint2),
    (33, "float4_e2m1fn", ml_dtypes.float4_e2m1fn),
]

BY_ENUM: dict[int, DType] = {
    enum: DType(enum, name, None if np_type is None else np.dtype(np_type))
    for enum, name, np_type in _TABLE
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
    for candidate in BY_ENUM.values():
        if candidate.numpy == dtype and not candidate.name.startswith("q"):
            return candidate
    raise ValueError(f"numpy dtype {dtype} has no TensorFlow equivalent")


def from_name(name: str) -> DType:
    """Look up by display name (`float32`, `bfloat16`, `string`, `qint8`)."""
    try:
        return BY_NAME[name]
    except KeyError:
        raise ValueError(f"unknown dtype name {name!r}") from None
