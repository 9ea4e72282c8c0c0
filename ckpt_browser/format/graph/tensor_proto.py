"""TensorProto -> numpy: the constants of frozen graphs and the tensors inside node attributes.

A TensorProto stores its values either as raw little-endian bytes (`tensor_content`) or in the
typed `*_val` field of its dtype. In a typed field, fewer values than the shape needs means "the
last value repeats" (so a splat constant of a million zeros is one number) and no value at all
means zeros (see docs/checkpoint-format.md, section 8). This module follows TensorFlow's C++ reader
(`Tensor::FromProto`): extra values beyond the shape are ignored, and `tensor_content` must hold
exactly the bytes the shape needs.
"""

from __future__ import annotations

import math

import numpy as np

from ckpt_browser.format import dtypes
from ckpt_browser.format.errors import CheckpointError

# A tiny proto can ask for a huge splat (one value, shape [10**12]). A splat is decoded as a
# read-only broadcast view of its one value, which costs no memory whatever its shape; a tensor
# whose stored values must be expanded into a new array (some values, then the last repeated) is
# refused past MAX_EXPANDED_BYTES. No tensor may stand for more than MAX_DECODED_BYTES, so that
# statistics over a splat finish in seconds.
MAX_DECODED_BYTES = 1 << 31
MAX_EXPANDED_BYTES = 1 << 28

# dtype name -> the typed field holding its values (complex fields hold (real, imaginary) pairs).
_VALUE_FIELD = {
    "float32": "float_val",
    "float64": "double_val",
    "int64": "int64_val",
    "bool": "bool_val",
    "string": "string_val",
    "complex64": "scomplex_val",
    "complex128": "dcomplex_val",
    "float16": "half_val",
    "bfloat16": "half_val",
    "uint32": "uint32_val",
    "uint64": "uint64_val",
    **dict.fromkeys(
        ["int32", "int16", "int8", "uint8", "uint16", "qint8", "quint8", "qint16", "quint16"],
        "int_val",
    ),
    **dict.fromkeys(["qint32", "int4", "uint4", "int2", "uint2"], "int_val"),
    **dict.fromkeys(
        [
            "float8_e5m2",
            "float8_e4m3fn",
            "float8_e4m3fnuz",
            "float8_e4m3b11fnuz",
            "float8_e5m2fnuz",
            "float4_e2m1fn",
        ],
        "float8_val",
    ),
}


def shape_of(shape_proto) -> tuple[int, ...] | None:
    """A TensorShapeProto as a tuple (-1 for an unknown dimension), or None for unknown rank."""
    if shape_proto.unknown_rank:
        return None
    return tuple(dim.size for dim in shape_proto.dim)


def dtype_name(enum: int) -> str:
    """Readable name of a DataType number: `float32`, `float32_ref` (TF1 ref types), `invalid`."""
    if enum == 0:
        return "invalid"
    known = dtypes.from_enum(enum)
    if known is not None:
        return known.name
    base = dtypes.from_enum(enum - 100) if enum > 100 else None
    return f"{base.name}_ref" if base is not None else f"DataType({enum})"


def declared_type(proto) -> tuple[dtypes.DType, tuple[int, ...]]:
    """The dtype and shape of a TensorProto that `to_numpy` can decode, without decoding it."""
    dtype = dtypes.from_enum(proto.dtype)
    if dtype is None or dtype.numpy is None or dtype.name == "variant":
        raise CheckpointError(f"cannot decode a tensor of dtype {dtype_name(proto.dtype)}")
    shape = shape_of(proto.tensor_shape)
    if shape is None or any(size < 0 for size in shape):
        raise CheckpointError(f"tensor has no fully defined shape ({shape})")
    decoded_bytes = math.prod(shape) * (dtype.itemsize or 8)
    if decoded_bytes > MAX_DECODED_BYTES:
        raise CheckpointError(
            f"tensor of shape {list(shape)} and dtype {dtype.name} is too large to decode "
            f"({decoded_bytes:,} bytes; at most {MAX_DECODED_BYTES:,})"
        )
    return dtype, shape


