"""String tensors survive .npy/.npz byte for byte, whatever bytes they hold, without pickle."""

from __future__ import annotations

import io

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from ckpt_browser.core.tensor.export import exportable_array, exported_strings


def _through_npy(array: np.ndarray) -> np.ndarray:
    buffer = io.BytesIO()
    np.save(buffer, exportable_array(array, "strings"), allow_pickle=False)
    buffer.seek(0)
    return np.load(buffer, allow_pickle=False)


def _object_array(values: list[bytes], shape: tuple[int, ...]) -> np.ndarray:
    out = np.empty(len(values), dtype=object)
    out[:] = values
    return out.reshape(shape)


@given(st.lists(st.binary(max_size=12), max_size=12), st.booleans())
def test_any_bytes_round_trip(values, as_column):
    shape = (len(values), 1) if as_column else (len(values),)
    strings = _object_array(values, shape)
    back = exported_strings(_through_npy(strings))
    assert back.shape == shape
    assert back.reshape(-1).tolist() == values


@pytest.mark.parametrize("value", [b"", b"\x00", b"graph*\x00", b"\xff\xfe\x00\x80"])
def test_a_scalar_string_stays_a_scalar(value):
    back = exported_strings(_through_npy(np.array(value, dtype=object)))
    assert back.shape == () and back.item() == value


def test_lengths_past_the_stored_width_are_refused():
    records = exportable_array(_object_array([b"ab\x00"], (1,)), "strings")
    records["length"] = 9
    with pytest.raises(ValueError, match="between 0 and the field width 3"):
        exported_strings(records)


def test_a_numeric_array_is_not_taken_for_strings():
    with pytest.raises(ValueError, match="not an exported string tensor"):
        exported_strings(np.zeros(3, np.uint8))
