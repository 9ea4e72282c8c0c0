"""String tensors that are not text show as hex; the TF2 object graph shows as its tree."""

from __future__ import annotations

import re

import pytest
import tf_checkpoints as tfc

from ckpt_browser.core.tensor.string_display import (
    describe_bytes,
    hex_cell,
    hex_dump,
    is_text,
    object_graph_text,
)
from ckpt_browser.format import open_checkpoint, protos
from ckpt_browser.format.kinds import OBJECT_GRAPH_KEY


@pytest.mark.parametrize(
    ("data", "text"),
    [
        (b"alpha", True),
        ("ünï\ttab\nline".encode(), True),
        (b"", True),
        (b"\xff\xfebad", False),  # not UTF-8
        (b"graph*\x00", False),  # UTF-8, but a NUL is no text
        (b"\x08\x01\x12\x03abc", False),  # a serialized proto
    ],
)
def test_is_text(data: bytes, text: bool) -> None:
    assert is_text(data) is text


def test_hex_shows_every_byte_and_printable_ascii() -> None:
    data = bytes(range(256)) + b"tail"
    dump = hex_dump(data)
    lines = dump.split("\n")
    assert len(lines) == 17 and lines[0].startswith("00000000  00 01 02")
    recovered = bytes.fromhex(" ".join(line[10:57] for line in lines))
    assert recovered == data
    assert lines[4].endswith("|@ABCDEFGHIJKLMNO|") and lines[-1].endswith("|tail|")
    assert hex_cell(b"\xff\xfebad") == "ff fe 62 61 64  |..bad|"
    assert describe_bytes(b"hello") == "hello"
    assert describe_bytes(b"\x00\x01").startswith("2 bytes, not text; shown as hex:")
    assert "more bytes not shown" in hex_dump(b"x" * 100, max_bytes=32)


def test_object_graph_tree_names_every_object_and_key(tf2_module_ckpt) -> None:
    """TensorFlow's own parse of the graph is the oracle: every object, name and key shows."""
    tf = tfc.import_tensorflow()
    from tensorflow.core.protobuf import trackable_object_graph_pb2

    checkpoint = open_checkpoint(tf2_module_ckpt.prefix)
    data = checkpoint.read(OBJECT_GRAPH_KEY).item()
    text = object_graph_text(data)
    oracle = trackable_object_graph_pb2.TrackableObjectGraph.FromString(data)
    assert text.startswith(f"TF2 object graph: {len(oracle.nodes)} objects")
    ids = {int(n) for n in re.findall(r"#(\d+)", text)}
    assert ids == set(range(len(oracle.nodes)))
    for node in oracle.nodes:
        for child in node.children:
            assert f"{child.local_name}  #{child.node_id}" in text
        for attribute in node.attributes:
            assert f"= {attribute.name}: {attribute.checkpoint_key}" in text
        for slot in node.slot_variables:
            assert f"slot {slot.slot_name!r} of #{slot.original_variable_node_id}" in text
    keys = {name for name, _ in tf.train.list_variables(tf2_module_ckpt.prefix)}
    assert all(key in text for key in keys - {OBJECT_GRAPH_KEY})
    assert "no path from the root" not in text  # slots are shown under their optimizer


def test_a_hostile_object_graph_still_shows() -> None:
    graph = protos.TrackableObjectGraph()
    depth = 5000  # a chain deeper than Python's recursion limit, and a cycle back to the root
    for node_id in range(depth):
        node = graph.nodes.add()
        child = node.children.add()
        child.node_id, child.local_name = (node_id + 1) % depth, f"n{node_id}"
    text = object_graph_text(graph.SerializeToString())
    assert text.count("\n") > depth and "n4999  #0  (shown above)" in text
    assert len(text) < depth * 200  # indentation stops growing: not depth * depth characters

    broken = object_graph_text(b"\x0a\x05\x0a\x03")  # a truncated message
    assert broken.startswith("The object graph could not be decoded")
    assert "00000000  0a 05 0a 03" in broken
