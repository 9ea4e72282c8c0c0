"""Legacy V1 seeds for the fuzz corpus: two small checkpoints written by TensorFlow's V1 Saver.

`model.ckpt-7` (one file, opened as a file) holds a tensor of each kind of V1 value field (float,
double, half, the varint integers, bool, string, complex, a quantized int), scalars, an empty
tensor and two partitioned variables, one split along rows and one along columns. The sharded
set `model.ckpt-3-0000{0,1}-of-00002` (opened through its directory's `checkpoint` file) spreads
the parts of a partitioned variable over both files. Both take about a second to write.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from tf_checkpoints import import_tensorflow


def _values() -> dict[str, np.ndarray]:
    """A few values of each dtype, with the ones readers get wrong: NaN, infinities, subnormal
    halves, integer extremes, empty and binary strings."""
    half_bits = [0x3800, 0xC000, 0x7BFF, 0x7C00, 0x0001, 0x7E01, 0x8000]
    return {
        "w": np.arange(6, dtype=np.float32).reshape(2, 3) - 2.5,
        "f64": np.array([1e300, -0.0, np.nan], np.float64),
        "f16": np.array(half_bits, np.uint16).view(np.float16),
        "i8": np.array([-128, -1, 0, 127], np.int8),
        "u16": np.array([0, 1, 65535], np.uint16),
        "i64": np.array([[-(2**63), 2**63 - 1], [0, -1]], np.int64),
        "flags": np.array([True, False, True]),
        "words": np.array([b"hello", b"", b"\x00\xff bin", "\u00fcn\u00ef".encode()], object),
        "c64": np.array([1 + 2j, -0.5j], np.complex64),
        "scalar/f32": np.array(0.25, np.float32),
        "scalar/words": np.array(b"one", object),
        "empty": np.zeros((0, 3), np.float32),
    }


def _partition_of(value: np.ndarray):
    def initializer(shape, dtype=None, partition_info=None):
        offset = partition_info.var_offset if partition_info else [0] * value.ndim
        return value[tuple(slice(o, o + n) for o, n in zip(offset, shape, strict=True))]

    return initializer


def _partitioned(v1, name: str, value: np.ndarray, parts: int, axis: int):
    return v1.get_variable(
        name,
        shape=value.shape,
        dtype=value.dtype,
        initializer=_partition_of(value),
        partitioner=v1.fixed_size_partitioner(parts, axis=axis),
    )


def make_v1_unsharded(directory: Path) -> str:
    """`model.ckpt-7` from `Saver(write_version=V1, sharded=False)` (and a relative `checkpoint`
    file); its path."""
    tf = import_tensorflow()
    v1 = tf.compat.v1
    directory.mkdir(parents=True, exist_ok=True)
    with tf.Graph().as_default(), v1.Session() as session:
        step = v1.train.get_or_create_global_step()
        for name, value in _values().items():
            initial = tf.constant(value, dtype=tf.string if value.dtype == object else None)
            v1.Variable(initial, name=name, use_resource=False)
        quantized = tf.bitcast(tf.constant(np.array([-128, 0, 127], np.int8)), tf.qint8)
        v1.Variable(quantized, name="q8", use_resource=False)  # no resource kernels for qint8
        _partitioned(v1, "pv", np.arange(10, dtype=np.float32).reshape(5, 2), 2, 0)
        _partitioned(v1, "cols", np.arange(-6, 6, dtype=np.int32).reshape(3, 4), 2, 1)
        session.run(v1.global_variables_initializer())
        session.run(step.assign(7))
        saver = v1.train.Saver(
            write_version=v1.train.SaverDef.V1, sharded=False, save_relative_paths=True
        )
        return saver.save(session, str(directory / "model.ckpt"), global_step=7)


def make_v1_sharded(directory: Path) -> str:
    """`model.ckpt-3-0000{0,1}-of-00002` from a sharded V1 Saver over two CPU devices, with a
    relative `checkpoint` file; the glob save() returns."""
    tf = import_tensorflow()
    v1 = tf.compat.v1
    directory.mkdir(parents=True, exist_ok=True)

    def by_part(op) -> str:
        return op.device or ("/cpu:1" if "/part_1" in op.name else "/cpu:0")

    two_cpus = v1.ConfigProto(device_count={"CPU": 2})
    with tf.Graph().as_default(), v1.Session(config=two_cpus) as session, v1.device(by_part):
        step = v1.train.get_or_create_global_step()
        _partitioned(v1, "pv", np.linspace(-1, 1, 12).reshape(6, 2), 3, 0)
        v1.get_variable("first/w", initializer=np.array([1.5, -2.5], np.float32))
        with tf.device("/cpu:1"):
            v1.Variable(tf.constant([b"on", b"", b"cpu:1"]), name="second/words")
        session.run(v1.global_variables_initializer())
        session.run(step.assign(3))
        saver = v1.train.Saver(
            write_version=v1.train.SaverDef.V1, sharded=True, save_relative_paths=True
        )
        return saver.save(session, str(directory / "model.ckpt"), global_step=3)
