"""The "v1-fields" mutations of a legacy V1 checkpoint file, one function per kind of change.

Each takes the file's entries (`V1File`), a tensor its metadata lists (and where), and the run's
random stream; it changes the entries in place and returns a few words saying what it did. The
caller writes the table again with valid CRCs, so the change reaches the reader's checks of the
structure rather than stopping at a CRC.
"""

from __future__ import annotations

import random

from fuzz_mutators import DTYPE_ENUMS, HOSTILE_STRINGS, interesting_int
from fuzz_v1_entries import (
    INT_VAL_DTYPES,
    VALUE_FIELDS,
    Extents,
    Tensor,
    V1File,
    data_entry,
    elements,
    key_of,
    shape_field,
    slice_message,
    tensor_proto_of,
    value_fields,
)
from fuzz_wire import FIXED32, FIXED64, LENGTH, VARINT, Field, encode_message

HUGE_DIMS = [
    [2**31 + 1],
    [2**29, 2],
    [65536, 65536],
    [2**40],
    [2**62, 4],
    [2**63 - 1],
    [3, 2**61],
]


def _data_index(file: V1File, tensor: Tensor, rng: random.Random) -> tuple[int, Extents] | None:
    """A data entry of `tensor` (its position among the pairs and its slice), if it has one."""
    found = []
    for extents in tensor.slices:
        at = file.find(key_of(tensor.name, extents))
        if at is not None:
            found.append((at, extents))
    return rng.choice(found) if found else None


def _stored_values(
    file: V1File, tensor: Tensor, rng: random.Random
) -> tuple[int, Extents, list[Field], list[bytes]] | None:
    """A data entry of `tensor` whose values decode: (its position, its slice, its TensorProto
    fields, the stored value of each element)."""
    entry = _data_index(file, tensor, rng)
    parts = tensor_proto_of(file.pairs[entry[0]][1]) if entry else None
    values = elements(parts[2], tensor.dtype) if parts else None
    return None if values is None else (*entry, parts[2], values)


def _count(file: V1File, position: int, tensor: Tensor, rng: random.Random) -> str:
    """A data entry holding one value more or fewer, twice as many, none, or half a complex."""
    stored = _stored_values(file, tensor, rng)
    if stored is None:
        return _missing(file, position, tensor, rng)
    at, extents, _, values = stored
    op = rng.choice(["fewer", "more", "double", "none", "half"])
    if op == "fewer" and values:
        values = values[:-1]
    elif op == "double":
        values = values + values
    elif op == "none":
        values = []
    else:  # one more: for a complex, half of one ("half")
        kind = VALUE_FIELDS[tensor.dtype][1]
        values = [*values, {"f32": bytes(4), "f64": bytes(8)}.get(kind, b"\x00")]
    fields = value_fields(tensor.dtype, values, rng.choice(["packed", "packed", "unpacked"]))
    file.pairs[at] = (file.pairs[at][0], data_entry(tensor.name, extents, fields))
    return f"{tensor.name!r} slice {extents}: {op}, {len(values)} values stored"


