"""Writing a safetensors file a tensor at a time: the header from the names, dtypes and shapes
known in advance, then each tensor's bytes streamed in pieces, so memory stays flat.

The `safetensors` package's `save_file` takes every tensor in memory at once; this writes the
same layout (tensors in the package's order, the header padded with spaces to 8 bytes) from
iterators. The file appears under its name only when complete (`atomic_output`).
"""

from __future__ import annotations

import json
import math
import os
import struct
from collections.abc import Callable, Iterable, Iterator
from typing import NamedTuple

import numpy as np

from ckpt_browser.format.atomic import atomic_output
from ckpt_browser.format.dtypes import from_name
from ckpt_browser.format.errors import CheckpointError
from ckpt_browser.format.frameworks.safetensors_header import (
    HEADER_ALIGNMENT,
    METADATA_KEY,
    SAFETENSORS_DTYPE,
    writing_order,
)
from ckpt_browser.format.v2.writer import WriteCancelled


class PlannedTensor(NamedTuple):
    name: str
    dtype: str  # ours: float32, bfloat16 ...
    shape: tuple[int, ...]


def refusal(dtype: str) -> str | None:
    """Why a tensor of `dtype` cannot go into a safetensors file, or None if it can."""
    if dtype in SAFETENSORS_DTYPE:
        return None
    return f"safetensors has no {dtype} dtype (it holds numbers of fixed size only)"


def header_bytes(tensors: Iterable[PlannedTensor], metadata: dict[str, str] | None) -> bytes:
    """The 8-byte length and the JSON header, tensors laid out in the package's order."""
    by_name = {t.name: t for t in tensors}
    order = writing_order([(t.name, SAFETENSORS_DTYPE[t.dtype]) for t in by_name.values()])
    document: dict[str, object] = {}
    if metadata:
        document[METADATA_KEY] = metadata
    offset = 0
    for name in order:
        tensor = by_name[name]
        size = math.prod(tensor.shape) * from_name(tensor.dtype).itemsize
        document[name] = {
            "dtype": SAFETENSORS_DTYPE[tensor.dtype],
            "shape": list(tensor.shape),
            "data_offsets": [offset, offset + size],
        }
        offset += size
    text = json.dumps(document, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    text += b" " * (-len(text) % HEADER_ALIGNMENT)
    return struct.pack("<Q", len(text)) + text


def write_safetensors(
    path: str | os.PathLike[str],
    tensors: list[PlannedTensor],
    pieces: Callable[[PlannedTensor], Iterator[np.ndarray]],
    *,
    metadata: dict[str, str] | None = None,
    overwrite: bool = False,
    progress: Callable[[int], None] | None = None,
    cancel: Callable[[], bool] | None = None,
) -> None:
    """Write `tensors` to `path`; `pieces(tensor)` yields its values in row-major pieces.

    A tensor whose pieces hold more or fewer bytes than its shape needs stops the write
    (CheckpointError); `cancel()` is polled between pieces (WriteCancelled). Either way nothing
    is left under `path`.
    """
    for tensor in tensors:
        why = refusal(tensor.dtype)
        if why is not None:
            raise CheckpointError(f"{tensor.name!r}: {why}", os.fspath(path))
    header = header_bytes(tensors, metadata)
    by_name = {t.name: t for t in tensors}
    order = writing_order([(t.name, SAFETENSORS_DTYPE[t.dtype]) for t in tensors])
    written = 0
    try:
        with atomic_output(path, "wb", overwrite=overwrite) as out:
            out.write(header)
            for name in order:
                tensor = by_name[name]
                expected = math.prod(tensor.shape) * from_name(tensor.dtype).itemsize
                sent = 0
                little = from_name(tensor.dtype).numpy.newbyteorder("<")
                for piece in pieces(tensor):
                    if cancel is not None and cancel():
                        raise WriteCancelled()
                    data = np.ascontiguousarray(piece, dtype=little).reshape(-1)
                    out.write(data.view(np.uint8))
                    sent += data.nbytes
                    written += data.nbytes
                    if progress is not None:
                        progress(written)
                if sent != expected:
                    raise CheckpointError(
                        f"{name!r} gave {sent:,} bytes where its shape {list(tensor.shape)} "
                        f"needs {expected:,}",
                        os.fspath(path),
                    )
    except FileExistsError:
        raise CheckpointError(
            "exists and is not overwritten (--force overwrites it)", os.fspath(path)
        ) from None
