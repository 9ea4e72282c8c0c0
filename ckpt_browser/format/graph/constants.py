"""A frozen graph's constants as a `Checkpoint`: browse and compare the weights of a `.pb`.

Freezing (`convert_variables_to_constants`) turns every variable into a Const node whose value is
a TensorProto inside the GraphDef. Opening walks the file's wire format (`format.wire`) to find
each Const and where its value lies, without decoding any value: a 500 MB `.pb` opens as fast as
its node list can be stepped over. Reading a constant stored as `tensor_content` gives a view of
the file's memory map; one stored in typed value fields is decoded by `tensor_proto.to_numpy`.

Which constants are weights: not scalars, not strings, and not the small integer or bool vectors
a graph uses for shapes, axes and permutations. The others keep `TensorKind.CONSTANT`, which the
window hides by default.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Iterator
from typing import NamedTuple

import numpy as np
from google.protobuf.message import DecodeError as ProtobufDecodeError

from ckpt_browser.format import dtypes, protos
from ckpt_browser.format.checkpoint import (
    Checkpoint,
    ChecksumProblem,
    Index,
    TensorInfo,
    as_index,
    problems_of_each_tensor,
)
from ckpt_browser.format.errors import CheckpointError
from ckpt_browser.format.files import PROTOBUF_MAX_BYTES
from ckpt_browser.format.graph import tensor_proto
from ckpt_browser.format.graph.meta_graphs import SAVED_MODEL_FILE
from ckpt_browser.format.kinds import TensorKind
from ckpt_browser.format.names import name_of_key
from ckpt_browser.format.sources import locations as where
from ckpt_browser.format.v2.shard_check import ShardCheck
from ckpt_browser.format.varint import read_varint
from ckpt_browser.format.wire import LENGTH_DELIMITED, VARINT, DecodeError, field_spans

GRAPH_SUFFIXES = (".pb", ".graphdef")
CONST_OPS = {b"Const", b"HostConst"}
# Integer and bool vectors up to this many elements are shapes, axes or permutations, not weights.
SMALL_INDEX_ELEMENTS = 16
_INDEX_DTYPES = {"int32", "int64", "int16", "int8", "uint8", "uint16", "uint32", "uint64", "bool"}

# Field numbers (graph.proto, function.proto, node_def.proto, attr_value.proto, tensor.proto,
# meta_graph.proto, saved_model.proto).
_GRAPH_NODE, _GRAPH_LIBRARY = 1, 2
_LIBRARY_FUNCTION = 1
_FUNCTION_SIGNATURE, _FUNCTION_NODES = 1, 3
_OPDEF_NAME = 1
_NODE_NAME, _NODE_OP, _NODE_ATTR = 1, 2, 5
_ENTRY_KEY, _ENTRY_VALUE = 1, 2
_ATTR_TENSOR = 8
_TENSOR_DTYPE, _TENSOR_SHAPE, _TENSOR_CONTENT = 1, 2, 4
_META_GRAPH_DEF = 2  # MetaGraphDef.graph_def
_SAVED_MODEL_META_GRAPHS = 2

Span = tuple[int, int]  # start, end in the file


class Unreadable(NamedTuple):
    """A Const whose value no array can hold, and why."""

    name: str
    reason: str  # "dtype resource", "shape [-150, 3]"


class Constant(NamedTuple):
    """Where one Const's value lies in the file, and what it declares."""

    name: str
    dtype: dtypes.DType
    shape: tuple[int, ...]
    tensor: Span  # the TensorProto
    content: Span | None  # its tensor_content, if any


def is_graph_file(path: str) -> bool:
    """A file the program opens as a frozen graph's constants (not a `.meta`: a `.meta` stands for
    the checkpoint saved beside it)."""
    name = os.path.basename(path)
    return where.isfile(path) and (name.endswith(GRAPH_SUFFIXES) or name == SAVED_MODEL_FILE)


