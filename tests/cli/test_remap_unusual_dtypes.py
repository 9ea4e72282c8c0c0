"""Remap of variant and resource tensors, handled as TensorFlow's SaveV2 and RestoreV2 handle them.

A tf.data iterator's state is a DT_VARIANT tensor, in many TF2 training checkpoints: SaveV2 writes
it element by element and RestoreV2 reads it back, so remap copies it and TensorFlow restores the
iterator from the output where it stopped (remap used to end in a traceback). DT_RESOURCE is a
handle to a variable, never stored: TensorFlow refuses an entry of that dtype, and remap says so
in one sentence.
"""

from __future__ import annotations

import numpy as np
import pytest
from index_edits import edit_entry
from tf_checkpoints import import_tensorflow, write_with_tf

from ckpt_browser.cli import main
from ckpt_browser.format import open_checkpoint

ITERATOR = "it/.ATTRIBUTES/ITERATOR_STATE"


@pytest.mark.parametrize("renamed", [False, True], ids=["copied", "renamed"])
def test_remap_copies_an_iterator_state_that_tensorflow_restores(capsys, tmp_path, renamed):
    """The object graph names the iterator by the prefix of its tensor's key (TensorFlow adds
    `_STATE`): a renamed iterator keeps a graph entry that finds it."""
    tf = import_tensorflow()
    iterator = iter(tf.data.Dataset.range(10).map(lambda x: x * 2))
    next(iterator), next(iterator)
    source = tf.train.Checkpoint(it=iterator, step=tf.Variable(7)).save(str(tmp_path / "ckpt"))
    output = str(tmp_path / "out" / "model")
    rules = ["--rule", "it/=data/"] if renamed else []
    assert main(["remap", source, output, *rules]) == 0, capsys.readouterr().err
    assert "removed" not in capsys.readouterr().out

    copied = "data/.ATTRIBUTES/ITERATOR_STATE" if renamed else ITERATOR
    with open_checkpoint(source) as ours, open_checkpoint(output) as copy:
        assert copy[copied].dtype.name == "variant"
        assert copy.read(copied).tolist() == ours.read(ITERATOR).tolist()
        assert copy.verify() == []
    resumed = iter(tf.data.Dataset.range(10).map(lambda x: x * 2))
    step = tf.Variable(0)
    # Restoring goes by the graph's objects, which keep their names; their keys find the tensors.
    tf.train.Checkpoint(it=resumed, step=step).restore(output).assert_consumed()
    assert (int(next(resumed)), int(step.numpy())) == (4, 7)


def test_remap_of_a_resource_entry_is_one_sentence(capsys, tmp_path):
    prefix = write_with_tf(tmp_path / "src" / "model", {"w": np.arange(4, dtype=np.float32)})
    edit_entry(prefix, b"w", dtype=20)  # DT_RESOURCE
    tf = import_tensorflow()
    try:
        tf.train.load_checkpoint(prefix).get_tensor("w")
        tensorflow_reads = True
    except Exception:  # TensorFlow's own error: an invalid size for a resource tensor
        tensorflow_reads = False
    assert not tensorflow_reads
    code = main(["remap", prefix, str(tmp_path / "out" / "model")])
    _out, err = capsys.readouterr()
    assert code == 2
    (line,) = err.strip().splitlines()
    assert line.startswith("error: ") and "'w' has dtype resource, which is never stored" in line
    assert not (tmp_path / "out").exists() or not list((tmp_path / "out").iterdir())


def hash_table(tf):
    return tf.lookup.experimental.MutableHashTable(tf.string, tf.int64, default_value=-1)


@pytest.mark.parametrize(
    ("rules", "restores"),
    [
        ([], True),
        (["--rule", "table/=lookup/"], True),
        (["--drop", "table-values"], False),  # half a table cannot be restored
        (["--rule", "table/.ATTRIBUTES/table-keys=ids"], False),  # no one key finds both
    ],
    ids=["copied", "renamed", "half dropped", "split apart"],
)
def test_an_object_saved_as_several_tensors_keeps_its_graph_entry_while_it_can(
    capsys, tmp_path, rules, restores
):
    """A lookup table saves `<key>-keys` and `<key>-values` under one graph attribute `<key>`:
    kept (and renamed) when both are written under one new prefix, else removed and said."""
    tf = import_tensorflow()
    table = hash_table(tf)
    table.insert(tf.constant(["a", "b"]), tf.constant([1, 2], tf.int64))
    source = tf.train.Checkpoint(table=table).save(str(tmp_path / "ckpt"))
    output = str(tmp_path / "out" / "model")
    assert main(["remap", source, output, *rules]) == 0, capsys.readouterr().err
    said = capsys.readouterr().out
    assert ("removed" in said) != restores
    restored = hash_table(tf)
    status = tf.train.Checkpoint(table=restored).restore(output)
    if restores:
        status.assert_consumed()
        assert restored.lookup(tf.constant(["a", "b", "c"])).numpy().tolist() == [1, 2, -1]
    else:
        assert restored.size().numpy() == 0
