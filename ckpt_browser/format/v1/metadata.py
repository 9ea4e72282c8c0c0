"""The metadata entry of a V1 file: each tensor's name, dtype, shape and the slices the file holds.

Why partly by hand: the protobuf library parses 20,000 tensor descriptions in a fraction of a
second, but reading their fields back costs as much again. Most tensors of a checkpoint share
their description but for the name (same dtype, shape and slices), so each tensor's bytes are
split after the name (TensorFlow writes it first) and each distinct remainder is parsed once.
"""

from __future__ import annotations

from typing import NamedTuple

from google.protobuf.message import DecodeError as ProtobufDecodeError

from ckpt_browser.format import protos
from ckpt_browser.format.tiling import Extents
from ckpt_browser.format.varint import VarintError, read_varint
from ckpt_browser.format.wire import DecodeError, fields_of, length_delimited_fields

READER_VERSION = 1  # TensorFlow's TF_CHECKPOINT_VERSION
_NAME_TAG = 0x0A  # SavedSliceMeta.name: field 1, length-delimited
_META, _TENSOR, _VERSIONS = 1, 1, 2


class TensorDescription(NamedTuple):
    """What a file's metadata says of a tensor but its name; tensors alike share one."""

    dtype_enum: int
    shape: tuple[int, ...] | None  # None: a negative dimension
    slices: tuple[Extents, ...]


def read_metadata(value: bytes | memoryview) -> list[tuple[bytes, TensorDescription]]:
    """The tensors a metadata entry lists (name as stored, description), after TensorFlow's
    version check; DecodeError with the end of a sentence when the entry is not a
    SavedTensorSliceMeta or refuses this reader. An entry without one lists no tensor, as
    TensorFlow reads it."""
    what = "the metadata entry"
    meta = fields_of(bytes(value), _META, what)  # bytes: slicing them is cheaper than views
    tensors: list[bytes] = []
    versions = protos.VersionDef()
    try:
        for part in meta:
            fields = length_delimited_fields(part, what)
            tensors += fields.get(_TENSOR, [])
            for version in fields.get(_VERSIONS, []):
                versions.MergeFromString(bytes(version))
    except ProtobufDecodeError:
        raise DecodeError("holds a version field that is not a VersionDef") from None
    _check_versions(versions)
    parsed: dict[bytes, TensorDescription] = {}
    out = []
    for tensor in tensors:
        if len(tensor) > 1 and tensor[0] == _NAME_TAG and tensor[1] < 0x80:  # a short name
            end = 2 + tensor[1]
            key, rest = tensor[2:end], tensor[end:]
        else:
            key, rest = _split_name(tensor)
        description = parsed.get(rest) if key is not None else None
        if description is None:
            message = _parse(rest) if key is not None else None
            if message is None or message.name:  # not in TensorFlow's order: parse it whole
                whole = _parse(tensor)
                key, description = whole.name, _describe(whole)
            else:
                description = parsed[rest] = _describe(message)
        out.append((key, description))
    return out


def _split_name(tensor: bytes) -> tuple[bytes | None, bytes]:
    """The name and the bytes after it, when the name field comes first."""
    if not len(tensor) or tensor[0] != _NAME_TAG:
        return None, b""
    try:
        length, start = read_varint(tensor, 1, len(tensor))
    except VarintError:
        return None, b""
    if start + length > len(tensor):
        return None, b""
    return bytes(tensor[start : start + length]), bytes(tensor[start + length :])


def _parse(data: bytes):  # -> protos SavedSliceMeta
    try:
        return protos.SavedSliceMeta.FromString(data)
    except ProtobufDecodeError:
        raise DecodeError("holds a tensor description that is not a SavedSliceMeta") from None


def _describe(message) -> TensorDescription:
    dims = tuple(d.size for d in message.shape.dim)
    # TensorFlow builds the shape of a saved tensor from its dimensions alone: `unknown_rank`
    # is ignored for a fully defined shape (`TensorShapeBase::BuildTensorShapeBase`), so even
    # a shape of no dimensions marked unknown rank is a scalar.
    shape = None if any(d < 0 for d in dims) else dims
    slices = tuple(
        tuple((e.start, e.length if e.WhichOneof("has_length") else -1) for e in piece.extent)
        for piece in message.slice
    )
    return TensorDescription(message.type, shape, slices)


def _check_versions(versions: protos.VersionDef) -> None:
    """TensorFlow's version check of a V1 file (format doc V1, section 10)."""
    if versions.min_consumer > READER_VERSION:
        raise DecodeError(
            f"needs a reader of checkpoint version {versions.min_consumer} or later; "
            f"TensorFlow's V1 format is version {READER_VERSION}"
        )
    if READER_VERSION in versions.bad_consumers:
        raise DecodeError(f"disallows readers of checkpoint version {READER_VERSION}")
