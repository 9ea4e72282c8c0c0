"""Legacy V1 ("tensor slice") checkpoints written by TensorFlow: the oracle of the V1 format tests.

Like `tf_checkpoints.py`, each `make_*` function fills a directory and returns a frozen dataclass
of paths and expected values; `tests/conftest.py` makes them session fixtures. The files come
from `tf.compat.v1.train.Saver(write_version=V1)` in graph mode and from the raw `SaveSlices` op.

Expected values are what TensorFlow restores from the written files with `tf.raw_ops.RestoreV2`,
which falls back to the V1 reader and, unlike `load_checkpoint(...).get_tensor`, handles half,
complex, uint16, quantized and multi-slice tensors. Quantized tensors are given as their storage
integers (qint8 -> int8), strings as object arrays of bytes, as the browser reads them.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tf_checkpoints import QUANTIZED_STORAGE, import_tensorflow

# --- restoring with TensorFlow ------------------------------------------------------------------


def restore_with_tf(path: str, names: Iterable[str] | None = None) -> dict[str, np.ndarray]:
    """The values TensorFlow restores from the V1 checkpoint `path` (a file, glob or V2 prefix),
    every tensor it lists unless `names` says which."""
    tf = import_tensorflow()
    dtypes = tf.train.load_checkpoint(path).get_variable_to_dtype_map()
    names = sorted(dtypes) if names is None else list(names)
    restored = tf.raw_ops.RestoreV2(
        prefix=path,
        tensor_names=names,
        shape_and_slices=[""] * len(names),
        dtypes=[dtypes[name] for name in names],
    )
    return {name: _as_numpy(tf, tensor) for name, tensor in zip(names, restored, strict=True)}


def assert_same_bits(actual: np.ndarray, expected: np.ndarray) -> None:
    """Equal dtype, shape and bytes: NaN payloads, -0.0 and subnormals must survive exactly.

    An element of a string tensor (`bytes`, as numpy indexing gives it) compares as is."""
    if isinstance(expected, bytes):
        assert isinstance(actual, bytes) and actual == expected, (actual, expected)
        return
    assert actual.dtype == expected.dtype, (actual.dtype, expected.dtype)
    assert actual.shape == expected.shape, (actual.shape, expected.shape)
    if expected.dtype == object:
        assert actual.tolist() == expected.tolist()
    else:
        assert np.ascontiguousarray(actual).tobytes() == np.ascontiguousarray(expected).tobytes()


def assert_regions_read_like_numpy(ckpt, name: str, value: np.ndarray) -> None:
    """`ckpt.read(name, index)` equals `value[index]` bit for bit for a few kinds of index:
    a range, a negative step, a negative integer and a column."""
    if value.ndim == 0:
        assert_same_bits(ckpt.read(name, ()), value[()])
        return
    assert_same_bits(ckpt.read(name, (slice(1, 3),)), value[1:3])
    assert_same_bits(ckpt.read(name, (slice(None, None, -2),)), value[::-2])
    if value.shape[0]:
        assert_same_bits(ckpt.read(name, (-1,)), value[-1])
    if value.ndim >= 2 and value.shape[0] and value.shape[1]:
        last = value.shape[1] - 1
        assert_same_bits(ckpt.read(name, (slice(None), last)), value[:, last])


def _as_numpy(tf, tensor) -> np.ndarray:
    """A restored tensor as the browser gives it: storage integers, object arrays of bytes."""
    if tensor.dtype.name in QUANTIZED_STORAGE:
        tensor = tf.bitcast(tensor, tf.as_dtype(QUANTIZED_STORAGE[tensor.dtype.name]))
    if tensor.dtype == tf.string:
        return np.array(tensor.numpy(), dtype=object)
    return np.asarray(tensor.numpy())


# --- one file, every dtype ----------------------------------------------------------------------

V1_DTYPES = (
    "float32",
    "float64",
    "float16",
    "int8",
    "int16",
    "int32",
    "int64",
    "uint8",
    "uint16",
    "bool",
    "string",
    "complex64",
    "complex128",
    "qint8",
    "quint8",
    "qint32",
)


def _bits(values: list[int], bits_type, float_type) -> np.ndarray:
    return np.array(values, bits_type).view(float_type)


def _dtype_values() -> dict[str, np.ndarray]:
    """One tensor per dtype V1 can hold (`dtypes/<name>`), with the values that break readers:
    NaN payloads, infinities, -0.0, subnormals, integer extremes, empty and binary strings."""
    values = {
        # quiet NaN with a payload, negative NaN, +-inf, -0.0, smallest subnormal, 1.0, max
        "float32": _bits(
            [0x7FC00001, 0xFFC00000, 0x7F800000, 0xFF800000, 0x80000000, 1, 0x3F800000, 0x7F7FFFFF],
            np.uint32,
            np.float32,
        ).reshape(2, 4),
        "float64": _bits(
            [0x7FF8000000000001, 0xFFF8000000000000, 0x7FF0000000000000, 0x8000000000000000, 1],
            np.uint64,
            np.float64,
        ),
        # 0.5, -2, 65504, inf, -inf, smallest and largest subnormal, NaN payload, -0.0, -NaN
        "float16": _bits(
            [0x3800, 0xC000, 0x7BFF, 0x7C00, 0xFC00, 0x0001, 0x03FF, 0x7E01, 0x8000, 0xFE00],
            np.uint16,
            np.float16,
        ).reshape(2, 5),
        "bool": np.array([[True, False, True], [True, False, False]]),
        "string": np.array([b"hello", b"", b"\x00\xff bin", "ünï".encode(), b"\x00"], object),
        "complex64": np.array([1 + 2j, -0.5j, np.inf - 1j, 3.25], np.complex64),
        "complex128": np.array([[1e300 + 1e-300j, -1 - 1j], [0j, np.nan + 2j]]),
    }
    for name in ("int8", "int16", "int32", "int64", "uint8", "uint16"):
        info = np.iinfo(name)
        values[name] = np.array([info.min, info.max, 0, 1, -1 if info.min else 2, info.max // 3])
        values[name] = values[name].astype(name)
    for name, storage in QUANTIZED_STORAGE.items():
        if name in V1_DTYPES:  # the V1 writer refuses qint16 and quint16
            info = np.iinfo(storage)
            values[name] = np.array([info.min, 0, 1, info.max], storage)
    return values


@dataclass(frozen=True)
class V1Ckpt:
    """An unsharded V1 Saver checkpoint `model.ckpt-7` (+ `.meta`, `checkpoint`), and its V2 twin.

    Holds `dtypes/<name>` for every V1 dtype, scalars, zero-element tensors, a 2-D and a 4-D
    variable trained one step with Adam and averaged by an EMA, and `big`, a tensor large enough
    (> 512 KiB) to sit alone in its own table block.
    """

    directory: Path
    path: str  # the V1 file, <directory>/model.ckpt-7
    meta_path: Path
    step: int
    v2_prefix: str  # the same variables and values saved by a V2 Saver, in another directory
    expected: Mapping[str, np.ndarray]  # every tensor, as RestoreV2 restores it
    dtype_names: Mapping[str, str]  # TensorFlow's dtype name of each tensor ("qint8", "half")
    model_variables: tuple[str, ...]
    optimizer_slots: tuple[str, ...]  # x/Adam, x/Adam_1, beta1_power, beta2_power
    ema_shadows: tuple[str, ...]
    counters: tuple[str, ...]  # global_step
    slot_of: Mapping[str, str]  # Adam slot -> its variable
    big: str  # the name of the tensor alone in its block


def make_v1_ckpt(directory: Path) -> V1Ckpt:
    """A graph-mode Saver(write_version=V1, sharded=False) at step 7, then a V2 Saver beside."""
    tf = import_tensorflow()
    v1 = tf.compat.v1
    v1_dir, v2_dir = directory / "v1", directory / "v2"
    v1_dir.mkdir(parents=True, exist_ok=True)
    v2_dir.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(13)
    step = 7
    with tf.Graph().as_default(), v1.Session() as session:
        global_step = v1.train.get_or_create_global_step()
        with v1.variable_scope("dtypes"):
            for name, value in _dtype_values().items():
                initial = tf.constant(value, dtype=tf.string if name == "string" else None)
                if name in QUANTIZED_STORAGE:
                    initial = tf.bitcast(initial, tf.as_dtype(name))
                # Ref variables: there are no resource-variable kernels for the quantized types.
                v1.Variable(initial, name=name, use_resource=False)
        with v1.variable_scope("scalar"):
            v1.Variable(tf.constant(b"a scalar string"), name="string")
            v1.Variable(np.float16(-1.5), name="float16")
        with v1.variable_scope("empty"):
            v1.Variable(np.zeros((0, 3), np.float32), name="float32")
            v1.Variable(np.zeros((2, 0), np.int64), name="int64")
            v1.Variable(tf.constant([], dtype=tf.string), name="string")
        v1.Variable(rng.normal(size=(520, 256)).astype(np.float32), name="big")

        inputs = tf.constant(rng.normal(size=(5, 4, 3, 2)).astype(np.float32))
        with v1.variable_scope("conv"):
            conv_kernel = v1.get_variable("kernel", initializer=rng.normal(size=(2, 3, 2, 4)))
        with v1.variable_scope("dense"):
            dense_kernel = v1.get_variable("kernel", initializer=rng.normal(size=(4, 3)))
            dense_bias = v1.get_variable("bias", initializer=np.zeros(3))
        features = tf.nn.conv2d(tf.cast(inputs, tf.float64), conv_kernel, 1, "VALID")
        hidden = tf.reduce_mean(features, axis=[1, 2])
        loss = tf.reduce_mean(tf.square(tf.matmul(hidden, dense_kernel) + dense_bias))
        trained = [conv_kernel, dense_kernel, dense_bias]
        optimizer = v1.train.AdamOptimizer(0.01)
        minimize = optimizer.minimize(loss, var_list=trained)
        ema = tf.train.ExponentialMovingAverage(0.9)
        with tf.control_dependencies([minimize]):
            train_op = ema.apply(trained)

        session.run(v1.global_variables_initializer())
        session.run(train_op)
        session.run(global_step.assign(step))
        write_version = v1.train.SaverDef
        saver_v1 = v1.train.Saver(write_version=write_version.V1, sharded=False)
        path = saver_v1.save(session, str(v1_dir / "model.ckpt"), global_step=step)
        saver_v2 = v1.train.Saver(write_version=write_version.V2)
        v2_prefix = saver_v2.save(session, str(v2_dir / "model.ckpt"), global_step=step)

        def op_name(variable) -> str:
            return variable.name.split(":")[0]

        slot_of = {
            op_name(optimizer.get_slot(variable, slot)): op_name(variable)
            for variable in trained
            for slot in optimizer.get_slot_names()
        }
        optimizer_slots = tuple(op_name(v) for v in optimizer.variables())
        ema_shadows = tuple(ema.average_name(v) for v in trained)
        model_variables = tuple(op_name(v) for v in trained)

    tf_dtypes = tf.train.load_checkpoint(path).get_variable_to_dtype_map()
    return V1Ckpt(
        directory=v1_dir,
        path=path,
        meta_path=Path(path + ".meta"),
        step=step,
        v2_prefix=v2_prefix,
        expected=restore_with_tf(path),
        dtype_names={name: dtype.name for name, dtype in tf_dtypes.items()},
        model_variables=model_variables,
        optimizer_slots=optimizer_slots,
        ema_shadows=ema_shadows,
        counters=(op_name(global_step),),
        slot_of=slot_of,
        big="big",
    )


# --- sharded over two devices, partitioned variables --------------------------------------------


@dataclass(frozen=True)
class ShardedV1Ckpt:
    """A sharded V1 Saver checkpoint over two CPU devices: `model.ckpt-3-0000{0,1}-of-00002`.

    The parts of each partitioned variable alternate between the devices (part 1 on the second),
    so each partitioned name is stored in both files.
    """

    directory: Path
    glob: str  # <directory>/model.ckpt-3-?????-of-00002, as save() returns and `checkpoint` names
    shard_files: tuple[str, ...]
    meta_path: Path
    step: int
    expected: Mapping[str, np.ndarray]  # every tensor, partitioned ones whole
    partitions: Mapping[str, tuple[str, ...]]  # partitioned name -> its slice specs, part order
    names_in_shard: tuple[frozenset[str], ...]  # what TensorFlow lists in each file on its own


_PARTITIONED = {  # name -> (value, axis split by fixed_size_partitioner(3))
    "pv": (np.arange(40, dtype=np.float32).reshape(10, 4), 0),
    "emb/table": (np.linspace(-1, 1, 600).reshape(200, 3), 0),
    "wide": (np.arange(-18, 18, dtype=np.int64).reshape(4, 9), 1),
}


def _partition_of(value: np.ndarray):
    """An initializer giving each part of a partitioned variable its part of `value`."""

    def initializer(shape, dtype=None, partition_info=None):
        offset = partition_info.var_offset if partition_info else [0] * value.ndim
        return value[tuple(slice(o, o + n) for o, n in zip(offset, shape, strict=True))]

    return initializer


def make_v1_sharded_ckpt(directory: Path) -> ShardedV1Ckpt:
    """Saver(write_version=V1, sharded=True) in a session with two CPU devices, at step 3.

    `pv` [10,4] and `emb/table` [200,3] are split by `fixed_size_partitioner(3)` along rows
    (200 rows give 67,67,66: extents >= 64 take two bytes in the keys), `wide` [4,9] int64
    along columns.
    """
    tf = import_tensorflow()
    v1 = tf.compat.v1
    directory.mkdir(parents=True, exist_ok=True)
    step = 3
    two_cpus = v1.ConfigProto(device_count={"CPU": 2})

    def by_part(op) -> str:
        """Part 1 of every partitioned variable on the second device, everything else on the
        first (an op's own `tf.device` wins)."""
        return op.device or ("/cpu:1" if "/part_1" in op.name else "/cpu:0")

    with tf.Graph().as_default(), v1.Session(config=two_cpus) as session, v1.device(by_part):
        global_step = v1.train.get_or_create_global_step()
        partitioned = {
            name: v1.get_variable(
                name,
                shape=value.shape,
                dtype=value.dtype,
                initializer=_partition_of(value),
                partitioner=v1.fixed_size_partitioner(3, axis=axis),
            )
            for name, (value, axis) in _PARTITIONED.items()
        }
        v1.get_variable("first/w", initializer=np.array([1.5, -2.5, 3.5], np.float32))
        with tf.device("/cpu:1"):
            v1.get_variable("second/v", initializer=np.eye(2))
            v1.Variable(tf.constant([b"on", b"", b"cpu:1"]), name="second/words")
        session.run(v1.global_variables_initializer())
        session.run(global_step.assign(step))
        saver = v1.train.Saver(write_version=v1.train.SaverDef.V1, sharded=True)
        glob = saver.save(session, str(directory / "model.ckpt"), global_step=step)
        partitions = {
            name: tuple(part._save_slice_info.spec.split(" ")[-1] for part in variable)
            for name, variable in partitioned.items()
        }

    tf_reader = tf.train.load_checkpoint
    shard_files = tuple(f"{directory}/model.ckpt-{step}-{i:05d}-of-00002" for i in range(2))
    return ShardedV1Ckpt(
        directory=directory,
        glob=glob,
        shard_files=shard_files,
        meta_path=directory / f"model.ckpt-{step}.meta",
        step=step,
        expected=restore_with_tf(glob),
        partitions=partitions,
        names_in_shard=tuple(
            frozenset(tf_reader(file).get_variable_to_shape_map()) for file in shard_files
        ),
    )


# --- hand-made slices ---------------------------------------------------------------------------


@dataclass(frozen=True)
class SlicesV1Ckpt:
    """One file written by the raw `SaveSlices` op, with slice specs no Saver writes."""

    path: str
    expected: Mapping[str, np.ndarray]
    slices: Mapping[str, tuple[str, ...]]  # tensor -> the specs it was saved as, in order


# name -> (full value, [slice spec]); "" saves the whole tensor as one full-extent slice
_SLICED = {
    "cols": (np.arange(20, dtype=np.float32).reshape(4, 5), ["-:0,1", "-:1,2", "-:3,2"]),
    "cube": (np.arange(-12, 12, dtype=np.int32).reshape(3, 4, 2), ["-:1,3:-", "-:0,1:-"]),
    "mixed": (np.arange(30, dtype=np.float64).reshape(5, 6), ["0,2:-", "2,3:0,4", "2,3:4,2"]),
    "halves": (np.arange(8, dtype=np.float16).reshape(4, 2) - 3.5, ["-:1,1", "-:0,1"]),
    "flags": (
        np.array([[True, False, True], [False, False, True]]),
        ["0,1:-", "1,1:0,2", "1,1:2,1"],
    ),
    "words": (
        np.array([[b"a", b""], [b"\x00", b"\xff"], [b"ccc", b"d"]], object),
        ["0,2:-", "2,1:-"],
    ),
    "pairs": (np.array([1 + 2j, -3j, 4, 0.5 - 0.5j], np.complex64), ["2,2", "0,2"]),
    "esc\x00name\x01end": (np.array([1.5, 2.5], np.float32), [""]),
    "ünï/w": (np.array([b"x", b"\xff"], object), [""]),
    "scalar": (np.array(-3, np.int64), [""]),
}


def _slice_of(value: np.ndarray, spec: str) -> np.ndarray:
    """`value[spec]` for a slice spec such as `-:1,2:-` (`-` is the whole dimension)."""
    if not spec:
        return value
    index = []
    for extent in spec.split(":"):
        if extent == "-":
            index.append(slice(None))
        else:
            start, length = map(int, extent.split(","))
            index.append(slice(start, start + length))
    return value[tuple(index)]


def make_v1_slices_ckpt(directory: Path) -> SlicesV1Ckpt:
    """`SaveSlices` of tensors stored as several slices mixing full and explicit extents (out of
    order, too), plus whole tensors whose names need escaping in the keys."""
    tf = import_tensorflow()
    directory.mkdir(parents=True, exist_ok=True)
    names, specs, data = [], [], []
    for name, (value, slices) in _SLICED.items():
        for spec in slices:
            names.append(name)
            specs.append(" ".join([*map(str, value.shape), spec]) if spec else "")
            part = _slice_of(value, spec)
            data.append(tf.constant(part, dtype=tf.string if part.dtype == object else None))
    path = str(directory / "slices.ckpt")
    tf.raw_ops.SaveSlices(filename=path, tensor_names=names, shapes_and_slices=specs, data=data)
    return SlicesV1Ckpt(
        path=path,
        expected=restore_with_tf(path),
        slices={name: tuple(slices) for name, (_, slices) in _SLICED.items()},
    )


# --- a directory of V1 and V2 saves -------------------------------------------------------------


@dataclass(frozen=True)
class MixedHistoryDir:
    """Steps 1 and 2 saved as V1, step 3 as V2, all listed by the directory's `checkpoint` file,
    as when a training job moved from an old TensorFlow to a newer one."""

    directory: Path
    paths: tuple[str, ...]  # oldest first: two V1 files, then a V2 prefix
    steps: tuple[int, ...]
    versions: tuple[int, ...]  # 1 or 2, per path
    expected: Mapping[int, Mapping[str, np.ndarray]]  # step -> every tensor's value


def make_v1_mixed_dir(directory: Path) -> MixedHistoryDir:
    tf = import_tensorflow()
    v1 = tf.compat.v1
    directory.mkdir(parents=True, exist_ok=True)
    steps, versions = (1, 2, 3), (1, 1, 2)
    prefix = str(directory / "model.ckpt")
    with tf.Graph().as_default(), v1.Session() as session:
        global_step = v1.train.get_or_create_global_step()
        weights = v1.get_variable("w", initializer=np.zeros((2, 3), np.float32))
        session.run(v1.global_variables_initializer())
        saver_v1 = v1.train.Saver(write_version=v1.train.SaverDef.V1, max_to_keep=5)
        saver_v2 = v1.train.Saver(write_version=v1.train.SaverDef.V2, max_to_keep=5)
        paths = []
        for step, version in zip(steps, versions, strict=True):
            session.run([global_step.assign(step), weights.assign(np.full((2, 3), step / 4))])
            if version == 2:  # the new Saver keeps the old one's saves in the state file
                saver_v2.recover_last_checkpoints(paths)
            saver = saver_v1 if version == 1 else saver_v2
            paths.append(saver.save(session, prefix, global_step=step))
    return MixedHistoryDir(
        directory=directory,
        paths=tuple(paths),
        steps=steps,
        versions=versions,
        expected={step: restore_with_tf(path) for step, path in zip(steps, paths, strict=True)},
    )
