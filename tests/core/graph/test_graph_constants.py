"""A graph's constants as a tensor source: memory bounded by what is held, whatever the shapes say.

A graph of a few hundred bytes can declare Const nodes of gigabytes each by storing one value for
a huge shape (a splat). Listing them decodes nothing; reading one gives a read-only broadcast view
of its value; statistics over it go a chunk at a time; decoded constants are kept by bytes held.
"""

from __future__ import annotations

import tracemalloc
from pathlib import Path

import numpy as np
import pytest

from ckpt_browser.core.graph.link import GraphConstants
from ckpt_browser.core.tensor.analysis import analyse_tensor
from ckpt_browser.format import CheckpointError, protos
from ckpt_browser.format.graph.reader import load_graph
from ckpt_browser.format.graph.tensor_proto import MAX_DECODED_BYTES, MAX_EXPANDED_BYTES

FLOAT32, INT32, STRING = 1, 3, 7


def _const(graph: protos.GraphDef, name: str, dtype: int, shape: list[int], **fields) -> None:
    node = graph.node.add(name=name, op="Const")
    node.attr["dtype"].type = dtype
    tensor = node.attr["value"].tensor
    tensor.dtype = dtype
    for size in shape:
        tensor.tensor_shape.dim.add(size=size)
    for field, values in fields.items():
        if isinstance(values, bytes):
            setattr(tensor, field, values)
        else:
            getattr(tensor, field).extend(values)


def _write(tmp_path: Path, graph: protos.GraphDef) -> Path:
    path = tmp_path / "frozen.pb"
    path.write_bytes(graph.SerializeToString())
    return path


GIB_FLOATS = 1 << 29  # 2 GiB of float32


@pytest.fixture
def splat_graph(tmp_path) -> Path:
    """Four 2 GiB constants in a file of a few hundred bytes (the window once took 10 GB)."""
    graph = protos.GraphDef()
    for index in range(4):
        _const(graph, f"splat_{index}", FLOAT32, [1 << 14, 1 << 15], float_val=[index + 0.5])
    path = _write(tmp_path, graph)
    assert path.stat().st_size < 300
    return path


def test_splat_constants_are_listed_and_read_without_expanding(splat_graph):
    tracemalloc.start()
    try:
        constants = GraphConstants(load_graph(splat_graph))
        infos = [constants[name] for name in constants]
        arrays = [constants.read(name) for name in constants]
        corner = constants.read("splat_3", (slice(0, 2), slice(-3, None)))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 16 << 20
    assert [info.shape for info in infos] == [(1 << 14, 1 << 15)] * 4
    assert [info.nbytes for info in infos] == [GIB_FLOATS * 4] * 4
    assert all(info.dtype.name == "float32" for info in infos)
    assert [float(array[123, 4567]) for array in arrays] == [0.5, 1.5, 2.5, 3.5]
    assert not arrays[0].flags.writeable
    assert corner.tolist() == [[3.5] * 3] * 2
    assert constants.held_bytes() == 4 * 4  # one float32 each


def test_statistics_over_a_splat_go_a_chunk_at_a_time(tmp_path):
    graph = protos.GraphDef()
    _const(graph, "big", FLOAT32, [4096, 4096], float_val=[-2.0])  # 64 MB as a dense array
    _const(graph, "zeros", INT32, [1 << 20])  # no value at all: zeros
    _const(graph, "names", STRING, [1 << 20], string_val=[b"key"])
    constants = GraphConstants(load_graph(_write(tmp_path, graph)))
    tracemalloc.start()
    try:
        big = analyse_tensor(lambda: constants.read("big"), 50)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 48 << 20  # a few chunks' worth, not the 64 MB the tensor stands for
    assert (big.stats.count, big.stats.min, big.stats.max, big.stats.std) == (1 << 24, -2, -2, 0)
    zeros = analyse_tensor(lambda: constants.read("zeros"), 10)
    assert (zeros.stats.zero_count, zeros.stats.max) == (1 << 20, 0)
    names = constants.read("names")
    assert names.dtype == object and names[12345] == b"key"
    assert analyse_tensor(lambda: names, 10).stats.max == 3  # byte lengths


def test_expanding_past_the_cap_or_too_large_a_tensor_is_one_sentence(tmp_path):
    count = MAX_EXPANDED_BYTES // 4 + 1
    graph = protos.GraphDef()
    _const(graph, "ramp_then_ones", FLOAT32, [count], float_val=[0.0, 1.0])
    _const(graph, "beyond_any_cap", FLOAT32, [MAX_DECODED_BYTES // 4 + 1], float_val=[1.0])
    _const(graph, "small_ramp", FLOAT32, [5], float_val=[0.0, 1.0])
    path = _write(tmp_path, graph)
    constants = GraphConstants(load_graph(path))
    assert constants["ramp_then_ones"].shape == (count,)  # described, not decoded
    with pytest.raises(CheckpointError) as info:
        constants.read("ramp_then_ones")
    assert str(info.value) == (
        f"{path}: Const node 'ramp_then_ones': tensor of shape [{count}] and dtype float32 "
        f"stores 2 values to expand to {count * 4:,} bytes, more than the "
        f"{MAX_EXPANDED_BYTES:,} allowed"
    )
    with pytest.raises(CheckpointError, match=r"^.*'beyond_any_cap'.*too large to decode"):
        constants["beyond_any_cap"]
    assert constants.read("small_ramp").tolist() == [0, 1, 1, 1, 1]
    assert constants.read("small_ramp").flags.writeable is False


def test_decoded_constants_are_kept_by_bytes_not_by_count(tmp_path):
    graph = protos.GraphDef()
    for index in range(6):
        values = np.full(100, index, np.float32)
        _const(graph, f"dense_{index}", FLOAT32, [100], tensor_content=values.tobytes())
    _const(graph, "splat", FLOAT32, [1 << 20], float_val=[9.0])
    constants = GraphConstants(load_graph(_write(tmp_path, graph)), kept_bytes=1000)
    for index in range(6):
        assert constants.read(f"dense_{index}")[0] == index
        assert constants.held_bytes() <= 1000
    constants.read("splat")
    assert constants.held_bytes() <= 1000
    assert "splat" in constants._arrays and "dense_5" in constants._arrays  # the most recent
    assert "dense_0" not in constants._arrays


def test_a_splat_decodes_as_tensorflow_does():
    """TensorFlow's own proto of a filled constant, read back by us: same values, no copy."""
    tf = pytest.importorskip("tensorflow")
    proto = tf.make_tensor_proto(np.float32(0.25), shape=[3000, 4000])
    assert len(proto.float_val) == 1
    from ckpt_browser.format.graph.tensor_proto import to_numpy

    ours = to_numpy(protos.TensorProto.FromString(proto.SerializeToString()))
    theirs = tf.make_ndarray(proto)
    assert ours.shape == theirs.shape and np.array_equal(ours, theirs)
    assert ours.strides == (0, 0) and not ours.flags.writeable
