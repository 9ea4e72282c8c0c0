"""Real checkpoints written by TensorFlow, the oracle of the format tests: raw bundles.

Every `make_*` function takes a directory, makes one kind of checkpoint with tensorflow-cpu and
returns a small frozen dataclass with the paths and the values a test compares against;
`tests/conftest.py` wraps them in session fixtures so each is made once per run. This module
writes bundles directly with TensorFlow's SaveV2 and MergeV2Checkpoints ops (every dtype, shards,
thousands of names); `tf_training_checkpoints.py` makes the ones that training code writes (TF1
Saver, TF2 Checkpoint, SavedModel, frozen graph). TensorFlow is imported inside the functions: it
takes seconds to load and the package under test must never need it.

TensorFlow 2.21 can save every fixed-size dtype it knows, including int2, uint2 and float4_e2m1fn;
`make_all_dtypes_ckpt` records any that an older TensorFlow cannot in `skipped_dtypes`.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

import ml_dtypes
import numpy as np

QUANTIZED_STORAGE = {
    "qint8": np.int8,
    "quint8": np.uint8,
    "qint16": np.int16,
    "quint16": np.uint16,
    "qint32": np.int32,
}


def import_tensorflow() -> ModuleType:
    """Import TensorFlow with its start-up chatter turned off."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")
    import tensorflow as tf

    tf.get_logger().setLevel("ERROR")  # e.g. the Saver's deprecation notice when it deletes
    return tf


def _as_tf_tensor(tf: ModuleType, value: np.ndarray, dtype_name: str | None = None):
    """A TensorFlow constant of `value`; `dtype_name` "qint8" etc. reinterprets integer storage."""
    array = np.asarray(value)
    if array.dtype == object or array.dtype.kind in "SU":
        return tf.constant(array, dtype=tf.string)
    tensor = tf.constant(array)
    if dtype_name is not None and dtype_name != array.dtype.name:
        tensor = tf.bitcast(tensor, tf.as_dtype(dtype_name))
    return tensor


def write_with_tf(
    prefix: str | os.PathLike[str],
    tensors: Mapping[str, np.ndarray],
    dtype_names: Mapping[str, str] | None = None,
) -> str:
    """Write `tensors` as one V2 checkpoint at `prefix` with TensorFlow's own SaveV2 op.

    Object or bytes arrays are saved as DT_STRING; `dtype_names` may name a quantized type
    ("qint8", ...) for an integer array of the same width. Returns the prefix as a string.
    """
    tf = import_tensorflow()
    dtype_names = dtype_names or {}
    names = list(tensors)
    tf.raw_ops.SaveV2(
        prefix=str(prefix),
        tensor_names=names,
        shape_and_slices=[""] * len(names),
        tensors=[_as_tf_tensor(tf, tensors[name], dtype_names.get(name)) for name in names],
    )
    return str(prefix)


# --- every dtype --------------------------------------------------------------------------------


@dataclass(frozen=True)
class AllDtypesCkpt:
    """One SaveV2 checkpoint with a tensor of every dtype TensorFlow can save, and edge shapes."""

    prefix: str
    expected: Mapping[str, np.ndarray]  # as numpy sees it: ml_dtypes, object arrays of bytes
    dtype_names: Mapping[str, str]  # TensorFlow's dtype name of each tensor ("qint8", "float32")
    skipped_dtypes: tuple[str, ...]  # dtypes this TensorFlow cannot save


LOW_PRECISION_DTYPES = (
    "float8_e5m2",
    "float8_e4m3fn",
    "float8_e4m3fnuz",
    "float8_e4m3b11fnuz",
    "float8_e5m2fnuz",
    "int4",
    "uint4",
    "int2",
    "uint2",
    "float4_e2m1fn",
)


