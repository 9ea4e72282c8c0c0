"""The header of a safetensors file, checked field by field before anything is mapped.

Layout: 8 bytes little-endian header length N, N bytes of JSON (`{"name": {"dtype", "shape",
"data_offsets": [begin, end]}, "__metadata__": {str: str}}`), then the data, every byte of which
belongs to exactly one tensor. The `safetensors` package checks the same when it opens a file,
but says "incomplete metadata, file not fully covered" for a tensor that lies past the end; this
check names the tensor and the fault in one sentence, and runs before the package is asked.
"""

from __future__ import annotations

import json
import math
import struct
from typing import NamedTuple

from ckpt_browser.format.array_shapes import shape_problem
from ckpt_browser.format.dtypes import BY_NAME, DType
from ckpt_browser.format.errors import CheckpointError

METADATA_KEY = "__metadata__"
# The package refuses headers over 100 MB (`safetensors::tensor::MAX_HEADER_SIZE`).
MAX_HEADER_BYTES = 100_000_000
HEADER_ALIGNMENT = 8

# safetensors dtype -> ours. Declared in the order of the package's `Dtype` enum, which is also
# the order `save_file` lays tensors out in (the larger first, then by name), see `writing_order`.
DTYPES: dict[str, str] = {
    "BOOL": "bool",
    "U8": "uint8",
    "I8": "int8",
    "F8_E5M2": "float8_e5m2",
    "F8_E4M3": "float8_e4m3fn",
    "I16": "int16",
    "U16": "uint16",
    "F16": "float16",
    "BF16": "bfloat16",
    "I32": "int32",
    "U32": "uint32",
    "F32": "float32",
    "C64": "complex64",
    "F64": "float64",
    "I64": "int64",
    "U64": "uint64",
}
SAFETENSORS_DTYPE = {ours: theirs for theirs, ours in DTYPES.items()}
_ENUM_ORDER = {name: rank for rank, name in enumerate(DTYPES)}


class HeaderEntry(NamedTuple):
    name: str
    dtype: DType
    shape: tuple[int, ...]
    begin: int  # from the start of the data, as the header says
    end: int


class Header(NamedTuple):
    data_start: int  # 8 + N: where offset 0 of the data lies in the file
    entries: dict[str, HeaderEntry]
    metadata: dict[str, str]
    unsupported: dict[str, str]  # name -> a dtype the package knows but numpy has no type for


def writing_order(names_and_dtypes: list[tuple[str, str]]) -> list[str]:
    """Names in the order `safetensors.numpy.save_file` lays them out: by dtype in the reverse
    of the package's enum order (so the widest first), then by name."""
    ranked = sorted(names_and_dtypes, key=lambda item: (-_ENUM_ORDER[item[1]], item[0]))
    return [name for name, _ in ranked]


def parse_header(head: bytes, file_size: int, path: str) -> Header:
    """Check and decode a header; `head` holds at least the file's first 8 + N bytes."""
    if file_size < 8:
        raise CheckpointError(
            f"not a safetensors file: {file_size} bytes, shorter than the 8-byte header length",
            path,
        )
    (length,) = struct.unpack_from("<Q", head, 0)
    if length > MAX_HEADER_BYTES:
        raise CheckpointError(
            f"not a safetensors file: its header length says {length:,} bytes, more than the "
            f"{MAX_HEADER_BYTES:,} safetensors allows",
            path,
        )
    if 8 + length > file_size:
        raise CheckpointError(
            f"not a safetensors file: its header length says {length:,} bytes, but the file "
            f"holds {file_size - 8:,} after it",
            path,
        )
    try:
        document = json.loads(bytes(head[8 : 8 + length]).decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise CheckpointError(
            f"not a safetensors file: its header is not JSON ({exc})", path
        ) from None
    if not isinstance(document, dict):
        raise CheckpointError("the safetensors header is not a JSON object", path)
    metadata = document.pop(METADATA_KEY, None) or {}
    if not isinstance(metadata, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in metadata.items()
    ):
        raise CheckpointError("the safetensors header's __metadata__ is not text to text", path)
    data_size = file_size - 8 - length
    entries: dict[str, HeaderEntry] = {}
    unsupported: dict[str, str] = {}
    for name, fields in document.items():
        entry = _entry(name, fields, data_size, path)
        if isinstance(entry, str):
            unsupported[name] = entry
        else:
            entries[name] = entry
    _check_coverage(list(entries.values()), unsupported, document, data_size, path)
    return Header(8 + length, entries, metadata, unsupported)


def _entry(name: str, fields: object, data_size: int, path: str) -> HeaderEntry | str:
    where = f"tensor {name!r} of the safetensors header"
    if not isinstance(fields, dict):
        raise CheckpointError(f"{where} is not an object", path)
    dtype_name, shape, offsets = (
        fields.get("dtype"),
        fields.get("shape"),
        fields.get("data_offsets"),
    )
    if not isinstance(shape, list) or not all(
        isinstance(d, int) and not isinstance(d, bool) and d >= 0 for d in shape
    ):
        raise CheckpointError(f"{where} has the shape {shape!r}, not a list of sizes", path)
    if (
        not isinstance(offsets, list)
        or len(offsets) != 2
        or not all(isinstance(o, int) and not isinstance(o, bool) for o in offsets)
        or not 0 <= offsets[0] <= offsets[1]
    ):
        raise CheckpointError(
            f"{where} has the data_offsets {offsets!r}, not [begin, end] with begin <= end", path
        )
    begin, end = offsets
    if end > data_size:
        raise CheckpointError(
            f"{where} lies past the end of the file: its bytes end at {end:,} but the data holds "
            f"{data_size:,} (a truncated file, or a header that lies)",
            path,
        )
    if not isinstance(dtype_name, str):
        raise CheckpointError(f"{where} has no dtype", path)
    ours = DTYPES.get(dtype_name)
    count = math.prod(shape)  # Python ints: an absurd shape is a big number, not an overflow
    if ours is None:
        return dtype_name  # a type numpy cannot hold (F4, F6_E2M3, F8_E8M0...): listed as such
    dtype = BY_NAME[ours]
    needed = count * dtype.itemsize
    if needed != end - begin:
        raise CheckpointError(
            f"{where} has {end - begin:,} bytes where a {ours} tensor of shape {shape} needs "
            f"{needed:,}",
            path,
        )
    problem = shape_problem(tuple(shape), dtype.itemsize)
    if problem is not None:  # e.g. [0, 2**62]: no bytes, yet numpy can make no such array
        raise CheckpointError(f"{where} {problem}", path)
    return HeaderEntry(name, dtype, tuple(shape), begin, end)


def _check_coverage(
    entries: list[HeaderEntry],
    unsupported: dict[str, str],
    document: dict,
    data_size: int,
    path: str,
) -> None:
    """Every byte of the data belongs to one tensor: no overlaps, no gaps (as the package
    requires)."""
    spans = [(e.begin, e.end, e.name) for e in entries]
    spans += [(*document[name]["data_offsets"], name) for name in unsupported]
    spans.sort()
    position, previous = 0, None
    for begin, end, name in spans:
        if begin < position:
            raise CheckpointError(
                f"tensor {name!r} of the safetensors header overlaps {previous!r} (its bytes "
                f"start at {begin:,}, before {previous!r} ends at {position:,})",
                path,
            )
        if begin > position:
            raise CheckpointError(
                f"bytes {position:,} to {begin:,} of the safetensors data belong to no tensor",
                path,
            )
        position, previous = end, name
    if position != data_size:
        raise CheckpointError(
            f"the safetensors data holds {data_size:,} bytes but its tensors end at {position:,}",
            path,
        )
