"""What TensorFlow makes of the same (mutated) files: the oracle every fuzz outcome is judged by.

Results are plain dicts of strings, numbers and digests so that they cross a pipe from a worker
process: a digest says whether two tensors hold the same bytes in the same shape without moving
the tensors. `digest` is shared with the side that runs ckpt-browser, which never imports
TensorFlow.
"""

from __future__ import annotations

import hashlib
import os

import numpy as np


def digest(array: np.ndarray) -> str:
    """A digest of a tensor's shape and element bytes (strings: each one's length and bytes)."""
    array = np.asarray(array)
    h = hashlib.sha1(repr(tuple(array.shape)).encode())
    if array.dtype == object:
        for item in array.reshape(-1):
            item = item if isinstance(item, bytes) else f"not bytes: {item!r}".encode()
            h.update(len(item).to_bytes(8, "little"))
            h.update(item)
    else:
        h.update(np.ascontiguousarray(array).view(np.uint8).tobytes())
    return h.hexdigest()[:16]


def _tensorflow():
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")
    import tensorflow as tf

    tf.get_logger().setLevel("ERROR")
    return tf


def _sentence(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {str(exc).strip().splitlines()[0][:300] if str(exc) else ''}"


def tensorflow_prefix(path: str) -> str | None:
    """The prefix TensorFlow would restore for `path` (a directory's latest or a SavedModel)."""
    tf = _tensorflow()
    if os.path.isdir(path):
        if os.path.isfile(os.path.join(path, "saved_model.pb")):
            return os.path.join(path, "variables", "variables")
        try:
            return tf.train.latest_checkpoint(path)
        except Exception:  # a state file TensorFlow cannot parse
            return None
    return path


def tensorflow_reads(prefix: str) -> dict:
    """Every tensor as TensorFlow's checkpoint reader sees it.

    {"error": sentence} when the reader cannot open the prefix, else {"tensors": {name: {"dtype",
    "shape", "digest"} or {"error"}}} and "format" (TensorFlow's choice: V2 when an `.index`
    matches the prefix, else V1). Reading a V2 tensor checks its checksum, as a restore does.
    """
    tf = _tensorflow()
    try:
        reader = tf.train.load_checkpoint(prefix)
        shapes = reader.get_variable_to_shape_map()
        types = reader.get_variable_to_dtype_map()
    except Exception as exc:
        return {"error": _sentence(exc)}
    v1 = not tf.io.gfile.glob(prefix + ".index")
    tensors = {}
    for name in sorted(shapes):
        record: dict = {"dtype": types[name].name, "shape": list(shapes[name])}
        try:
            value = (
                _restore_v1(tf, prefix, name, types[name], shapes[name])
                if v1
                else reader.get_tensor(name)
            )
            if isinstance(value, bytes):  # a scalar string comes back as bytes
                value = np.array(value, dtype=object)
            record["digest"] = digest(value)
        except Exception as exc:
            record["error"] = _sentence(exc)
        tensors[name] = record
    return {"tensors": tensors, "format": "V1" if v1 else "V2"}


# A V1 tensor declaring more than this is not restored: TensorFlow would allocate all of it (and
# construct every element of a string tensor) before finding the entry too short.
V1_RESTORE_LIMIT = 256 << 20
_QUANTIZED_STORAGE = {
    "qint8": "int8",
    "quint8": "uint8",
    "qint16": "int16",
    "quint16": "uint16",
    "qint32": "int32",
}


def _restore_v1(tf, prefix: str, name: str, dtype, shape: list[int]) -> np.ndarray:
    """A V1 tensor as `RestoreV2` restores it: `get_tensor` cannot give half, complex, uint16,
    quantized or multi-slice V1 tensors, and gives a lone partial slice with uninitialised memory
    around it (format doc V1, section 10)."""
    declared = int(np.prod(shape, dtype=object)) * (32 if dtype == tf.string else dtype.size)
    if declared > V1_RESTORE_LIMIT:
        raise MemoryError(f"TensorFlow not asked: the tensor declares {declared:,} bytes")
    (tensor,) = tf.raw_ops.RestoreV2(
        prefix=prefix, tensor_names=[name], shape_and_slices=[""], dtypes=[dtype]
    )
    if dtype.name in _QUANTIZED_STORAGE:
        tensor = tf.bitcast(tensor, tf.as_dtype(_QUANTIZED_STORAGE[dtype.name]))
    value = tensor.numpy()
    return np.array(value, dtype=object) if dtype == tf.string else np.asarray(value)


def tensorflow_graph(path: str, kind: str, tags: list[str]) -> dict:
    """The (name, op) of each top-level node of the graph `kind` in `path`, parsed by TensorFlow."""
    _tensorflow()
    from tensorflow.core.framework import graph_pb2
    from tensorflow.core.protobuf import meta_graph_pb2, saved_model_pb2

    try:
        with open(path, "rb") as file:
            data = file.read()
        if kind == "graph_def":
            nodes = graph_pb2.GraphDef.FromString(data).node
        elif kind == "meta_graph":
            nodes = meta_graph_pb2.MetaGraphDef.FromString(data).graph_def.node
        else:
            metas = saved_model_pb2.SavedModel.FromString(data).meta_graphs
            chosen = [m for m in metas if list(m.meta_info_def.tags) == tags]
            if not chosen:
                return {"error": "no MetaGraph with these tags"}
            nodes = chosen[0].graph_def.node
    except Exception as exc:
        return {"error": _sentence(exc)}
    return {"nodes": [[n.name, n.op] for n in nodes]}
