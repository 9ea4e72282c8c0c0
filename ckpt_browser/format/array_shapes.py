"""Which declared shapes a numpy array can take, decided before anything is allocated.

An index may declare any shape: TensorFlow accepts up to 254 dimensions and, when one dimension
is 0, others of any size. numpy refuses more than 64 dimensions (32 before numpy 2), and shapes
whose non-zero dimensions multiply past the largest array size even when they hold no element;
it says so with a ValueError that names no tensor. Checking first turns that into a sentence.
"""

from __future__ import annotations

import math

import numpy as np

MAX_DIMS = 64 if np.lib.NumpyVersion(np.__version__) >= "2.0.0" else 32
_MAX_BYTES = int(np.iinfo(np.intp).max)


def shape_problem(shape: tuple[int, ...], itemsize: int) -> str | None:
    """Why numpy cannot make an array of `shape` (elements of `itemsize` bytes), or None."""
    if len(shape) > MAX_DIMS:
        return f"has {len(shape)} dimensions; NumPy arrays can have at most {MAX_DIMS}"
    # numpy multiplies the non-zero dimensions and the item size, and refuses an overflow.
    if math.prod(d for d in shape if d) * itemsize > _MAX_BYTES:
        return f"has shape {list(shape)}, whose dimensions multiply past the largest NumPy array"
    return None
