"""Damaged and hostile frozen graphs: a CheckpointError in one line naming the file and the Const.

Each file starts as one TensorFlow froze and has one thing changed, with TensorFlow's own protos
where it is a change to a Const; TensorFlow refuses each changed value (its GraphDef parser or
its C++ tensor decoder, `tf.io.parse_tensor`), so the tests ask of the reader only what
TensorFlow asks of the file. Reading never changes the file.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from tf_checkpoints import import_tensorflow
from tf_frozen_graphs import parse_graph_def
from tf_v1_checkpoints import assert_same_bits

from ckpt_browser.format import CheckpointError, open_checkpoint


def assert_one_line(error: CheckpointError, *mentions: str) -> None:
    text = str(error)
    assert "\n" not in text and "Traceback" not in text, text
    for mention in mentions:
        assert mention in text, (mention, text)


def tensorflow_refuses_graph(data: bytes) -> bool:
    from google.protobuf.message import DecodeError

    try:
        import_tensorflow().compat.v1.GraphDef().ParseFromString(data)
    except DecodeError:
        return True
    return False


def tensorflow_refuses_value(proto) -> bool:
    """TensorFlow's C++ decoder, as a Session or tf.import_graph_def loads the Const, refuses it."""
    tf = import_tensorflow()
    try:
        tf.io.parse_tensor(proto.SerializeToString(), tf.dtypes.as_dtype(proto.dtype))
    except (tf.errors.InvalidArgumentError, TypeError):
        return True
    return False


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


# --- files that are not a GraphDef --------------------------------------------------------------


@pytest.mark.parametrize(
    "content",
    [
        b"\xff\xff\xff\xff garbage that is no protobuf",
        b'node {\n  name: "w"\n  op: "Const"\n}\n',  # a text GraphDef (.pbtxt) named .pb
        b"\x0a\x7f\x0a\x01w",  # a node whose length runs past the end of the file
    ],
    ids=["garbage", "text_format", "length_past_the_end"],
)
def test_a_pb_that_is_not_a_graphdef(tmp_path, content):
    assert tensorflow_refuses_graph(content)
    path = tmp_path / "model.pb"
    path.write_bytes(content)
    with pytest.raises(CheckpointError) as caught:
        open_checkpoint(str(path)).close()
    assert_one_line(caught.value, str(path))


def test_a_truncated_frozen_graph(tmp_path, tf1_frozen):
    """Cut inside the largest Const's values and just before the end: TensorFlow's parser
    refuses both, and so does the reader, naming the file."""
    data = tf1_frozen.plain.path.read_bytes()
    kernel = tf1_frozen.variables["dense/kernel"].tobytes()
    inside_kernel = data.index(kernel) + len(kernel) // 2
    for cut in (inside_kernel, len(data) - 1):
        assert tensorflow_refuses_graph(data[:cut]), cut
        path = tmp_path / f"cut_{cut}.pb"
        path.write_bytes(data[:cut])
        with pytest.raises(CheckpointError) as caught, open_checkpoint(str(path)) as ckpt:
            for name in ckpt:
                ckpt.read(name)
        assert_one_line(caught.value, str(path))


# --- a Const whose value does not fit its shape -------------------------------------------------


def with_edited_value(source: Path, target: Path, name: str, edit: Callable) -> Path:
    """A copy of `source` in which `edit(tensor_proto)` changed the value of Const `name`."""
    graph_def = parse_graph_def(source)
    node = next(node for node in graph_def.node if node.name == name)
    edit(node.attr["value"].tensor)
    assert tensorflow_refuses_value(node.attr["value"].tensor)
    target.write_bytes(graph_def.SerializeToString())
    return target


def cut_content(tensor) -> None:
    tensor.tensor_content = tensor.tensor_content[:-4]  # one float32 short


def extend_content(tensor) -> None:
    tensor.tensor_content += b"\x00\x00\x80\x3f"  # one float32 too many


def negative_dimension(tensor) -> None:
    tensor.tensor_shape.dim[0].size = -150


def unknown_dtype(tensor) -> None:
    tensor.dtype = 77  # no DataType has this number


@pytest.mark.parametrize(
    "edit",
    [
        cut_content,
        extend_content,
        negative_dimension,
        unknown_dtype,
    ],
    ids=lambda edit: edit.__name__,
)
def test_a_const_whose_value_does_not_fit_its_shape(tmp_path, tf1_frozen, edit):
    """The graph still opens and the other Consts still read; the damaged one gives one line
    naming the file and the Const, when listed or when read, and verify names it."""
    source = tf1_frozen.plain
    path = with_edited_value(source.path, tmp_path / "frozen.pb", "dense/kernel", edit)
    before = digest(path)
    try:
        ckpt = open_checkpoint(str(path))
    except CheckpointError as error:  # refused while listing: the message must say which Const
        assert_one_line(error, str(path), "dense/kernel")
        return
    with ckpt:
        if "dense/kernel" not in ckpt:  # not listed: said once, when opening
            assert any("dense/kernel" in warning for warning in ckpt.warnings), ckpt.warnings
        for name, value in source.constants.items():
            if name != "dense/kernel":
                assert_same_bits(ckpt.read(name), value)
        with pytest.raises(CheckpointError) as caught:
            ckpt.read("dense/kernel")
        assert_one_line(caught.value, str(path), "dense/kernel")
        problems = ckpt.verify()
        assert len(problems) == 1 and "dense/kernel" in str(problems[0]), problems
    assert digest(path) == before


def test_more_typed_values_than_the_shape_holds(tmp_path, constants_pb):
    """TensorFlow's runtime reads the first values of a float_val longer than the shape (its
    Python MakeNdarray refuses it): the reader may do either, but says which Const if it
    refuses, and never crashes."""
    tf = import_tensorflow()
    graph_def = parse_graph_def(constants_pb.path)
    node = next(node for node in graph_def.node if node.name == constants_pb.repeated_last)
    node.attr["value"].tensor.float_val.extend([9.0, 10.0, 11.0, 12.0])  # 7 values, 6 places
    runtime = tf.io.parse_tensor(node.attr["value"].tensor.SerializeToString(), tf.float32)
    path = tmp_path / "constants.pb"
    path.write_bytes(graph_def.SerializeToString())
    try:
        with open_checkpoint(str(path)) as ckpt:
            value = ckpt.read(constants_pb.repeated_last)
    except CheckpointError as error:
        assert_one_line(error, str(path), constants_pb.repeated_last)
        return
    assert_same_bits(value, runtime.numpy())


def test_a_huge_splat_lists_without_allocating_its_values(tmp_path):
    """`tf.constant(0.5, shape=[2**20, 2**20])` stores one float for 4 TiB of values: listing it
    and reading a corner must not try to build the whole array."""
    tf = import_tensorflow()
    with tf.Graph().as_default() as graph:
        tf.constant(0.5, shape=[1 << 20, 1 << 20], name="huge")
    path = tmp_path / "huge.pb"
    path.write_bytes(graph.as_graph_def().SerializeToString())
    assert os.path.getsize(path) < 1000
    with open_checkpoint(str(path)) as ckpt:
        info = ckpt["huge"]
        assert info.shape == (1 << 20, 1 << 20) and info.nbytes == 4 << 40
        try:
            corner = ckpt.read("huge", (slice(0, 2), slice(0, 3)))
        except CheckpointError as error:  # allowed: too large to read, said in one line
            assert_one_line(error, "huge")
        else:
            assert_same_bits(corner, np.full((2, 3), 0.5, np.float32))
