"""TensorProto decoding, checked against TensorFlow's C++ reader (`tf.io.parse_tensor`)."""

from __future__ import annotations

import ml_dtypes
import numpy as np
import pytest
from tf_checkpoints import import_tensorflow

from ckpt_browser.format import CheckpointError, protos
from ckpt_browser.format.graph.tensor_proto import describe, dtype_name, shape_of, to_numpy


def tf_proto(dtype: int, shape: list[int], **fields):
    """A TensorProto built with TensorFlow's own message class."""
    import_tensorflow()
    from tensorflow.core.framework import tensor_pb2, tensor_shape_pb2

    dims = [tensor_shape_pb2.TensorShapeProto.Dim(size=size) for size in shape]
    proto = tensor_pb2.TensorProto(
        dtype=dtype, tensor_shape=tensor_shape_pb2.TensorShapeProto(dim=dims)
    )
    for name, values in fields.items():
        if isinstance(values, bytes):
            setattr(proto, name, values)
        else:
            getattr(proto, name).extend(values)
    return proto


def decode_both(their_proto) -> tuple[np.ndarray, np.ndarray]:
    """(ours, TensorFlow C++'s) decoding of the same serialized TensorProto."""
    tf = import_tensorflow()
    data = their_proto.SerializeToString()
    ours = to_numpy(protos.TensorProto.FromString(data))
    theirs = tf.io.parse_tensor(data, tf.dtypes.as_dtype(their_proto.dtype)).numpy()
    return ours, theirs


def assert_same(ours: np.ndarray, theirs: np.ndarray) -> None:
    assert ours.shape == theirs.shape
    if ours.dtype == object:
        assert ours.tolist() == theirs.tolist()
        return
    if ours.dtype in (np.dtype(ml_dtypes.int4), np.dtype(ml_dtypes.uint4)):
        # Values, not bytes: the unused high bits of a 4-bit integer differ between libraries.
        assert theirs.dtype == ours.dtype
        assert ours.astype(np.int8).tolist() == theirs.astype(np.int8).tolist()
        return
    assert ours.dtype.itemsize == theirs.dtype.itemsize
    assert ours.tobytes() == np.ascontiguousarray(theirs).tobytes()


# Arrays TensorFlow turns into protos itself (tensor_content for most, typed fields for others).
ARRAYS = [
    np.arange(12, dtype=np.float32).reshape(3, 4),
    np.array(2.5, dtype=np.float64),
    np.array([[1, -2], [3, -4]], dtype=np.int32),
    np.array([1, 2, 250], dtype=np.uint8),
    np.array([-5, 5], dtype=np.int16),
    np.array([-5, 5], dtype=np.int8),
    np.array([1 << 40, -3], dtype=np.int64),
    np.array([True, False, True]),
    np.array([1 + 2j, -3j], dtype=np.complex64),
    np.array([[1 + 2j]], dtype=np.complex128),
    np.array([0.5, -1.5, 65504], dtype=np.float16),
    np.array([1.5, -2.25], dtype=ml_dtypes.bfloat16),
    np.array([7, 1 << 31], dtype=np.uint32),
    np.array([1 << 63], dtype=np.uint64),
    np.array([0.5, -2], dtype=ml_dtypes.float8_e4m3fn),
    np.array([0.5, -2], dtype=ml_dtypes.float8_e5m2),
    np.array([-8, 7, 0], dtype=ml_dtypes.int4),
    np.zeros((0, 3), dtype=np.float32),
]


@pytest.mark.parametrize("array", ARRAYS, ids=lambda a: f"{a.dtype}{list(a.shape)}")
def test_tensorflow_made_protos(array):
    tf = import_tensorflow()
    ours, theirs = decode_both(tf.make_tensor_proto(array))
    assert_same(ours, theirs)
    assert_same(ours, array)


def test_strings():
    tf = import_tensorflow()
    values = np.array([[b"a", b""], [b"\x00\xff", "é".encode()]], dtype=object)
    ours, theirs = decode_both(tf.make_tensor_proto(values))
    assert ours.dtype == object
    assert ours.tolist() == values.tolist() == theirs.tolist()


@pytest.mark.parametrize(
    ("dtype", "shape", "fields"),
    [
        (1, [2, 3], {"float_val": [1, 2]}),  # the last value repeats
        (1, [2], {"float_val": [1, 2, 3]}),  # extra values are ignored
        (1, [3], {}),  # no value means zeros
        (3, [], {"int_val": [9]}),
        (7, [3], {"string_val": [b"x"]}),
        (7, [2], {}),
        (10, [4], {"bool_val": [False, True]}),
        (19, [3], {"half_val": [0x3C00]}),  # float16 1.0
        (14, [2, 2], {"half_val": [0x3F80, 0x4000]}),  # bfloat16 1.0, 2.0
        (8, [3], {"scomplex_val": [1, 2, 3, 4]}),
        (29, [3], {"int_val": [-3, 7]}),  # int4
        (24, [3], {"float8_val": b"\x01\x02"}),
        (4, [2], {"int_val": [-1, 300]}),  # uint8 wraps around as in C++
        (11, [2], {"int_val": [-1, 300]}),  # qint8
        (9, [2, 2], {"int64_val": [-(1 << 40)]}),
        (22, [2], {"uint32_val": [4000000000]}),
        (23, [1], {"uint64_val": [1 << 63]}),
    ],
)
def test_typed_fields_fill_as_tensorflow_does(dtype, shape, fields):
    assert_same(*decode_both(tf_proto(dtype, shape, **fields)))


def test_a_splat_constant_in_a_graph():
    tf = import_tensorflow()
    proto = tf.make_tensor_proto(7, shape=[300, 4], dtype=tf.int32)
    assert len(proto.int_val) == 1 and not proto.tensor_content
    ours, theirs = decode_both(proto)
    assert_same(ours, theirs)
    assert (ours == 7).all()


def test_bad_tensors_are_checkpoint_errors():
    wrong_size = tf_proto(1, [3], tensor_content=b"\x00" * 8)
    huge = tf_proto(1, [1 << 20, 1 << 20], float_val=[1.0])
    resource = tf_proto(20, [])
    for proto in (wrong_size, huge, resource):
        with pytest.raises(CheckpointError):
            to_numpy(protos.TensorProto.FromString(proto.SerializeToString()))
    unknown_rank = protos.TensorProto(dtype=1)
    unknown_rank.tensor_shape.unknown_rank = True
    with pytest.raises(CheckpointError):
        to_numpy(unknown_rank)


def test_names_shapes_and_descriptions():
    tf = import_tensorflow()
    for enum in (1, 7, 14, 20, 101, 114):
        assert dtype_name(enum) == tf.dtypes.as_dtype(enum).name
    shape = protos.TensorShapeProto()
    shape.dim.add(size=-1)
    shape.dim.add(size=3)
    assert shape_of(shape) == (-1, 3)
    assert shape_of(protos.TensorShapeProto(unknown_rank=True)) is None

    def ours(value, **kwargs):
        data = tf.make_tensor_proto(value, **kwargs).SerializeToString()
        return describe(protos.TensorProto.FromString(data))

    assert ours(np.float32(0.1)) == "float32 scalar 0.1"
    assert ours(np.array([1, 2], np.int32)) == "int32[2] [1, 2]"
    assert ours(np.zeros((3, 4), np.float32)) == "float32[3,4]"
    assert ours(b"abc") == "string scalar b'abc'"
