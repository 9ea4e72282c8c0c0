"""The check at open of what the data files can hold: TensorFlow's reader is the oracle for which
tensors a truncated or missing shard makes unreadable."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import tf_checkpoints as tfc

from ckpt_browser.format import open_checkpoint
from tests.format.test_bad_input import copy_checkpoint


def _tf_unreadable(prefix: str) -> set[str]:
    """The variables TensorFlow's own reader fails to read.

    A fresh reader for each: after one failed read, TensorFlow's reader aborts the process on the
    next one.
    """
    tf = tfc.import_tensorflow()
    failed = set()
    for name in tf.train.load_checkpoint(prefix).get_variable_to_shape_map():
        try:
            tf.train.load_checkpoint(prefix).get_tensor(name)
        except Exception:  # any failure of TensorFlow's reader is the answer
            failed.add(name)
    return failed


@pytest.fixture
def sharded_copy(sharded_ckpt, tmp_path: Path) -> str:
    return copy_checkpoint(sharded_ckpt.prefix, tmp_path)


def test_intact_checkpoint_has_nothing_to_report(sharded_ckpt) -> None:
    with open_checkpoint(sharded_ckpt.prefix) as ckpt:
        check = ckpt.check_shards()
    assert not check and check.messages == () and dict(check.problems) == {}


def test_missing_shard_names_the_tensors_it_held(sharded_copy) -> None:
    os.remove(sharded_copy + ".data-00001-of-00003")
    with open_checkpoint(sharded_copy) as ckpt:
        check = ckpt.check_shards()
        total = len(ckpt)
    assert set(check.problems) == _tf_unreadable(sharded_copy) == {"dense/bias", "vocab", "split"}
    assert check.messages == (
        f"3 of {total} tensors cannot be read: shard 1 (model.ckpt.data-00001-of-00003) is missing",
    )
    assert "model.ckpt.data-00001-of-00003 is missing" in check.problems["vocab"]


def test_truncated_shard_names_the_tensors_past_its_end(sharded_copy) -> None:
    data_path = sharded_copy + ".data-00002-of-00003"
    size = os.path.getsize(data_path)
    with open(data_path, "r+b") as file:
        file.truncate(size // 2)
    with open_checkpoint(sharded_copy) as ckpt:
        check = ckpt.check_shards()
        total = len(ckpt)
    unreadable = _tf_unreadable(sharded_copy)
    assert unreadable and set(check.problems) == unreadable
    (message,) = check.messages
    assert message == (
        f"{len(unreadable)} of {total} tensors lie past the end of shard 2 "
        f"(model.ckpt.data-00002-of-00003, {size // 2:,} bytes): the file is truncated"
    )
    name = sorted(unreadable)[0]
    assert (
        f"past the end of model.ckpt.data-00002-of-00003 ({size // 2:,} bytes)"
        in (check.problems[name])
    )


def test_the_check_reads_no_data(sharded_copy) -> None:
    """A shard that cannot be opened for reading is still measured: only its size is needed."""
    data_path = sharded_copy + ".data-00000-of-00003"
    os.chmod(data_path, 0)
    try:
        with open_checkpoint(sharded_copy) as ckpt:
            assert not ckpt.check_shards()
    finally:
        os.chmod(data_path, 0o644)