def is_weight(dtype: dtypes.DType, shape: tuple[int, ...]) -> bool:
    """What a user means by the weights of a frozen graph (see the module docstring)."""
    if not shape or dtype.is_string or dtype.name == "variant":
        return False
    small_vector = len(shape) <= 1 and math.prod(shape) <= SMALL_INDEX_ELEMENTS
    return not (dtype.name in _INDEX_DTYPES and small_vector)


class GraphConstants(Checkpoint):
    """The Const nodes of a GraphDef (a frozen `.pb`, or the graph of a SavedModel's
    `saved_model.pb`), keyed by node name; a Const inside a function is `function/node`."""

    format_name = "graph"

    def __init__(self, path: str) -> None:
        super().__init__(where.abspath(where.normalize(path)))
        self._data = where.map_capped(
            self.prefix, "graph file", PROTOBUF_MAX_BYTES, "a protobuf message is limited to 2 GiB"
        )
        self._view = memoryview(self._data)
        self._constants: dict[str, Constant] = {}
        self._unreadable: dict[str, str] = {}  # Const name -> why no array can hold its value
        twice = set()
        try:
            for constant in self._find_constants():
                if constant.name in self._constants or constant.name in self._unreadable:
                    twice.add(constant.name)
                elif isinstance(constant, Unreadable):
                    self._unreadable[constant.name] = constant.reason
                else:
                    self._constants[constant.name] = constant
        except DecodeError as exc:
            raise CheckpointError(f"not a TensorFlow graph: the file {exc}", self.prefix) from None
        # Sorted, as checkpoints list their keys (a graph lists nodes in the order it ran them).
        self._infos = {name: _info(self._constants[name]) for name in sorted(self._constants)}
        if self._unreadable:
            listed = ", ".join(f"{n!r} ({why})" for n, why in sorted(self._unreadable.items()))
            self.warnings.append(f"constants not listed, as no array can hold them: {listed}")
        if twice:
            names = ", ".join(map(repr, sorted(twice)))
            self.warnings.append(f"more than one node is named {names}: the first is listed")

    # -- finding the constants ----------------------------------------------------------------

    def _find_constants(self) -> Iterator[Constant | Unreadable]:
        """The file as TensorFlow would read it: a SavedModel, a MetaGraphDef or a GraphDef, in
        the order its name suggests; the first that holds graph nodes is taken."""
        name = os.path.basename(self.prefix)
        kinds = ["graph_def", "meta_graph", "saved_model"]
        if name == SAVED_MODEL_FILE:
            kinds = ["saved_model", "meta_graph", "graph_def"]
        end = len(self._view)
        first_error: DecodeError | None = None
        for kind in kinds:
            try:
                graph = self._graph_def(kind, end)
                if graph is None:
                    continue
                constants = list(self._graph_constants(*graph))
            except DecodeError as exc:
                first_error = first_error or exc
                continue
            return iter(constants)
        if first_error is not None:
            raise first_error
        raise DecodeError("holds no graph nodes")

    def _graph_def(self, kind: str, end: int) -> Span | None:
        """Where the GraphDef lies, if the file is of `kind` and holds one with nodes."""
        if kind == "graph_def":
            spans = [(0, end)]
        elif kind == "meta_graph":
            spans = self._children(0, end, _META_GRAPH_DEF, "the MetaGraphDef")
        else:
            spans = [
                graph
                for meta in self._children(0, end, _SAVED_MODEL_META_GRAPHS, "the SavedModel")
                for graph in self._children(*meta, _META_GRAPH_DEF, "a MetaGraphDef")
            ]
        for span in spans:
            if self._looks_like_graph(span):
                return span
        return None

    def _looks_like_graph(self, span: Span) -> bool:
        """Every field where a GraphDef has it, and at least one node with a name and an op."""
        has_node = False
        for field, wire, start, end in field_spans(self._view, *span, "the GraphDef"):
            if field in (_GRAPH_NODE, _GRAPH_LIBRARY) and wire != LENGTH_DELIMITED:
                return False
            if field == _GRAPH_NODE and not has_node:
                name, op, _ = self._node_head(start, end)
                has_node = bool(name) and bool(op)
        return has_node

    def _children(self, start: int, end: int, number: int, what: str) -> list[Span]:
        return [
            (a, b)
            for field, wire, a, b in field_spans(self._view, start, end, what)
            if field == number and wire == LENGTH_DELIMITED
        ]

    def _graph_constants(self, start: int, end: int) -> Iterator[Constant | Unreadable]:
        for field, wire, a, b in field_spans(self._view, start, end, "the GraphDef"):
            if wire != LENGTH_DELIMITED:
                continue
            if field == _GRAPH_NODE:
                yield from self._node_constant(a, b, "")
            elif field == _GRAPH_LIBRARY:
                for function in self._children(a, b, _LIBRARY_FUNCTION, "the function library"):
                    yield from self._function_constants(*function)

    def _function_constants(self, start: int, end: int) -> Iterator[Constant | Unreadable]:
        function = ""
        nodes = []
        for field, wire, a, b in field_spans(self._view, start, end, "a function"):
            if wire != LENGTH_DELIMITED:
                continue
            if field == _FUNCTION_SIGNATURE:
                for name in self._children_bytes(a, b, _OPDEF_NAME, "a function signature"):
                    function = name_of_key(name)
            elif field == _FUNCTION_NODES:
                nodes.append((a, b))
        for node in nodes:
            yield from self._node_constant(*node, f"{function}/")

    def _children_bytes(self, start: int, end: int, number: int, what: str) -> list[bytes]:
        return [bytes(self._view[a:b]) for a, b in self._children(start, end, number, what)]

    def _node_head(self, start: int, end: int) -> tuple[bytes, bytes, list[Span]]:
        """A NodeDef's name, op and the spans of its attr map entries."""
        name = op = b""
        attrs = []
        for field, wire, a, b in field_spans(self._view, start, end, "a node"):
            if wire != LENGTH_DELIMITED:
                continue
            if field == _NODE_NAME:
                name = bytes(self._view[a:b])
            elif field == _NODE_OP:
                op = bytes(self._view[a:b])
            elif field == _NODE_ATTR:
                attrs.append((a, b))
        return name, op, attrs

    def _node_constant(self, start: int, end: int, scope: str) -> Iterator[Constant | Unreadable]:
        name, op, attrs = self._node_head(start, end)
        if op not in CONST_OPS or not name:
            return
        node = scope + name_of_key(name)
        for entry in attrs:
            key = value = None
            for field, wire, a, b in field_spans(self._view, *entry, "an attribute"):
                if field == _ENTRY_KEY and wire == LENGTH_DELIMITED:
                    key = bytes(self._view[a:b])
                elif field == _ENTRY_VALUE and wire == LENGTH_DELIMITED:
                    value = (a, b)
            if key != b"value" or value is None:
                continue
            for tensor in self._children(*value, _ATTR_TENSOR, "an attribute value"):
                yield self._constant(node, tensor)

    def _constant(self, name: str, tensor: Span) -> Constant | Unreadable:
        """The Const's declared dtype and shape and where its content lies, or why no array can
        hold its value (a resource, an unknown dtype or shape): listing leaves those out and
        says so, and reading or verifying them gives the reason."""
        dtype_enum = 0
        shape_span = content = None
        for field, wire, a, b in field_spans(self._view, *tensor, "a tensor"):
            if field == _TENSOR_DTYPE and wire == VARINT:
                dtype_enum = read_varint(self._view, a, b)[0]
            elif field == _TENSOR_SHAPE and wire == LENGTH_DELIMITED:
                shape_span = (a, b)
            elif field == _TENSOR_CONTENT and wire == LENGTH_DELIMITED:
                content = (a, b)
        dtype = dtypes.from_enum(dtype_enum)
        if dtype is None or dtype.numpy is None:
            return Unreadable(name, f"dtype {tensor_proto.dtype_name(dtype_enum)}")
        try:
            shape_proto = protos.TensorShapeProto.FromString(
                bytes(self._view[shape_span[0] : shape_span[1]]) if shape_span else b""
            )
        except ProtobufDecodeError:
            raise DecodeError(
                f"holds a shape that is not a TensorShapeProto in Const {name!r}"
            ) from None
        shape = tensor_proto.shape_of(shape_proto)
        if shape is None or any(size < 0 for size in shape):
            return Unreadable(name, f"shape {'unknown' if shape is None else list(shape)}")
        return Constant(name, dtype, shape, tensor, content)

    # -- facts ----------------------------------------------------------------------------------

    @property
    def num_shards(self) -> int:
        return 1

    def files(self) -> list[str]:
        return [self.prefix]

    def data_files(self) -> list[str]:
        return [self.prefix]

    def check_shards(self) -> ShardCheck:
        return ShardCheck()

    def history(self) -> list:
        """A graph file stands alone: the checkpoints beside it are not its history."""
        return []

    @property
    def step(self) -> int | None:
        return None

    def info(self, name: str) -> TensorInfo:
        if name in self._unreadable:
            raise CheckpointError(
                f"Const {name!r} cannot be read: no array holds its {self._unreadable[name]}",
                self.prefix,
            )
        return super().info(name)

    # -- reading --------------------------------------------------------------------------------

    def read(self, name: str, index: Index | None = None) -> np.ndarray:
        """Constants stored as `tensor_content` come back as read-only views of the file."""
        self.info(name)
        constant = self._constants[name]
        values = self._decode(constant)
        return values if index is None else values[as_index(index)]

    def _decode(self, constant: Constant) -> np.ndarray:
        dtype, shape = constant.dtype, constant.shape
        where = f"Const {constant.name!r}"
        try:
            if constant.content is not None and dtype.is_fixed_size:
                start, end = constant.content
                expected = math.prod(shape) * dtype.itemsize
                if end - start != expected:
                    raise CheckpointError(
                        f"{where} holds {end - start:,} bytes of tensor_content where a "
                        f"{dtype.name} tensor of shape {list(shape)} needs {expected:,}",
                        self.prefix,
                    )
                flat = np.frombuffer(self._data, dtype.numpy, math.prod(shape), start)
                return flat.reshape(shape)
            start, end = constant.tensor
            proto = protos.TensorProto.FromString(bytes(self._view[start:end]))
            return tensor_proto.to_numpy(proto)
        except ProtobufDecodeError:
            raise CheckpointError(f"{where}: its value is not a TensorProto", self.prefix) from None
        except CheckpointError as exc:
            if exc.path == self.prefix:
                raise
            raise CheckpointError(f"{where}: {exc.message}", self.prefix) from None

    def checksum_problem(self, name: str) -> str | None:
        """A graph stores no checksums: this decodes the constant, and says why it cannot be."""
        self.info(name)
        try:
            self._decode(self._constants[name])
        except CheckpointError as exc:
            return exc.message
        return None

    def verify(self, progress: Callable[[int, int], None] | None = None) -> list[ChecksumProblem]:
        """Decode every constant (a graph has no checksums to check)."""
        problems = problems_of_each_tensor(self, progress)
        for name, why in sorted(self._unreadable.items()):
            problems.append(ChecksumProblem(name, f"no array holds its {why}"))
        return problems


def frozen_variable_name(name: str) -> str:
    """The name of the variable a Const was frozen from: without the `import/` prefix that
    `tf.import_graph_def` adds and the `/read` suffix some freezers keep."""
    name = name.removeprefix("import/")
    return name.removesuffix("/read") if name.endswith("/read") and name != "/read" else name


def _info(constant: Constant) -> TensorInfo:
    dtype, shape = constant.dtype, constant.shape
    if dtype.is_fixed_size:
        nbytes = math.prod(shape) * dtype.itemsize
    else:
        nbytes = constant.tensor[1] - constant.tensor[0]
    kind = TensorKind.VARIABLE if is_weight(dtype, shape) else TensorKind.CONSTANT
    return TensorInfo(
        name=constant.name,
        dtype=dtype,
        shape=shape,
        nbytes=nbytes,
        shard=0,
        kind=kind,
        readable_name=frozen_variable_name(constant.name),
    )
