"""A TF2 checkpoint whose object-graph shard is missing opens from its index, with a warning."""

from __future__ import annotations

import os

import numpy as np
import pytest
from tf_checkpoints import import_tensorflow

from ckpt_browser.format import CheckpointError, open_checkpoint

OBJECT_GRAPH_KEY = "_CHECKPOINTABLE_OBJECT_GRAPH"


def _tensorflow_values(prefix: str) -> dict[str, np.ndarray | None]:
    """Every name TensorFlow lists, with its value, or None where TensorFlow cannot read it."""
    tf = import_tensorflow()
    values = {}
    for name, _ in tf.train.list_variables(prefix):
        try:
            # A reader per name: after one failed read TensorFlow's reader aborts the process.
            values[name] = tf.train.load_checkpoint(prefix).get_tensor(name)
        except Exception:  # TensorFlow's errors: the data file is not found
            values[name] = None
    return values


def test_every_name_is_listed_and_the_missing_shard_is_a_warning(tf2_missing_graph_shard):
    prefix, missing = tf2_missing_graph_shard
    tf = import_tensorflow()
    with open_checkpoint(prefix) as ckpt:
        listed = {name: list(info.shape) for name, info in ckpt.items()}
        assert listed == dict(tf.train.list_variables(prefix))
        assert ckpt.object_graph is None
        (warning,) = ckpt.warnings
        assert missing in warning and "missing" in warning and "\n" not in warning
        # Without the object graph the names are the keys: no object paths are made up.
        assert all(info.object_path is None for info in ckpt.values())


def test_tensors_read_where_tensorflow_reads_them_and_fail_in_one_line_elsewhere(
    tf2_missing_graph_shard,
):
    prefix, missing = tf2_missing_graph_shard
    expected = _tensorflow_values(prefix)
    assert expected[OBJECT_GRAPH_KEY] is None  # the fixture removed the right shard
    assert any(value is not None for value in expected.values())
    with open_checkpoint(prefix) as ckpt:
        for name, value in expected.items():
            if value is None:
                with pytest.raises(CheckpointError) as error:
                    ckpt.read(name)
                assert os.path.basename(missing) in str(error.value)
                assert "\n" not in str(error.value)
            else:
                np.testing.assert_array_equal(ckpt.read(name), value, strict=True)


def test_a_single_shard_checkpoint_without_its_data_file_still_lists(tf2_module_ckpt, tmp_path):
    source = tf2_module_ckpt.prefix
    base = os.path.basename(source)
    for name in os.listdir(os.path.dirname(source)):
        if name == base + ".index":
            os.symlink(os.path.join(os.path.dirname(source), name), tmp_path / name)
    prefix = str(tmp_path / base)
    tf = import_tensorflow()
    with open_checkpoint(prefix) as ckpt:
        assert sorted(ckpt) == [name for name, _ in tf.train.list_variables(prefix)]
        (warning,) = ckpt.warnings
        assert f"{base}.data-00000-of-00001: data shard is missing" in warning
