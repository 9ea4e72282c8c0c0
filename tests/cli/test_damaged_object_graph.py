"""A TF2 source whose object graph fails its checksum: remap refuses, as for any damaged tensor.

The graph is the one tensor remap never copies as it is: it is rewritten (keys renamed) or, when
it does not even parse, left out. Either way its damaged bytes must not pass silently into an
output that TensorFlow then trusts. TensorFlow is the oracle: it refuses the damaged graph.
"""

from __future__ import annotations

import os

import numpy as np
import pytest
from damaged_files import folder_digest
from tf_checkpoints import import_tensorflow, write_with_tf

from ckpt_browser.cli import main
from ckpt_browser.format import open_checkpoint
from ckpt_browser.format.v2.bundle import BundleIndex
from ckpt_browser.format.varint import read_varint

GRAPH = "_CHECKPOINTABLE_OBJECT_GRAPH"


def tf2_checkpoint(directory) -> str:
    tf = import_tensorflow()
    checkpoint = tf.train.Checkpoint(kernel=tf.Variable([[1.0, 2.0]]), bias=tf.Variable([0.5]))
    return checkpoint.save(str(directory / "ckpt"))


def damage_graph(prefix: str, how: str) -> None:
    """Damage the serialized graph: its first byte made an invalid protobuf tag ("unparsable"),
    or one letter of a name changed ("parsable")."""
    entry = BundleIndex(prefix).entries[GRAPH]
    path = f"{prefix}.data-{entry.shard_id:05d}-of-00001"
    with open(path, "r+b") as file:
        file.seek(entry.offset)
        stored = bytearray(file.read(entry.size))
        _length, graph_start = read_varint(stored, 0, len(stored))
        graph_start += 4  # after the length checksum
        if how == "unparsable":
            stored[graph_start] = 0x07  # wire type 7 does not exist
        else:
            at = stored.index(b"ATTRIBUTES")
            stored[at] = ord("a")
        file.seek(entry.offset)
        file.write(stored)
    tf = import_tensorflow()
    with pytest.raises(tf.errors.OpError, match="Checksum does not match"):
        tf.train.load_checkpoint(prefix).get_tensor(GRAPH)


def run(capsys, *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize("how", ["unparsable", "parsable"])
def test_remap_refuses_a_damaged_object_graph_and_writes_nothing(capsys, tmp_path, how):
    prefix = tf2_checkpoint(tmp_path / "src")
    damage_graph(prefix, how)
    before = folder_digest(tmp_path / "src")
    out = tmp_path / "out" / "model"
    code, stdout, err = run(capsys, "remap", prefix, str(out), "--rule", "kernel=weights")
    assert code == 2
    (line,) = err.strip().splitlines()
    assert line.startswith("error: ") and repr(GRAPH) in line
    assert "checksum does not match" in line and "--allow-bad-checksums" in line
    assert "verified" not in stdout
    assert not out.parent.exists() or os.listdir(out.parent) == []
    assert folder_digest(tmp_path / "src") == before


def test_with_the_flag_an_unparsable_damaged_graph_is_left_out_and_said(capsys, tmp_path):
    prefix = tf2_checkpoint(tmp_path / "src")
    damage_graph(prefix, "unparsable")
    out = str(tmp_path / "out" / "model")
    code, stdout, err = run(capsys, "remap", prefix, out, "--allow-bad-checksums")
    assert code == 0, err
    assert "object graph of source 1 cannot be read, so the output carries none" in stdout
    (note,) = [line for line in stdout.splitlines() if "left out is damaged" in line]
    assert repr(GRAPH) in note and "checksum does not match" in note
    # A name-based output: every tensor TensorFlow reads in the source, and no graph.
    tf = import_tensorflow()
    source, output = tf.train.load_checkpoint(prefix), tf.train.load_checkpoint(out)
    names = {name for name, _ in tf.train.list_variables(prefix)} - {GRAPH}
    assert {name for name, _ in tf.train.list_variables(out)} == names
    for name in names:
        np.testing.assert_array_equal(output.get_tensor(name), source.get_tensor(name))


def test_with_the_flag_a_parsable_damaged_graph_is_rewritten_and_listed(capsys, tmp_path):
    prefix = tf2_checkpoint(tmp_path / "src")
    damage_graph(prefix, "parsable")
    out = str(tmp_path / "out" / "model")
    code, stdout, err = run(capsys, "remap", prefix, out, "--allow-bad-checksums")
    assert code == 0, err
    (warning,) = [line for line in err.splitlines() if line.startswith("warning: copied")]
    assert repr(GRAPH) in warning
    assert "1 tensor came from damaged source bytes" in stdout
    with open_checkpoint(out) as written:
        assert GRAPH in written and written.object_graph is not None


def test_a_damaged_graph_left_behind_for_a_name_based_target_is_said(capsys, tmp_path):
    """A name-based target never carries the sources' graphs: a damaged one is not copied, so it
    stops nothing, but the plan says the source is damaged."""
    prefix = tf2_checkpoint(tmp_path / "src")
    damage_graph(prefix, "unparsable")
    tf = import_tensorflow()
    reader = tf.train.load_checkpoint(prefix)
    names = [name for name, _ in tf.train.list_variables(prefix) if name != GRAPH]
    template = write_with_tf(
        tmp_path / "template" / "model", {name: reader.get_tensor(name) for name in names}
    )
    out = str(tmp_path / "out" / "model")
    code, stdout, err = run(capsys, "remap", prefix, out, "--target", template)
    assert code == 0, err
    assert "object graph of source 1 is damaged (its checksum does not match)" in stdout
    assert {name for name, _ in tf.train.list_variables(out)} == set(names)
