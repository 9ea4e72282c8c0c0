"""A header's shard count is only a number in the data files' names, however large it claims to be.

A damaged header claiming 2**31 - 1 shards once made every open list 2**31 data file names (a
hang). TensorFlow opens a shard only when it reads a tensor from it, so that is all the count may
cost: per-shard work goes by the shards the index points at. TensorFlow is the oracle of which
tensors then read.
"""

from __future__ import annotations

import os
import time

import numpy as np
import pytest
from index_edits import edit_header
from tf_checkpoints import import_tensorflow, write_with_tf

from ckpt_browser.cli import main
from ckpt_browser.format import open_checkpoint

CLAIMED = 2**31 - 1
VALUES = {"w": np.arange(6, dtype=np.float32), "vocab": np.array([b"a", b"bc"], dtype=object)}


@pytest.fixture
def huge_shard_count(tmp_path) -> str:
    prefix = write_with_tf(tmp_path / "model", VALUES)
    edit_header(prefix, num_shards=CLAIMED)
    return prefix


def tensorflow_reads(prefix: str) -> dict[str, object]:
    """Each tensor's value, or None where TensorFlow's reader fails (a fresh reader for each:
    after a failed read it may abort on the next)."""
    tf = import_tensorflow()
    out = {}
    for name, _shape in tf.train.list_variables(prefix):
        try:
            out[name] = tf.train.load_checkpoint(prefix).get_tensor(name)
        except Exception:  # TensorFlow's own error: the data file it names is not there
            out[name] = None
    return out


def test_open_costs_nothing_per_claimed_shard(huge_shard_count):
    start = time.perf_counter()
    with open_checkpoint(huge_shard_count) as checkpoint:
        check = checkpoint.check_shards()
        files = checkpoint.data_files()
        listed = set(checkpoint)
    assert time.perf_counter() - start < 5  # listing 2**31 names took many minutes
    assert files == [f"{huge_shard_count}.data-00000-of-{CLAIMED:05d}"]
    assert listed == set(VALUES)
    # TensorFlow looks for the file the header names, and so do we; the warning says why not.
    assert (
        set(check.problems)
        == set(VALUES)
        == {n for n, v in tensorflow_reads(huge_shard_count).items() if v is None}
    )
    (message,) = check.messages
    assert f"model.data-00000-of-{CLAIMED}) is missing" in message
    assert f"the header says {CLAIMED:,} shard(s)" in message
    assert "model.data-00000-of-00001" in message


def test_ls_and_verify_say_so_at_once(capsys, huge_shard_count):
    assert main(["ls", huge_shard_count]) == 0
    err = capsys.readouterr().err
    assert "is missing" in err and f"header says {CLAIMED:,} shard(s)" in err
    assert main(["verify", huge_shard_count]) == 1
    out = capsys.readouterr().out
    assert f"model.data-00000-of-{CLAIMED}: data shard is missing" in out


def test_with_the_file_the_header_names_every_tensor_reads_as_tensorflow_reads_it(
    huge_shard_count,
):
    os.rename(
        f"{huge_shard_count}.data-00000-of-00001", f"{huge_shard_count}.data-00000-of-{CLAIMED}"
    )
    expected = tensorflow_reads(huge_shard_count)
    with open_checkpoint(huge_shard_count) as checkpoint:
        assert not checkpoint.check_shards()
        assert checkpoint.verify() == []
        for name, value in expected.items():
            np.testing.assert_array_equal(checkpoint.read(name), value)
