"""String tensors in .npy and .npz files that load without pickle and keep every byte.

numpy's fixed-width bytes dtype (`S`) pads elements with NUL bytes and drops trailing NULs when
an element is read, so `b"a\\x00"` comes back as `b"a"` (the TF2 object graph often ends in one).
A string tensor is therefore written in one of two forms, both of the tensor's shape:

- an `S` array when no element ends in a NUL byte: then `S` is exact, and reads as bytes;
- otherwise a structured array with the fields `length` (little-endian int64: how many bytes the
  element has) and `bytes` (`S<w>`: its bytes, padded with NULs to the longest element's width).
  `array["bytes"]` reads like the `S` form; `length` says how many of the stored bytes are real.

`exported_strings(array)` turns either form back into what `Checkpoint.read` returns for a string
tensor: an object array of bytes of the tensor's shape, equal byte for byte to TensorFlow's values.
"""

from __future__ import annotations

import numpy as np

LENGTH_FIELD = "length"
BYTES_FIELD = "bytes"


def strings_for_export(strings: np.ndarray) -> np.ndarray:
    """An object array of bytes as an `S` array, or as (length, bytes) records when `S` would
    drop trailing NUL bytes."""
    values = strings.ravel().tolist()
    if not any(value.endswith(b"\x00") for value in values):
        return np.array(values, dtype=bytes).reshape(strings.shape)
    width = max(1, *map(len, values))
    records = np.empty(len(values), dtype=[(LENGTH_FIELD, "<i8"), (BYTES_FIELD, f"S{width}")])
    records[LENGTH_FIELD] = [len(value) for value in values]
    records[BYTES_FIELD] = values  # the trailing NULs are stored; `length` keeps them apart
    return records.reshape(strings.shape)


def exported_strings(array: np.ndarray) -> np.ndarray:
    """The exact strings of an exported string tensor (either form) as an object array of bytes.

    >>> words = exported_strings(np.load("model.npz")["vocab"])   # what Checkpoint.read gives
    """
    flat = array.reshape(-1)
    if array.dtype.kind == "S":
        values = flat.tolist()
    elif array.dtype.names == (LENGTH_FIELD, BYTES_FIELD):
        width = array.dtype[BYTES_FIELD].itemsize
        blob = np.ascontiguousarray(flat[BYTES_FIELD]).tobytes()
        lengths = flat[LENGTH_FIELD].tolist()
        if any(not 0 <= length <= width for length in lengths):
            raise ValueError(f"string lengths must lie between 0 and the field width {width}")
        values = [blob[i * width : i * width + length] for i, length in enumerate(lengths)]
    else:
        raise ValueError(
            f"not an exported string tensor: dtype {array.dtype} (expected bytes, or the fields "
            f"{LENGTH_FIELD!r} and {BYTES_FIELD!r})"
        )
    out = np.empty(len(values), dtype=object)
    out[:] = values
    return out.reshape(array.shape)
