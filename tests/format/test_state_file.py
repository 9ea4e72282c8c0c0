"""A `checkpoint` state file is read as TensorFlow's `get_checkpoint_state` reads it.

TensorFlow parses it with protobuf's `text_format.Merge`, which takes a field given twice (the
last `model_checkpoint_path` wins, repeated fields collect every value); a stricter parse would
ignore the file and open another checkpoint than TensorFlow restores.
"""

from __future__ import annotations

import os

import numpy as np
import pytest
from tf_checkpoints import import_tensorflow, write_with_tf

from ckpt_browser.format import CheckpointError, open_checkpoint, resolve_prefix
from ckpt_browser.format.paths import history, read_state


@pytest.fixture
def three_checkpoints(tmp_path) -> list[str]:
    """A directory with model-1, model-2 and model-3, written by TensorFlow."""
    return [
        write_with_tf(tmp_path / f"model-{step}", {"w": np.full(2, step, np.float32)})
        for step in (1, 2, 3)
    ]


STATE_FILES = {
    "path named twice": 'model_checkpoint_path: "model-3"\nmodel_checkpoint_path: "model-1"\n',
    "path before and after the list": (
        'model_checkpoint_path: "model-2"\n'
        'all_model_checkpoint_paths: "model-1"\n'
        'all_model_checkpoint_paths: "model-2"\n'
        'model_checkpoint_path: "model-3"\n'
        "last_preserved_timestamp: 5.0\n"
        "last_preserved_timestamp: 7.0\n"
    ),
    "list named twice over": (
        'model_checkpoint_path: "model-2"\n'
        'all_model_checkpoint_paths: "model-3"\n'
        "all_model_checkpoint_timestamps: 3.0\n"
        'all_model_checkpoint_paths: "model-1"\n'
        "all_model_checkpoint_timestamps: 1.0\n"
        'model_checkpoint_path: "model-2"\n'
    ),
}


@pytest.mark.parametrize("text", STATE_FILES.values(), ids=STATE_FILES.keys())
def test_state_file_reads_as_tensorflow_reads_it(three_checkpoints, text):
    directory = os.path.dirname(three_checkpoints[0])
    with open(os.path.join(directory, "checkpoint"), "w") as file:
        file.write(text)
    tf = import_tensorflow()
    theirs = tf.train.get_checkpoint_state(directory)

    ours = read_state(directory)
    assert ours is not None
    assert ours.model_checkpoint_path == os.path.basename(theirs.model_checkpoint_path)
    assert [os.path.join(directory, p) for p in ours.all_model_checkpoint_paths] == list(
        theirs.all_model_checkpoint_paths
    )
    assert list(ours.all_model_checkpoint_timestamps) == list(
        theirs.all_model_checkpoint_timestamps
    )
    assert ours.last_preserved_timestamp == theirs.last_preserved_timestamp

    # The directory opens the checkpoint TensorFlow restores, with its values.
    latest = tf.train.latest_checkpoint(directory)
    assert resolve_prefix(directory) == latest
    with open_checkpoint(directory) as checkpoint:
        np.testing.assert_array_equal(
            checkpoint.read("w"), tf.train.load_checkpoint(latest).get_tensor("w")
        )
    # The history marks what the state file lists, as TensorFlow's list.
    listed = [record.prefix for record in history(directory) if record.listed]
    assert sorted(listed) == sorted(theirs.all_model_checkpoint_paths or [latest])


def test_a_state_file_naming_a_missing_checkpoint_with_a_line_break_is_one_line(tmp_path):
    """The name comes from the file: it is quoted, escapes and all, never printed raw."""
    (tmp_path / "checkpoint").write_text('model_checkpoint_path: "line\\nbreak"\n')
    assert import_tensorflow().train.latest_checkpoint(str(tmp_path)) is None
    with pytest.raises(CheckpointError) as error:
        resolve_prefix(str(tmp_path))
    assert "\n" not in str(error.value)
    assert "names 'line\\nbreak', but 'line\\nbreak.index' does not exist" in str(error.value)
