"""How sizes, counts, shapes and numbers read."""

from __future__ import annotations

import numpy as np
import pytest

from ckpt_browser.core.formatting import (
    format_bytes,
    format_count,
    format_number,
    format_shape,
    plural,
    shortest_text,
)


@pytest.mark.parametrize(
    ("n", "text"),
    [
        (0, "0 B"),
        (1023, "1023 B"),
        (1024, "1.0 KiB"),
        (1536, "1.5 KiB"),
        (int(1.5 * 2**20), "1.5 MiB"),
        (256 * 2**20, "256.0 MiB"),
        (3 * 2**30 + 2**29, "3.5 GiB"),
        (5 * 2**40, "5.0 TiB"),
        (2**20 - 1, "1.0 MiB"),
    ],
)
def test_format_bytes(n: int, text: str) -> None:
    assert format_bytes(n) == text


def test_format_count() -> None:
    assert format_count(1234567) == "1,234,567"
    assert format_count(0) == "0"
    assert format_count(np.int64(42)) == "42"
    assert format_count(999, short=True) == "999"
    assert format_count(1234567, short=True) == "1.2M"
    assert format_count(12_345, short=True) == "12.3K"
    assert format_count(123_456_789, short=True) == "123M"
    assert format_count(2_000_000_000, short=True) == "2B"
    assert format_count(3_500_000_000_000, short=True) == "3.5T"
    assert format_count(999_950, short=True) == "1M"
    assert format_count(99_960, short=True) == "100K"
    assert format_count(-1500, short=True) == "-1.5K"
    assert format_count(7 * 10**15, short=True) == "7000T"


def test_format_shape() -> None:
    assert format_shape((3, 3, 16, 32)) == "[3, 3, 16, 32]"
    assert format_shape(()) == "scalar"
    assert format_shape((0,)) == "[0]"
    assert format_shape([np.int64(5)]) == "[5]"


def test_format_number_notations() -> None:
    assert format_number(0.000123456789) == "0.000123457"
    assert format_number(1234567.0) == "1.23457e+06"
    assert format_number(1234567.0, digits=9) == "1234567"
    assert format_number(1.5, notation="scientific", digits=3) == "1.50e+00"
    assert format_number(1.5, notation="fixed", digits=3) == "1.500"
    assert format_number(np.float32(0.1)) == "0.1"
    assert format_number(np.float16(2.5)) == "2.5"


def test_format_number_special_values() -> None:
    assert format_number(float("nan")) == "nan"
    assert format_number(np.float32("inf")) == "inf"
    assert format_number(-np.inf, notation="fixed") == "-inf"
    assert format_number(None) == ""


def test_format_number_integers_stay_exact() -> None:
    assert format_number(2**63 + 1) == str(2**63 + 1)
    assert format_number(np.uint64(2**64 - 1)) == "18446744073709551615"
    assert format_number(np.int8(-7), notation="fixed") == "-7"
    assert format_number(12345, notation="scientific", digits=2) == "1.2e+04"
    assert format_number(np.bool_(True)) == "1"


def test_format_number_complex_and_text() -> None:
    assert format_number(1.5 - 2j) == "1.5-2j"
    assert format_number(np.complex64(0.5 + 0.25j), digits=3) == "0.5+0.25j"
    assert format_number(b"\xffabc") == "\\xffabc"
    assert format_number("text") == "text"
    with pytest.raises(ValueError, match="notation"):
        format_number(1.0, notation="engineering")


@pytest.mark.parametrize(
    ("count", "words", "text"),
    [
        (1, ("variable",), "1 variable"),
        (0, ("variable",), "0 variables"),
        (2, ("tensor",), "2 tensors"),
        (20_000, ("name",), "20,000 names"),
        (1, ("shape mismatch",), "1 shape mismatch"),
        (3, ("shape mismatch",), "3 shape mismatches"),
        (2, ("axis", "axes"), "2 axes"),
        (1, ("source unused", "sources unused"), "1 source unused"),
        (5, ("source unused", "sources unused"), "5 sources unused"),
        (np.int64(1), ("byte",), "1 byte"),
    ],
)
def test_plural_agrees_with_the_count(count, words, text) -> None:
    assert plural(count, *words) == text


@pytest.mark.parametrize(
    "dtype_name", ["float64", "float32", "float16", "bfloat16", "float8_e4m3fn"]
)
def test_shortest_text_reads_back_as_the_stored_value(dtype_name: str) -> None:
    import ml_dtypes

    dtype = np.dtype(getattr(ml_dtypes, dtype_name, None) or dtype_name)
    values = np.array([0.1, -1 / 3, 2.5, 1e-3, 300.0, -0.0], dtype=np.float64).astype(dtype)
    for value in values:
        widened = (value.astype(np.float32),) if dtype.itemsize < 4 else ()  # as displayed
        for shown in (value, *widened):
            text = shortest_text(shown, dtype)
            assert np.array(float(text)).astype(dtype).tobytes() == value.tobytes(), text
    assert shortest_text(np.array(0.1).astype(dtype).astype(np.float64), dtype) == "0.1"


def test_shortest_text_of_other_values() -> None:
    assert shortest_text(np.float32(1e-8)) == "1e-08"
    assert shortest_text(np.float32(np.nan)) == "nan"
    assert shortest_text(np.int64(2**62)) == str(2**62)
    assert shortest_text(np.complex64(0.1 + 0.2j)) == "(0.1+0.2j)"
    # Magnitudes of complex values are shown as they are, not cast to the complex dtype.
    assert shortest_text(np.float32(0.5), np.dtype(np.complex64)) == "0.5"
