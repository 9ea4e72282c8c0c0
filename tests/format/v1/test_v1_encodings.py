"""The two hand-written encodings of V1 files, against the bytes the format document shows
(observed in files TensorFlow wrote): OrderedCode keys and packed varints."""

from __future__ import annotations

import numpy as np
import pytest

from ckpt_browser.format.v1 import values
from ckpt_browser.format.v1.ordered_code import slice_key
from ckpt_browser.format.wire import DecodeError

WHOLE = (0, -1)


@pytest.mark.parametrize(
    ("name", "extents", "key"),
    [
        (b"w", (WHOLE,), "00 77 00 01 01 01 80 7f"),
        (b"global_step", (), "00 67 6c 6f 62 61 6c 5f 73 74 65 70 00 01 00"),
        (b"pv", ((4, 3), (0, 4)), "00 70 76 00 01 01 02 84 83 80 84"),
        (b"pv_wide", ((67, 67), (0, 3)), "00 70 76 5f 77 69 64 65 00 01 01 02 c0 43 c0 43 80 83"),
        (b"esc\0name\x01end", (), "00 65 73 63 00 ff 6e 61 6d 65 01 65 6e 64 00 01 00"),
        (b"bad\xffname", (), "00 62 61 64 ff 00 6e 61 6d 65 00 01 00"),
    ],
)
def test_keys_are_the_bytes_tensorflow_writes(name, extents, key):
    assert slice_key(name, extents) == bytes.fromhex(key)


@pytest.mark.parametrize(
    ("number", "encoded"),
    [
        (0, "80"), (-1, "7f"), (3, "83"), (63, "bf"), (-64, "40"), (64, "c0 40"), (134, "c0 86"),
        (0x424242, "f0 42 42 42"), (-0x800, "38 00"),
    ],
)  # fmt: skip
def test_signed_numbers_in_keys_are_encoded_as_in_tensorflow(number, encoded):
    key = slice_key(b"x", ((number, 1),))
    assert key == bytes.fromhex("00 78 00 01 01 01") + bytes.fromhex(encoded) + b"\x81"


def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        low, value = value & 0x7F, value >> 7
        out.append(low | (0x80 if value else 0))
        if not value:
            return bytes(out)


def test_packed_varints_decode_to_every_value_across_pieces(monkeypatch):
    monkeypatch.setattr(values, "_VARINT_PIECE", 16)  # many pieces, cut at varint ends
    numbers = [0, 1, 127, 128, 300, 2**32 - 1, 2**63, 2**64 - 1] * 5
    data = np.frombuffer(b"".join(map(_varint, numbers)), np.uint8)
    assert values.decode_varints(data).tolist() == numbers


@pytest.mark.parametrize("data", [b"\x80", b"\x01\xff", b"\xff" * 11 + b"\x01"])
def test_a_cut_or_overlong_varint_is_refused(data):
    with pytest.raises(DecodeError):
        values.decode_varints(np.frombuffer(data, np.uint8))
