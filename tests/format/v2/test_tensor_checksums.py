"""Checking a tensor's stored CRC32C on the bytes a pass reads anyway, in pieces merged in order.

No false alarms on what TensorFlow writes (every dtype, empty tensors, strings, shards, slices,
TF2), and the CRC of pieces checksummed apart (on threads) merges into the CRC of the whole.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from damaged_files import flip_stored_byte
from hypothesis import given
from hypothesis import strategies as st

from ckpt_browser.format import open_checkpoint
from ckpt_browser.format.crc import PartialChecksum, array_bytes, crc32c, crc32c_combine


@given(st.binary(max_size=2000), st.binary(max_size=2000))
def test_combined_crcs_are_the_crc_of_the_concatenation(first, second):
    assert crc32c_combine(crc32c(first), crc32c(second), len(second)) == crc32c(first + second)


@given(st.lists(st.integers(0, 300), max_size=12))
def test_partial_checksums_merge_in_order_whatever_the_cuts(cuts):
    data = np.random.default_rng(len(cuts)).integers(0, 255, 3000, dtype=np.uint8)
    bounds = [0, *sorted(cuts), len(data)]
    whole = PartialChecksum()
    for start, stop in itertools.pairwise(bounds):
        whole.merge(PartialChecksum.of(data[start:stop]))
    assert (whole.crc, whole.length) == (crc32c(data.tobytes()), len(data))


def test_a_large_length_combines_quickly():
    big = 1 << 40  # a terabyte of zeros after the first run: 41 cached operators at most
    assert crc32c_combine(crc32c(b"a"), 0, big) != crc32c(b"a")


@pytest.mark.parametrize(
    "fixture",
    [
        "all_dtypes_ckpt",
        "sharded_ckpt",
        "tf1_partitioned",
        "tf2_keras_ckpt",
        "scalars_and_strings_ckpt",
    ],
)
def test_tensorflow_files_have_no_checksum_problem(request, fixture):
    prefix = request.getfixturevalue(fixture).prefix
    with open_checkpoint(prefix) as ckpt:
        for name in ckpt:
            assert ckpt.checksum_problem(name) is None, name
            stored = ckpt.stored_checksum(name)
            if stored is not None:  # what a pass computes on `read`: the stored bytes
                assert stored.problem(crc32c(array_bytes(ckpt.read(name)))) is None, name


def test_the_sentence_names_tensor_shard_and_offset(tmp_path, all_dtypes_ckpt):
    from damaged_files import copy_checkpoint

    prefix = copy_checkpoint(all_dtypes_ckpt.prefix, tmp_path)
    offset = flip_stored_byte(prefix, "float32", at=3)
    with open_checkpoint(prefix) as ckpt:
        problem = ckpt.checksum_problem("float32")
        stored = ckpt.stored_checksum("float32")
        streamed = stored.problem(crc32c(array_bytes(ckpt.read("float32"))))
    assert problem == streamed
    assert problem.startswith(f"{prefix}.data-00000-of-00001: tensor 'float32' (")
    assert f"bytes at offset {offset}): checksum does not match" in problem
    assert problem.endswith("so TensorFlow refuses to read it")