def _bad_extents(extents: Extents, dims: list[int], rng: random.Random) -> tuple[Extents, str]:
    extents = list(extents)
    if not extents or rng.random() < 0.2:
        op = rng.choice(["add an extent", "drop an extent"] if extents else ["add an extent"])
        if op == "add an extent":
            extents.append(rng.choice([(0, -1), (0, 1), (0, 3)]))
        else:
            extents.pop()
        return extents, op
    axis = rng.randrange(len(extents))
    size = dims[axis] if axis < len(dims) else 1
    start, length = rng.choice(
        [
            (0, size + 1),
            (size, 1),
            (1, size),
            (-1, 2),
            (0, 0),
            (0, -2),
            (size // 2, size - size // 2 + rng.choice([0, 1])),
            (interesting_int(rng) % (1 << 63), 1),
            (1, interesting_int(rng) % (1 << 63)),
            (-(2**63), -1),
        ]
    )
    extents[axis] = (start, length)
    return extents, f"extent {axis} = {start},{length}"


def _slices(file: V1File, position: int, tensor: Tensor, rng: random.Random) -> str:
    """A slice twice, overlapping another, out of bounds, of another rank, or gone; the data
    entry follows the slice (under its new key) or stays where it was."""
    slices = tensor.slices
    op = rng.choice(["twice", "overlap", "bad", "bad", "drop"] if slices else ["bad"])
    dims = tensor.dims
    if op == "twice":
        slices.insert(rng.randrange(len(slices) + 1), rng.choice(slices))
        what = "a slice listed twice"
    elif op == "drop":
        del slices[rng.randrange(len(slices))]
        what = "a slice dropped from the metadata"
    else:
        i = rng.randrange(len(slices)) if slices else None
        old = slices[i] if i is not None else [(0, -1)] * len(dims)
        new, what = _bad_extents(old, dims, rng)
        if op == "overlap" or i is None:
            slices.append(new)
            what = f"a slice added, {what}"
        else:
            slices[i] = new
        if rng.random() < 0.7:  # the data entry moves with its slice
            at = file.find(key_of(tensor.name, old))
            new_key = key_of(tensor.name, new)
            if at is not None and new_key is not None:
                parts = tensor_proto_of(file.pairs[at][1])
                value = data_entry(tensor.name, new, parts[2]) if parts else file.pairs[at][1]
                file.put(new_key, value)
                what += " (its data entry moved)"
    tensor.replace(4, [Field(4, LENGTH, slice_message(s)) for s in slices])
    file.set_tensor(position, tensor)
    return f"{tensor.name!r} shape {dims} slices {slices}: {what}"


def _resplit(file: V1File, position: int, tensor: Tensor, rng: random.Random) -> str:
    """A tensor stored in one slice stored in two along its first axis, as a partitioned
    variable is (valid: TensorFlow restores it); sometimes with a piece lost or left over."""
    dims, slices = tensor.dims, tensor.slices
    entry = _data_index(file, tensor, rng)
    if len(slices) != 1 or not dims or dims[0] < 2 or entry is None:
        return _slices(file, position, tensor, rng)
    at, extents = entry
    parts = tensor_proto_of(file.pairs[at][1])
    values = elements(parts[2], tensor.dtype) if parts else None
    per_row = 2 if tensor.dtype in (8, 18) else 1
    for d in dims[1:]:
        per_row *= d
    if values is None or len(values) != per_row * dims[0]:
        return _count(file, position, tensor, rng)
    cut = rng.randrange(1, dims[0])
    rest = [rng.choice([(0, -1), (0, d)]) for d in dims[1:]]
    top, bottom = [(0, cut), *rest], [(cut, dims[0] - cut), *rest]
    del file.pairs[at]
    how = rng.choice(["whole", "whole", "whole", "lose one", "keep the old entry"])
    for piece, chunk in ((top, values[: cut * per_row]), (bottom, values[cut * per_row :])):
        key = key_of(tensor.name, piece)
        if how == "lose one" and piece is bottom:
            continue
        file.put(key, data_entry(tensor.name, piece, value_fields(tensor.dtype, chunk)))
    if how == "keep the old entry":
        file.put(key_of(tensor.name, extents), data_entry(tensor.name, extents, parts[2]))
    order = [top, bottom] if rng.random() < 0.5 else [bottom, top]
    tensor.replace(4, [Field(4, LENGTH, slice_message(s)) for s in order])
    file.set_tensor(position, tensor)
    return f"{tensor.name!r} {dims} stored as slices {order} ({how})"


def _shape(file: V1File, position: int, tensor: Tensor, rng: random.Random) -> str:
    dims = tensor.dims
    op = rng.choice(["huge", "huge", "negative", "unknown rank", "off by one", "rank", "zero"])
    unknown = False
    if op == "huge":
        dims = rng.choice(HUGE_DIMS)
        if rng.random() < 0.5:  # and a slice to match, so the shape is all that is wrong
            tensor.replace(4, [Field(4, LENGTH, slice_message([(0, -1)] * len(dims)))])
    elif op == "negative":
        dims = [*dims[:-1], -1] if dims else [-1]
    elif op == "unknown rank":
        unknown = True
    elif op == "off by one" and dims:
        axis = rng.randrange(len(dims))
        dims[axis] += rng.choice([1, -1])
    elif op == "zero" and dims:
        dims[rng.randrange(len(dims))] = 0
    else:
        dims = [*dims, 1] if not dims or rng.random() < 0.5 else dims[:-1]
    tensor.replace(2, [shape_field(dims, unknown)])
    file.set_tensor(position, tensor)
    return f"{tensor.name!r} shape {dims}{' unknown rank' if unknown else ''}"


VERSIONS = [
    ("min_consumer 2", [Field(1, VARINT, 1), Field(2, VARINT, 2)]),
    ("bad_consumers [1]", [Field(1, VARINT, 1), Field(3, VARINT, 1)]),
    ("bad_consumers [0, 2]", [Field(1, VARINT, 1), Field(3, LENGTH, b"\x00\x02")]),
    ("packed bad_consumers [1]", [Field(1, VARINT, 1), Field(3, LENGTH, b"\x01")]),
    ("min_consumer 1", [Field(1, VARINT, 1), Field(2, VARINT, 1)]),
    ("producer 0", []),
    ("producer 1000", [Field(1, VARINT, 1000)]),
    ("producer -1", [Field(1, VARINT, 2**64 - 1)]),
    ("min_consumer -1", [Field(2, VARINT, 2**64 - 1)]),
    ("min_consumer 2**32 + 1", [Field(2, VARINT, 2**32 + 1)]),
]


def _versions(file: V1File, position: int, tensor: Tensor, rng: random.Random) -> str:
    what, fields = rng.choice(VERSIONS)
    kept = [f for f in file.meta_fields if f.number != 2]
    if rng.random() < 0.8 or what == "producer 0":
        file.meta_fields = kept + ([Field(2, LENGTH, encode_message(fields))] if fields else [])
        if what == "producer 0" and rng.random() < 0.5:
            file.meta_fields = kept
            what = "no versions"
    else:  # given twice: the second merges into the first
        file.meta_fields = [*file.meta_fields, Field(2, LENGTH, encode_message(fields))]
        what += ", merged into the first"
    file.seal_meta()
    return f"versions: {what}"


def _missing(file: V1File, position: int, tensor: Tensor, rng: random.Random) -> str:
    op = rng.choice(["data", "data", "metadata", "elsewhere"])
    entry = _data_index(file, tensor, rng)
    if op == "metadata" or entry is None:
        del file.pairs[0]
        return "the metadata entry dropped"
    at, extents = entry
    _key, value = file.pairs.pop(at)
    if op == "elsewhere":
        others = [extents[:-1], [*extents, (0, -1)], [(0, 1)] * len(extents)]
        new_key = key_of(tensor.name + rng.choice([b"", b"", b"_"]), rng.choice(others))
        if new_key is not None:
            file.put(new_key, value)
        return f"the data entry of {tensor.name!r} {extents} under another key {new_key!r}"
    return f"the data entry of {tensor.name!r} {extents} dropped"


def _unpack(file: V1File, position: int, tensor: Tensor, rng: random.Random) -> str:
    """Values written as TensorFlow does not write them but reads them: unpacked, in two
    packed runs, or the SavedSlice given in two messages (protobuf merges them)."""
    stored = _stored_values(file, tensor, rng)
    if stored is None:
        return _count(file, position, tensor, rng)
    at, extents, tensor_fields, values = stored
    how = rng.choice(["unpacked", "runs", "split message"])
    if how == "split message" and len(values) > 1:
        half = len(values) // 2
        first_half = value_fields(tensor.dtype, values[:half])
        second_half = value_fields(tensor.dtype, values[half:])
        one = data_entry(tensor.name, extents, first_half)
        two = encode_message(
            [Field(2, LENGTH, encode_message([Field(3, LENGTH, encode_message(second_half))]))]
        )
        file.pairs[at] = (file.pairs[at][0], one + two)
    else:
        fields = [f for f in tensor_fields if f.number != VALUE_FIELDS[tensor.dtype][0]]
        fields += value_fields(tensor.dtype, values, how)
        if rng.random() < 0.3:
            rng.shuffle(fields)
        file.pairs[at] = (file.pairs[at][0], data_entry(tensor.name, extents, fields))
    return f"{tensor.name!r} {extents}: {len(values)} values {how}"


NAMES = [
    b"\xff\xfe",
    b"caf\xc3",
    b"w\x80",
    b"",
    b"\x00",
    b"a\x00b",
    b"\xff",
    b"line\nbreak",
    b"\x1b[31mred\x1b[0m",
    b"\xe2\x80\xae",
    b"x" * 5000,
    b"pv",
    b"w",
    b"global_step",
]


def _names(file: V1File, position: int, tensor: Tensor, rng: random.Random) -> str:
    """Another name: everywhere (metadata, keys, SavedSlice), or in the metadata alone, or in
    the SavedSlice alone (which TensorFlow ignores)."""
    old = tensor.name
    choice = rng.random()
    new = rng.choice(NAMES) if choice < 0.6 else old + rng.choice(NAMES + HOSTILE_STRINGS)
    where = rng.choice(["everywhere", "everywhere", "everywhere", "metadata", "saved slice"])
    if where != "saved slice":
        tensor.replace(1, [Field(1, LENGTH, new)])
        file.set_tensor(position, tensor)
    if where != "metadata":
        for extents in tensor.slices:
            at = file.find(key_of(old, extents))
            parts = tensor_proto_of(file.pairs[at][1]) if at is not None else None
            if parts is None:
                continue
            key = file.pairs[at][0] if where == "saved slice" else key_of(new, extents)
            del file.pairs[at]
            file.put(key, data_entry(new, extents, parts[2]))
    return f"{old!r} renamed {new[:60]!r} ({where})"


def _dtype(file: V1File, position: int, tensor: Tensor, rng: random.Random) -> str:
    old = tensor.dtype
    if old in INT_VAL_DTYPES and rng.random() < 0.6:
        new = rng.choice(INT_VAL_DTYPES)  # same value field: TensorFlow casts each value
    elif old in (1, 8) and rng.random() < 0.5:
        new = 9 - old  # float32 <-> complex64: the same fixed32 field
    else:
        new = rng.choice([*DTYPE_ENUMS, 14, 15, 16, 20, 21, 22, 23])
    tensor.replace(3, [Field(3, VARINT, new)])
    file.set_tensor(position, tensor)
    return f"{tensor.name!r} dtype {old} -> {new}"


def _content(file: V1File, position: int, tensor: Tensor, rng: random.Random) -> str:
    """Values in `tensor_content` (TensorFlow ignores it in V1), or fields it ignores added."""
    stored = _stored_values(file, tensor, rng)
    if stored is None:
        return _missing(file, position, tensor, rng)
    at, extents, tensor_fields, values = stored
    number = VALUE_FIELDS[tensor.dtype][0]
    op = rng.choice(["moved", "beside", "dtype and shape"])
    fields = list(tensor_fields)
    if op == "moved":
        fields = [f for f in fields if f.number != number]
    if op in ("moved", "beside"):
        fields.append(Field(4, LENGTH, b"".join(values)))
    else:
        fields = [Field(1, VARINT, rng.choice(DTYPE_ENUMS)), shape_field([len(values)]), *fields]
    file.pairs[at] = (file.pairs[at][0], data_entry(tensor.name, extents, fields))
    return f"{tensor.name!r} {extents}: tensor_content {op}"


def _stray(file: V1File, position: int, tensor: Tensor, rng: random.Random) -> str:
    """A field protobuf skips: the value field under another wire type, or an unknown field,
    in the TensorProto, the SavedSlice or the entry."""
    entry = _data_index(file, tensor, rng)
    parts = tensor_proto_of(file.pairs[entry[0]][1]) if entry else None
    if parts is None or tensor.dtype not in VALUE_FIELDS:
        return _missing(file, position, tensor, rng)
    at, extents = entry
    number = VALUE_FIELDS[tensor.dtype][0]
    wire = rng.choice([w for w in (VARINT, FIXED64, LENGTH, FIXED32) if w != LENGTH or number != 8])
    stray = Field(
        rng.choice([number, number, 99, 15]),
        wire,
        b"\x07" if wire == LENGTH else interesting_int(rng),
    )
    where = rng.choice(["tensor", "tensor", "slice", "entry"])
    tensor_fields = list(parts[2])
    if where == "tensor":
        tensor_fields.insert(rng.randrange(len(tensor_fields) + 1), stray)
    value = data_entry(tensor.name, extents, tensor_fields)
    if where == "slice":
        value = encode_message([Field(2, LENGTH, encode_message([stray]))]) + value
    elif where == "entry":
        value += encode_message([Field(rng.choice([3, 7, 99]), wire, stray.value)])
    file.pairs[at] = (file.pairs[at][0], value)
    return f"{tensor.name!r} {extents}: field {stray.number} wire type {wire} in the {where}"


OPERATIONS = {
    "count": _count,
    "slices": _slices,
    "resplit": _resplit,
    "shape": _shape,
    "versions": _versions,
    "missing": _missing,
    "unpack": _unpack,
    "names": _names,
    "dtype": _dtype,
    "content": _content,
    "stray": _stray,
}
