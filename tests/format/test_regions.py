"""Reading a region of a tensor from byte ranges (how a remote tensor's slice is fetched)."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from ckpt_browser.format.regions import read_region


def _source(array: np.ndarray, base: int):
    """`read_many` over the array's bytes stored at `base`, recording the ranges asked for."""
    data = b"\xff" * base + array.tobytes()
    asked: list[tuple[int, int]] = []

    def read_many(ranges):
        asked.extend(ranges)
        return [memoryview(data)[offset : offset + length] for offset, length in ranges]

    return read_many, asked


@st.composite
def _shape_and_region(draw):
    shape = tuple(draw(st.lists(st.integers(0, 6), max_size=4)))
    region = []
    for size in shape[: draw(st.integers(0, len(shape)))]:
        if size and draw(st.booleans()):
            region.append(draw(st.integers(-size, size - 1)))
        else:
            bound = st.one_of(st.none(), st.integers(-size - 2, size + 2))
            step = st.one_of(st.none(), st.sampled_from([1, 2, 3, -1, -2]))
            region.append(slice(draw(bound), draw(bound), draw(step)))
    return shape, tuple(region)


@settings(max_examples=400, deadline=None)
@given(_shape_and_region(), st.sampled_from([0, 8, 4096]), st.sampled_from(["<f4", ">i2", "<c8"]))
def test_a_region_read_from_ranges_equals_numpy_indexing(case, merge_gap, dtype):
    shape, region = case
    array = np.arange(int(np.prod(shape)), dtype=np.int64).astype(dtype).reshape(shape)
    read_many, _ = _source(array, base=5)
    got = read_region(shape, array.dtype, region, read_many, base=5, merge_gap=merge_gap)
    expected = array[region]
    assert got.shape == expected.shape
    np.testing.assert_array_equal(got, expected)


def test_a_row_block_is_one_range_and_a_column_of_a_wide_matrix_is_one_per_row():
    array = np.arange(1000 * 300, dtype=np.float32).reshape(1000, 300)
    read_many, asked = _source(array, base=0)
    read_region(array.shape, array.dtype, (slice(10, 20),), read_many)
    assert asked == [(10 * 300 * 4, 10 * 300 * 4)]  # exactly the rows' bytes, nothing more

    asked.clear()
    column = read_region(array.shape, array.dtype, (slice(None), 7), read_many, merge_gap=0)
    np.testing.assert_array_equal(column, array[:, 7])
    assert len(asked) == 1000 and sum(length for _, length in asked) == 1000 * 4

    asked.clear()  # rows 1.2 KB apart: a 4 KB margin merges them into one range
    read_region(array.shape, array.dtype, (slice(None), 7), read_many, merge_gap=4096)
    assert len(asked) == 1


def test_an_index_out_of_bounds_is_numpys_error():
    array = np.zeros((3, 4), np.float32)
    read_many, asked = _source(array, base=0)
    try:
        read_region(array.shape, array.dtype, (5,), read_many)
    except IndexError as error:
        assert "out of bounds" in str(error)
    else:
        raise AssertionError("no IndexError")
    assert asked == []
