"""The entries of a V1 checkpoint file taken apart into protobuf fields and put back.

A V1 file is a table whose `""` entry is a `SavedTensorSlices` holding the metadata (one
`SavedSliceMeta` per tensor: name 1, shape 2, type 3, slice 4) and whose other entries are
`SavedTensorSlices` holding one slice's values (`data` 2: a `SavedSlice` with name 1, slice 2 and
a TensorProto 3); format doc V1, sections 4 and 5. `V1File` keeps the fields as they lie in the
bytes (`fuzz_wire`), so a mutation can change one and leave the rest byte for byte.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field

from fuzz_wire import FIXED32, FIXED64, LENGTH, VARINT, Field, decode_message, encode_message

from ckpt_browser.format.v2.slice_keys import slice_key

Extents = list[tuple[int, int]]  # (start, length); length -1: the whole dimension

# dtype enum -> (TensorProto field, element kind): how a V1 entry stores its values (section 5)
VALUE_FIELDS = {
    1: (5, "f32"),
    2: (6, "f64"),
    8: (9, "f32"),  # complex64: two floats per element
    18: (12, "f64"),
    7: (8, "bytes"),
    9: (10, "varint"),
    10: (11, "varint"),
    19: (13, "varint"),
    **{enum: (7, "varint") for enum in (3, 4, 5, 6, 11, 12, 13, 17)},  # int_val
}
INT_VAL_DTYPES = [3, 4, 5, 6, 11, 12, 13, 17]


def fields_of(data: bytes) -> list[Field]:
    return decode_message(data) or []


def first(fields: list[Field], number: int) -> Field | None:
    return next((f for f in fields if f.number == number), None)


@dataclass
class Tensor:
    """A `SavedSliceMeta` decoded: its fields as they are, and what they say."""

    fields: list[Field]

    @property
    def name(self) -> bytes:
        found = [f.value for f in self.fields if f.number == 1 and f.wire_type == LENGTH]
        return found[-1] if found else b""

    @property
    def dtype(self) -> int:
        found = [f.value for f in self.fields if f.number == 3 and f.wire_type == VARINT]
        return found[-1] if found else 0

    @property
    def dims(self) -> list[int]:
        shape = first(self.fields, 2)
        dims = []
        for dim in fields_of(shape.value) if shape and shape.wire_type == LENGTH else []:
            if dim.number == 2 and dim.wire_type == LENGTH:
                size = first(fields_of(dim.value), 1)
                value = size.value if size and isinstance(size.value, int) else 0
                dims.append(value - (1 << 64) if value >= 1 << 63 else value)
        return dims

    @property
    def slices(self) -> list[Extents]:
        return [
            decode_slice(f.value) for f in self.fields if f.number == 4 and f.wire_type == LENGTH
        ]

    def replace(self, number: int, new: list[Field]) -> None:
        """Every field `number` replaced by `new`, where the first of them was."""
        at = next((i for i, f in enumerate(self.fields) if f.number == number), len(self.fields))
        kept = [f for f in self.fields[:at] if f.number != number]
        rest = [f for f in self.fields[at:] if f.number != number]
        self.fields = kept + new + rest


def shape_field(dims: list[int], unknown_rank: bool = False) -> Field:
    body = b"".join(
        encode_message([Field(2, LENGTH, encode_message([Field(1, VARINT, d % (1 << 64))]))])
        for d in dims
    )
    if unknown_rank:
        body += encode_message([Field(3, VARINT, 1)])
    return Field(2, LENGTH, body)


def slice_message(extents: Extents) -> bytes:
    """A TensorSliceProto as TensorFlow writes it: an empty extent for a whole dimension."""
    out = b""
    for start, length in extents:
        extent = []
        if length != -1:
            extent = ([Field(1, VARINT, start % (1 << 64))] if start else []) + [
                Field(2, VARINT, length % (1 << 64))
            ]
        out += encode_message([Field(1, LENGTH, encode_message(extent))])
    return out


def decode_slice(data: bytes) -> Extents:
    extents = []
    for extent in fields_of(data):
        if extent.number != 1 or extent.wire_type != LENGTH:
            continue
        inner = fields_of(extent.value)
        start, length = first(inner, 1), first(inner, 2)
        start_value = _signed(start.value) if start and isinstance(start.value, int) else 0
        length_value = _signed(length.value) if length and isinstance(length.value, int) else -1
        extents.append((start_value, length_value))
    return extents


def _signed(value: int) -> int:
    return value - (1 << 64) if value >= 1 << 63 else value


def key_of(name: bytes, extents: Extents) -> bytes | None:
    """The data entry key of a slice (OrderedCode), or None where no int64 holds an extent."""
    try:
        return slice_key(name, extents)
    except (OverflowError, KeyError, StopIteration, ValueError):
        return None


@dataclass
class V1File:
    """A V1 file's entries in table order; the metadata entry's fields decoded."""

    pairs: list[tuple[bytes, bytes]]
    meta_fields: list[Field] = field(default_factory=list)  # SavedTensorSliceMeta
    has_meta: bool = False

    @classmethod
    def parse(cls, pairs: list[tuple[bytes, bytes]]) -> V1File:
        made = cls(list(pairs))
        if pairs and pairs[0][0] == b"":
            meta = first(fields_of(pairs[0][1]), 1)
            if meta is not None and meta.wire_type == LENGTH and decode_message(meta.value):
                made.meta_fields = decode_message(meta.value)
                made.has_meta = True
        return made

    def tensors(self) -> list[tuple[int, Tensor]]:
        """(position in the metadata, description) of each tensor the metadata lists."""
        return [
            (i, Tensor(fields_of(f.value)))
            for i, f in enumerate(self.meta_fields)
            if f.number == 1 and f.wire_type == LENGTH
        ]

    def set_tensor(self, position: int, tensor: Tensor) -> None:
        self.meta_fields[position] = Field(1, LENGTH, encode_message(tensor.fields))
        self.seal_meta()

    def seal_meta(self) -> None:
        value = encode_message([Field(1, LENGTH, encode_message(self.meta_fields))])
        self.pairs[0] = (b"", value)

    def data_keys(self) -> list[int]:
        return [i for i, (key, _) in enumerate(self.pairs) if key]

    def find(self, key: bytes | None) -> int | None:
        return next((i for i, (k, _) in enumerate(self.pairs) if k == key), None)

    def put(self, key: bytes, value: bytes) -> None:
        at = self.find(key)
        if at is None:
            self.pairs.append((key, value))
        else:
            self.pairs[at] = (key, value)


# -- data entries ---------------------------------------------------------------------------------


def tensor_proto_of(value: bytes) -> tuple[list[Field], list[Field], list[Field]] | None:
    """(SavedTensorSlices fields, SavedSlice fields, TensorProto fields) of a data entry."""
    top = fields_of(value)
    saved = first(top, 2)
    if saved is None or saved.wire_type != LENGTH:
        return None
    slice_fields = fields_of(saved.value)
    data = first(slice_fields, 3)
    if data is None or data.wire_type != LENGTH:
        return None
    return top, slice_fields, fields_of(data.value)


def data_entry(name: bytes, extents: Extents, tensor_fields: list[Field]) -> bytes:
    saved = [
        Field(1, LENGTH, name),
        Field(2, LENGTH, slice_message(extents)),
        Field(3, LENGTH, encode_message(tensor_fields)),
    ]
    return encode_message([Field(2, LENGTH, encode_message(saved))])


def elements(tensor_fields: list[Field], dtype: int) -> list[bytes] | None:
    """The stored value of each element as its packed bytes (strings: the bytes themselves);
    complex values as two floats. None when the fields do not hold the dtype's values."""
    if dtype not in VALUE_FIELDS:
        return None
    number, kind = VALUE_FIELDS[dtype]
    out: list[bytes] = []
    for f in tensor_fields:
        if f.number != number:
            continue
        if kind == "bytes":
            if f.wire_type != LENGTH:
                return None
            out.append(f.value)
        elif f.wire_type == LENGTH:
            split = _split_packed(f.value, kind)
            if split is None:
                return None
            out += split
        elif kind == "varint" and f.wire_type == VARINT:
            out.append(encode_message([f])[1:])  # the varint without its one-byte tag
        elif (kind, f.wire_type) in (("f32", FIXED32), ("f64", FIXED64)):
            out.append(struct.pack("<I" if kind == "f32" else "<Q", f.value))
        else:
            return None
    return out