def to_numpy(proto) -> np.ndarray:
    """Decode a TensorProto into numpy (strings as an object array of bytes).

    A new array, except for a splat (one stored value, or none, for many elements): that is a
    read-only view of the one value broadcast to the shape, costing no memory.
    """
    dtype, shape = declared_type(proto)
    count = math.prod(shape)
    element_bytes = dtype.itemsize or 8
    if proto.tensor_content and dtype.is_fixed_size:
        content = proto.tensor_content
        if len(content) != count * dtype.itemsize:
            raise CheckpointError(
                f"tensor_content holds {len(content)} bytes, but a {dtype.name} tensor of shape "
                f"{list(shape)} needs {count * dtype.itemsize}"
            )
        # TensorFlow writes host byte order, which is little-endian on every platform it ships for.
        return np.frombuffer(content, dtype=dtype.numpy).reshape(shape).copy()

    values = _typed_values(proto, dtype)
    if len(values) >= count:
        return values[:count].copy().reshape(shape)
    if len(values) <= 1:
        return _splat(values, count, dtype.numpy).reshape(shape)
    if count * element_bytes > MAX_EXPANDED_BYTES:
        raise CheckpointError(
            f"tensor of shape {list(shape)} and dtype {dtype.name} stores {len(values):,} values "
            f"to expand to {count * element_bytes:,} bytes, more than the "
            f"{MAX_EXPANDED_BYTES:,} allowed"
        )
    return _fill(values, count, dtype.numpy).reshape(shape)


def _typed_values(proto, dtype: dtypes.DType) -> np.ndarray:
    """The values stored in the dtype's typed field, as a 1-D array of the right numpy type."""
    field = _VALUE_FIELD.get(dtype.name)
    if field is None:
        raise CheckpointError(f"cannot decode a tensor of dtype {dtype.name}")
    raw = getattr(proto, field)
    if field == "string_val":
        values = np.empty(len(raw), dtype=object)
        values[:] = list(raw)
        return values
    if field == "half_val":
        # 16-bit patterns stored in int32s; reinterpret them as float16 or bfloat16.
        return np.array(raw, dtype=np.uint16).view(dtype.numpy)
    if field == "float8_val":
        return np.frombuffer(raw, dtype=np.uint8).view(dtype.numpy)
    if field in ("scomplex_val", "dcomplex_val"):
        pairs = np.array(raw, dtype=np.float32 if field == "scomplex_val" else np.float64)
        return pairs[: len(pairs) // 2 * 2].view(dtype.numpy)
    if field == "int_val":
        # int32 on the wire for every narrow integer type; cast wraps as TensorFlow's C++ does.
        return np.array(raw, dtype=np.int32).astype(dtype.numpy)
    return np.array(raw, dtype=dtype.numpy)


def _splat(values: np.ndarray, count: int, numpy_dtype: np.dtype) -> np.ndarray:
    """`count` copies of the one value given (zero, or b"", when there is none), as a read-only
    1-D view with stride 0: reshaping and slicing it stay views, so nothing is ever expanded."""
    one = np.empty(1, dtype=numpy_dtype)
    if len(values):
        one[0] = values[0]
    else:
        one[0] = b"" if numpy_dtype == np.dtype(object) else 0
    return np.broadcast_to(one, (count,))  # read-only, as a view of one element must be


def _fill(values: np.ndarray, count: int, numpy_dtype: np.dtype) -> np.ndarray:
    """`count` elements: the values given (at least two), then the last one repeated."""
    result = np.empty(count, dtype=numpy_dtype)
    result[: len(values)] = values
    result[len(values) :] = values[-1]
    return result


def describe(proto) -> str:
    """A short text for a tensor attribute: `float32[3,4]`, or `int32 scalar 7` for small ones."""
    name = dtype_name(proto.dtype)
    shape = shape_of(proto.tensor_shape)
    if shape is None:
        return f"{name}[?]"
    dims = "[" + ",".join(str(size) for size in shape) + "]"
    if shape and math.prod(shape) > 4:
        return f"{name}{dims}"
    try:
        values = to_numpy(proto)
    except CheckpointError:
        return f"{name}{dims}"
    items = [str(item) for item in values.reshape(-1)]  # numpy's str: 0.1, not 0.100000001
    text = items[0] if not shape else "[" + ", ".join(items) + "]"
    if len(text) > 40:
        text = text[:37] + "..."
    return f"{name} scalar {text}" if not shape else f"{name}{dims} {text}"
