"""DT_VARIANT tensors (a tf.data iterator's state): listed, read as bytes, checksummed like TF."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from tf_checkpoints import import_tensorflow

from ckpt_browser.format import open_checkpoint

KEY = "it/.ATTRIBUTES/ITERATOR_STATE"


@pytest.fixture(scope="module")
def iterator_checkpoint(tmp_path_factory) -> str:
    tf = import_tensorflow()
    iterator = iter(tf.data.Dataset.range(10).map(lambda x: x * 2))
    next(iterator)
    return tf.train.Checkpoint(it=iterator).save(str(tmp_path_factory.mktemp("variant") / "ckpt"))


def test_variant_state_is_listed_read_and_verified(iterator_checkpoint):
    tf = import_tensorflow()
    reader = tf.train.load_checkpoint(iterator_checkpoint)
    assert reader.get_variable_to_dtype_map()[KEY] == tf.variant
    with open_checkpoint(iterator_checkpoint) as ckpt:
        info = ckpt[KEY]
        assert info.dtype.name == "variant"
        assert info.shape == tuple(reader.get_variable_to_shape_map()[KEY])
        values = ckpt.read(KEY)
        assert values.shape == info.shape
        assert all(isinstance(v, bytes) and v for v in values.ravel())
        assert ckpt.verify() == []  # our CRC of variant elements equals the one TensorFlow stored


def test_a_damaged_variant_element_is_reported(iterator_checkpoint, tmp_path):
    directory, base = os.path.split(iterator_checkpoint)
    for name in os.listdir(directory):
        if name.startswith(base + "."):
            shutil.copy(os.path.join(directory, name), tmp_path / name)
    prefix = str(tmp_path / base)
    with open_checkpoint(prefix) as ckpt:
        entry = ckpt._index.entries[KEY]
        offset, size = entry.offset, entry.size
    data_file = Path(prefix + ".data-00000-of-00001")
    data = bytearray(data_file.read_bytes())
    data[offset + size // 2] ^= 0x01
    data_file.write_bytes(bytes(data))
    with open_checkpoint(prefix) as ckpt:
        assert [problem.name for problem in ckpt.verify()] == [KEY]