def _split_packed(data: bytes, kind: str) -> list[bytes] | None:
    if kind in ("f32", "f64"):
        width = 4 if kind == "f32" else 8
        if len(data) % width:
            return None
        return [data[i : i + width] for i in range(0, len(data), width)]
    out, start = [], 0
    for i, byte in enumerate(data):
        if byte < 0x80:
            out.append(data[start : i + 1])
            start = i + 1
    return out if start == len(data) else None


def value_fields(dtype: int, values: list[bytes], how: str = "packed") -> list[Field]:
    """The TensorProto fields holding `values` (as `elements` gives them): "packed" as
    TensorFlow writes them, "unpacked" one field per element, or "runs" in two packed runs."""
    number, kind = VALUE_FIELDS[dtype]
    if kind == "bytes":
        return [Field(number, LENGTH, v) for v in values]
    if how == "runs" and len(values) > 1:
        half = len(values) // 2
        return [
            Field(number, LENGTH, b"".join(values[:half])),
            Field(number, LENGTH, b"".join(values[half:])),
        ]
    if how == "unpacked":
        if kind == "varint":
            return [Field(number, VARINT, 0, varint_bytes=v) for v in values]
        wire, fmt = (FIXED32, "<I") if kind == "f32" else (FIXED64, "<Q")
        return [Field(number, wire, struct.unpack(fmt, v)[0]) for v in values]
    return [Field(number, LENGTH, b"".join(values))] if values else []
