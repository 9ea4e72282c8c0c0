"""Slices of N-D tensors, what the table and heatmap show, downsampling and colour limits."""

from __future__ import annotations

import warnings

import ml_dtypes
import numpy as np
import pytest

from ckpt_browser.core.tensor.slicing import (
    ELLIPSIS,
    SliceSpec,
    display_array,
    downsample_for_heatmap,
    index_tuple,
    phase_array,
    slice_shape,
    symmetric_levels,
    take_slice,
)
from ckpt_browser.format import open_checkpoint


def test_default_specs() -> None:
    assert SliceSpec.default(()) == SliceSpec(None, None, {})
    assert SliceSpec.default((7,)) == SliceSpec(0, None, {})
    assert SliceSpec.default((3, 4)) == SliceSpec(0, 1, {})
    assert SliceSpec.default((2, 3, 4, 5)) == SliceSpec(2, 3, {0: 0, 1: 0})
    for shape in [(), (7,), (3, 4), (2, 3, 4, 5)]:
        SliceSpec.default(shape).validate(shape)


@pytest.mark.parametrize(
    ("spec", "shape", "message"),
    [
        (SliceSpec(0, 0), (3, 4), "both show axis 0"),
        (SliceSpec(0, 5), (3, 4), "axis 5 is out of range"),
        (SliceSpec(0, None), (3, 4), "shows 2 axes"),
        (SliceSpec(None, 0), (3,), "col_axis must be None"),
        (SliceSpec(0, 1, {2: 4}), (3, 4, 4), "index 4 is out of range for axis 2"),
        (SliceSpec(0, 1, {1: 0}), (3, 4, 4), "axis 1 is shown"),
        (SliceSpec(1, 2, {7: 0}), (3, 4, 4), "fixed axis 7"),
        (SliceSpec(0, 1), (), "a 0-D tensor shows 0 axes"),
    ],
)
def test_invalid_specs_say_why(spec: SliceSpec, shape: tuple[int, ...], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        spec.validate(shape)


def test_index_tuple_reads_the_slice_numpy_would_take() -> None:
    array = np.arange(2 * 3 * 4 * 5).reshape(2, 3, 4, 5)
    spec = SliceSpec(1, 3, {0: 1, 2: 2})
    assert index_tuple(spec, array.shape) == (1, slice(None), 2, slice(None))
    assert np.array_equal(take_slice(array, spec), array[1, :, 2, :])
    swapped = SliceSpec(3, 1, {0: 0})  # rows show a later axis: the slice comes transposed
    assert swapped.transposed
    assert np.array_equal(take_slice(array, swapped), array[0, :, 0, :].T)
    assert slice_shape(swapped, array.shape) == (5, 3)
    assert np.array_equal(take_slice(np.arange(6), SliceSpec.default((6,))), np.arange(6))
    assert take_slice(np.array(3.5), SliceSpec.default(())) == 3.5


def test_an_empty_fixed_axis_gives_an_empty_slice() -> None:
    array = np.zeros((0, 3, 4))
    spec = SliceSpec.default(array.shape)
    assert slice_shape(spec, array.shape) == (0, 4)
    assert take_slice(array, spec).shape == (0, 4)
    swapped = SliceSpec(2, 1, {0: 0})
    assert take_slice(array, swapped).shape == slice_shape(swapped, array.shape) == (0, 3)


def test_reading_slices_from_a_tensorflow_checkpoint(all_dtypes_ckpt) -> None:
    expected = all_dtypes_ckpt.expected["float32"]  # [2, 3, 4]
    with open_checkpoint(all_dtypes_ckpt.prefix) as ckpt:
        for spec in [SliceSpec(1, 2, {0: 1}), SliceSpec(0, 2, {1: 2}), SliceSpec(2, 0, {1: 1})]:
            part = ckpt.read("float32", index_tuple(spec, expected.shape))
            part = part.T if spec.transposed else part
            assert np.array_equal(part, take_slice(expected, spec))


def test_display_array_conversions() -> None:
    assert display_array(np.array([True, False]), "bool").tolist() == [1, 0]
    assert display_array(np.array([True, False]), "bool").dtype == np.uint8
    z = np.array([3 + 4j, -1j], dtype=np.complex64)
    assert display_array(z, "complex64").tolist() == [5.0, 1.0]
    assert phase_array(z).tolist() == pytest.approx([np.arctan2(4, 3), -np.pi / 2])
    for name in ("bfloat16", "float8_e4m3fn", "float8_e5m2"):
        values = np.array([1.5, -2.0], dtype=getattr(ml_dtypes, name))
        shown = display_array(values, name)
        assert shown.dtype == np.float32 and shown.tolist() == [1.5, -2.0]
    half = display_array(np.array([0.5], np.float16), "float16")
    assert half.dtype == np.float32
    int4 = display_array(np.array([-8, 7], np.int8).astype(ml_dtypes.int4), "int4")
    assert int4.dtype == np.int8 and int4.tolist() == [-8, 7]
    floats = np.array([1.0, 2.0], np.float32)
    assert display_array(floats, "float32") is floats  # nothing to convert, no copy
    qint = np.array([-3, 4], np.int8)
    assert display_array(qint, "qint8").tolist() == [-3, 4]


def test_strings_become_text() -> None:
    rows = [[b"plain", "ünï".encode(), b"\xff\xfebad"], [b"x" * 500, b"", b"\x00"]]
    values = np.array(rows, dtype=object)  # as the reader gives strings (no NUL stripping)
    text = display_array(values, "string", max_chars=30)
    assert text.shape == (2, 3) and text.dtype == object
    # Bytes that are not text show as hex with their printable ASCII, not as noise.
    assert text[0].tolist() == ["plain", "ünï", "ff fe 62 61 64  |..bad|"]
    assert text[1, 0] == "x" * 29 + ELLIPSIS and len(text[1, 0]) == 30
    assert text[1, 1:].tolist() == ["", "00  |.|"]


def test_downsample_block_mean_ignores_nan() -> None:
    values = np.arange(36, dtype=np.float32).reshape(6, 6)
    values[0, 0] = np.nan
    values[4:6, 4:6] = np.nan
    small = downsample_for_heatmap(values, max_pixels=(3, 3))
    assert small.shape == (3, 3) and small.dtype == np.float32
    assert small[0, 0] == pytest.approx(np.mean([1, 6, 7]))
    assert small[1, 2] == pytest.approx(values[2:4, 4:6].mean())
    assert np.isnan(small[2, 2])  # a block of only NaN
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        downsample_for_heatmap(values, max_pixels=(3, 3))  # no "mean of empty slice" warning


def test_downsample_uneven_blocks_and_stride() -> None:
    values = np.arange(7 * 5, dtype=np.float64).reshape(7, 5)
    small = downsample_for_heatmap(values, max_pixels=(3, 2))
    assert small.shape == (3, 2)  # blocks of 3 rows x 3 columns, the last ones cut short
    assert small[2, 1] == pytest.approx(values[6:, 3:].mean())
    strided = downsample_for_heatmap(values, max_pixels=(3, 2), method="stride")
    assert np.array_equal(strided, values[::3, ::3])
    same = downsample_for_heatmap(values.astype(np.int32), max_pixels=(10, 10))
    assert same.dtype == np.float64 and np.array_equal(same, values)
    with pytest.raises(ValueError, match="2-D"):
        downsample_for_heatmap(np.zeros(3))


def test_symmetric_levels() -> None:
    assert symmetric_levels(np.array([-0.5, 2.0, np.nan, np.inf])) == (-2.0, 2.0)
    assert symmetric_levels(np.array([-3, 1], dtype=np.int8)) == (-3.0, 3.0)
    assert symmetric_levels(np.zeros(4)) == (-1.0, 1.0)
    assert symmetric_levels(np.array([np.nan])) == (-1.0, 1.0)
    assert symmetric_levels(np.array([], dtype=np.float32)) == (-1.0, 1.0)