def _all_dtypes_tensors(rng: np.random.Generator) -> dict[str, np.ndarray]:
    """The values of `make_all_dtypes_ckpt`, keyed by tensor name (plain numpy dtypes)."""
    tensors: dict[str, np.ndarray] = {
        "float16": rng.normal(size=(2, 3)).astype(np.float16),
        "float32": rng.normal(size=(2, 3, 4)).astype(np.float32),
        "float64": rng.normal(size=(5,)),
        "bfloat16": rng.normal(size=(4, 2)).astype(ml_dtypes.bfloat16),
        "bool": np.array([[True, False, True], [False, False, True]]),
        "complex64": (rng.normal(size=4) + 1j * rng.normal(size=4)).astype(np.complex64),
        "complex128": rng.normal(size=(2, 2)) + 1j * rng.normal(size=(2, 2)),
        "special/float32": np.array([np.nan, np.inf, -np.inf, -0.0, 1e-45, 3.4e38], np.float32),
        "scalar/float64": np.array(2.5),
        "scalar/int64": np.array(-7, np.int64),
        "empty/float32": np.zeros((0,), np.float32),
        "empty/int8": np.zeros((3, 0), np.int8),
        "empty/bfloat16": np.zeros((0,), ml_dtypes.bfloat16),
        "empty/string": np.array([], dtype=object),
        "large/float32": rng.normal(size=(300, 500)).astype(np.float32),
    }
    for int_type in (np.int8, np.int16, np.int32, np.int64, np.uint8, np.uint16, np.uint32):
        info = np.iinfo(int_type)
        values = [info.min, info.max, 0, 1, info.max // 3, info.min // 3]
        tensors[np.dtype(int_type).name] = np.array(values, dtype=int_type).reshape(2, 3)
    tensors["uint64"] = np.array([0, 1, 2**63, 2**64 - 1], np.uint64)
    tensors["string"] = np.array(
        [b"", b"hello", b"\xff\xfe\x00binary", "ünïcödé".encode(), b"x" * 300, b""], dtype=object
    )
    tensors["string_2d"] = np.array([[b"a", b"", b"ccc"], [b"\x00", b"\x80" * 2, b"end"]], object)
    tensors["scalar/string"] = np.array(b"a scalar string", dtype=object)
    for name, storage in QUANTIZED_STORAGE.items():
        info = np.iinfo(storage)
        tensors[name] = np.array([info.min, 0, 1, info.max], dtype=storage)
    return tensors


def make_all_dtypes_ckpt(directory: Path) -> AllDtypesCkpt:
    """Write `_all_dtypes_tensors` plus the low-precision types with `tf.raw_ops.SaveV2`."""
    tf = import_tensorflow()
    directory.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(3)
    tensors = _all_dtypes_tensors(rng)
    dtype_names = {
        name: "string" if value.dtype == object else value.dtype.name
        for name, value in tensors.items()
    }
    dtype_names.update({name: name for name in QUANTIZED_STORAGE})

    skipped = []
    for name in LOW_PRECISION_DTYPES:
        numpy_type = np.dtype(getattr(ml_dtypes, name))
        try:
            tf.as_dtype(numpy_type)
        except TypeError:
            skipped.append(name)
            continue
        info = ml_dtypes.finfo(numpy_type) if "float" in name else ml_dtypes.iinfo(numpy_type)
        low, high = float(info.min), float(info.max)
        values = np.array([low, high, 0, 1, low / 2, high / 2, -1 if low < 0 else 2, high])
        tensors[name] = values.astype(numpy_type).reshape(2, 4)
        dtype_names[name] = name

    prefix = write_with_tf(directory / "all_dtypes", tensors, dtype_names)
    return AllDtypesCkpt(prefix, tensors, dtype_names, tuple(skipped))


# --- sharded ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ShardedCkpt:
    """Three data files merged under one `.index`, as a sharded Saver makes them."""

    prefix: str
    data_files: tuple[Path, ...]
    expected: Mapping[str, np.ndarray]  # every variable, the partitioned one assembled
    shard_of: Mapping[str, int]  # unpartitioned variable -> data file that holds it


def make_sharded_ckpt(directory: Path) -> ShardedCkpt:
    """SaveV2 three parts to temporary prefixes, then MergeV2Checkpoints them.

    `split` [9,2] is stored as three row slices, one in each shard.
    """
    tf = import_tensorflow()
    directory.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(5)
    split = rng.normal(size=(9, 2)).astype(np.float32)
    shards: list[dict[str, np.ndarray]] = [
        {"dense/kernel": rng.normal(size=(4, 3)).astype(np.float32), "global_step": np.array(7)},
        {
            "dense/bias": rng.normal(size=3).astype(np.float32),
            "vocab": np.array([b"a", b""], object),
        },
        {
            "embedding": rng.normal(size=(6, 5)).astype(ml_dtypes.bfloat16),
            "empty": np.zeros((0, 2)),
        },
    ]
    part_prefixes = []
    for shard_id, tensors in enumerate(shards):
        part_prefix = str(directory / f"parts/part-{shard_id}")
        names = [*tensors, "split"]
        rows = slice(3 * shard_id, 3 * shard_id + 3)
        tf.raw_ops.SaveV2(
            prefix=part_prefix,
            tensor_names=names,
            shape_and_slices=[""] * len(tensors) + [f"9 2 {rows.start},3:-"],
            tensors=[_as_tf_tensor(tf, value) for value in tensors.values()]
            + [tf.constant(split[rows])],
        )
        part_prefixes.append(part_prefix)
    prefix = str(directory / "model.ckpt")
    tf.raw_ops.MergeV2Checkpoints(
        checkpoint_prefixes=part_prefixes, destination_prefix=prefix, delete_old_dirs=True
    )
    expected = {name: value for tensors in shards for name, value in tensors.items()}
    expected["split"] = split
    return ShardedCkpt(
        prefix=prefix,
        data_files=tuple(Path(f"{prefix}.data-{i:05d}-of-00003") for i in range(3)),
        expected=expected,
        shard_of={name: shard_id for shard_id, tensors in enumerate(shards) for name in tensors},
    )


# --- many variables -----------------------------------------------------------------------------


@dataclass(frozen=True)
class ManyVariablesCkpt:
    """One checkpoint with tens of thousands of small variables: a many-block `.index`."""

    prefix: str
    names: tuple[str, ...]  # in the order they were written
    sample: Mapping[str, np.ndarray]  # a few names -> values, for spot checks


def make_many_variables_ckpt(directory: Path, count: int = 20_000) -> ManyVariablesCkpt:
    """`count` small float32 variables `block_{i}/layer_{j}/{kernel,bias,gamma,beta}`, one SaveV2.

    The index spans several 256 KiB blocks. Kernels [4,4] and vectors [4] are each made as one
    stacked tensor and unstacked, two ops instead of `count` eager constants (seconds saved).
    """
    tf = import_tensorflow()
    directory.mkdir(parents=True, exist_ok=True)
    leaves = ("kernel", "bias", "gamma", "beta")
    names = [f"block_{i // 20}/layer_{i // 4 % 5}/{leaves[i % 4]}" for i in range(count)]
    is_kernel = [i % 4 == 0 for i in range(count)]
    rng = np.random.default_rng(7)
    kernels = rng.normal(size=(sum(is_kernel), 4, 4)).astype(np.float32)
    vectors = rng.normal(size=(count - sum(is_kernel), 4)).astype(np.float32)

    kernel_tensors = iter(tf.unstack(tf.constant(kernels)))
    vector_tensors = iter(tf.unstack(tf.constant(vectors)))
    kernel_arrays, vector_arrays = iter(kernels), iter(vectors)
    tensors, arrays = [], []
    for kernel in is_kernel:
        tensors.append(next(kernel_tensors if kernel else vector_tensors))
        arrays.append(next(kernel_arrays if kernel else vector_arrays))

    prefix = str(directory / "many")
    tf.raw_ops.SaveV2(
        prefix=prefix, tensor_names=names, shape_and_slices=[""] * count, tensors=tensors
    )
    sample_indices = (0, 1, count // 2, count - 1)
    return ManyVariablesCkpt(
        prefix=prefix,
        names=tuple(names),
        sample={names[i]: arrays[i] for i in sample_indices},
    )
