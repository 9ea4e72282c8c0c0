"""safetensors files behind the `Checkpoint` API: written by the `safetensors` package, read here
with equal names, dtypes, shapes and values; sharded sets by their index; hostile headers refused
in one sentence."""

from __future__ import annotations

import json
import struct

import ml_dtypes
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from safetensors.numpy import save_file

from ckpt_browser.format import CheckpointError, open_checkpoint

TENSORS = {
    "encoder.layer.0.weight": np.arange(12, dtype=np.float32).reshape(3, 4),
    "encoder.layer.0.bias": np.array([1.5, -2.0, 0.0], np.float64),
    "embeddings.ids": np.arange(6, dtype=np.int64).reshape(2, 3),
    "mask": np.array([True, False, True]),
    "half": np.linspace(-1, 1, 5).astype(np.float16),
    "brain": np.linspace(-3, 3, 8).astype(ml_dtypes.bfloat16).reshape(2, 2, 2),
    "scalar": np.array(7, np.int32),
    "empty": np.zeros((0, 3), np.float32),
}


def test_every_tensor_reads_as_written(tmp_path):
    path = tmp_path / "model.safetensors"
    save_file(TENSORS, str(path), metadata={"format": "pt"})
    with open_checkpoint(path) as checkpoint:
        assert checkpoint.format_name == "safetensors"
        assert sorted(checkpoint) == sorted(TENSORS)
        for name, expected in TENSORS.items():
            info = checkpoint[name]
            assert info.shape == expected.shape
            assert info.dtype.numpy == expected.dtype
            assert info.nbytes == expected.nbytes
            values = checkpoint.read(name)
            assert values.dtype == expected.dtype
            np.testing.assert_array_equal(values, expected)
        np.testing.assert_array_equal(
            checkpoint.read("encoder.layer.0.weight", (slice(1, 3), 2)),
            TENSORS["encoder.layer.0.weight"][1:3, 2],
        )
        assert checkpoint.metadata == {"format": "pt"}
        assert checkpoint.verify() == []


def test_a_model_folder_opens_by_its_weights(tmp_path):
    save_file({"w": np.ones((2, 2), np.float32)}, str(tmp_path / "model.safetensors"))
    with open_checkpoint(tmp_path) as checkpoint:
        assert list(checkpoint) == ["w"]


def _sharded(tmp_path) -> dict[str, str]:
    first = {k: TENSORS[k] for k in ("encoder.layer.0.weight", "encoder.layer.0.bias")}
    second = {k: v for k, v in TENSORS.items() if k not in first}
    save_file(first, str(tmp_path / "model-00001-of-00002.safetensors"))
    save_file(second, str(tmp_path / "model-00002-of-00002.safetensors"))
    weight_map = {k: "model-00001-of-00002.safetensors" for k in first}
    weight_map |= {k: "model-00002-of-00002.safetensors" for k in second}
    return weight_map


def _write_index(tmp_path, weight_map) -> str:
    index = tmp_path / "model.safetensors.index.json"
    index.write_text(json.dumps({"metadata": {"total_size": 1}, "weight_map": weight_map}))
    return str(index)


def test_a_sharded_set_reads_through_its_index(tmp_path):
    index = _write_index(tmp_path, _sharded(tmp_path))
    for path in (index, tmp_path):
        with open_checkpoint(path) as checkpoint:
            assert sorted(checkpoint) == sorted(TENSORS)
            assert checkpoint.num_shards == 2
            for name, expected in TENSORS.items():
                np.testing.assert_array_equal(checkpoint.read(name), expected)


def test_an_index_that_misplaces_a_name_or_points_outside_is_refused(tmp_path):
    weight_map = _sharded(tmp_path)
    weight_map["mask"] = "model-00001-of-00002.safetensors"
    with pytest.raises(CheckpointError, match="puts 'mask' in model-00001-of-00002"):
        open_checkpoint(_write_index(tmp_path, weight_map))
    weight_map["mask"] = "../elsewhere.safetensors"
    with pytest.raises(CheckpointError, match="not a file name beside it"):
        open_checkpoint(_write_index(tmp_path, weight_map))


# -- headers that lie (after safetensors' own attacks/ folder) -------------------------------


def _hostile(tmp_path, header: dict, data_bytes: int = 16) -> str:
    text = json.dumps(header).encode()
    text += b" " * (-len(text) % 8)
    path = tmp_path / "hostile.safetensors"
    path.write_bytes(struct.pack("<Q", len(text)) + text + b"\0" * data_bytes)
    return str(path)


@pytest.mark.parametrize(
    ("header", "message"),
    [
        (
            {"a": {"dtype": "F32", "shape": [8], "data_offsets": [0, 32]}},
            r"tensor 'a' of the safetensors header lies past the end of the file: its bytes end "
            r"at 32 but the data holds 16",
        ),
        (
            {
                "a": {"dtype": "F32", "shape": [4], "data_offsets": [0, 16]},
                "b": {"dtype": "F32", "shape": [2], "data_offsets": [8, 16]},
            },
            r"tensor 'b' of the safetensors header overlaps 'a'",
        ),
        (
            {"a": {"dtype": "F32", "shape": [2**62, 2**40], "data_offsets": [0, 16]}},
            r"has 16 bytes where a float32 tensor of shape \[4611686018427387904, "
            r"1099511627776\] needs",
        ),
        (
            {"a": {"dtype": "F32", "shape": [-4], "data_offsets": [0, 16]}},
            r"has the shape \[-4\], not a list of sizes",
        ),
        (
            {"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}},
            r"bytes 8 to 16 of the safetensors data belong to no tensor|tensors end at 8",
        ),
        (
            {"a": {"dtype": "F32", "shape": [4], "data_offsets": [16, 0]}},
            r"not \[begin, end\] with begin <= end",
        ),
        (
            {
                "a": {"dtype": "F32", "shape": [4], "data_offsets": [0, 16]},
                "e": {"dtype": "BF16", "shape": [0, 2**62], "data_offsets": [16, 16]},
            },
            r"tensor 'e' of the safetensors header has shape \[0, 4611686018427387904\], whose "
            r"dimensions multiply past the largest NumPy array",
        ),
    ],
    ids=[
        "past-the-end",
        "overlapping",
        "absurd-shape",
        "negative-size",
        "gap",
        "reversed",
        "empty-yet-too-big",
    ],
)
def test_a_header_that_lies_is_refused_in_one_sentence(tmp_path, header, message):
    with pytest.raises(CheckpointError, match=message) as raised:
        open_checkpoint(_hostile(tmp_path, header))
    assert "\n" not in str(raised.value)
    assert "hostile.safetensors" in str(raised.value)


def test_a_header_length_past_the_file_and_a_header_that_is_not_json(tmp_path):
    path = tmp_path / "short.safetensors"
    path.write_bytes(struct.pack("<Q", 1 << 40) + b"{}")
    with pytest.raises(CheckpointError, match="more than the 100,000,000 safetensors allows"):
        open_checkpoint(path)
    path.write_bytes(struct.pack("<Q", 64) + b"{}")
    with pytest.raises(CheckpointError, match="header length says 64 bytes, but the file holds 2"):
        open_checkpoint(path)
    path.write_bytes(struct.pack("<Q", 8) + b"not json")
    with pytest.raises(CheckpointError, match="its header is not JSON"):
        open_checkpoint(path)
    path.write_bytes(b"abc")
    with pytest.raises(CheckpointError, match="shorter than the 8-byte header length"):
        open_checkpoint(path)


# -- any header: it opens and reads, or it is refused in one sentence --------------------------

_SIZES = {"F32": 4, "F16": 2, "BF16": 2, "I64": 8, "U8": 1, "BOOL": 1, "F8_E4M3": 1}
_tensors = st.lists(
    st.tuples(st.sampled_from(sorted(_SIZES)), st.lists(st.integers(0, 3), max_size=3)),
    max_size=4,
)
_mutations = st.one_of(
    st.none(),
    st.tuples(st.just("offset"), st.integers(0, 3), st.integers(0, 1), st.integers(-9, 9)),
    st.tuples(st.just("shape"), st.integers(0, 3), st.integers(-1, 2**62)),
    st.tuples(st.just("dtype"), st.integers(0, 3), st.sampled_from(["F64", "F4", "XX", 7])),
    st.tuples(st.just("data"), st.integers(-9, 9)),
)


@settings(
    max_examples=400, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(tensors=_tensors, mutation=_mutations)
def test_any_header_opens_and_reads_or_is_refused_in_one_sentence(tmp_path, tensors, mutation):
    """Consistent headers, each with at most one field changed (an offset, a size, a dtype, the
    data's length): opened and read in full, or refused with one line, never anything else."""
    header, offset = {}, 0
    for number, (dtype, shape) in enumerate(tensors):
        size = _SIZES[dtype] * int(np.prod(shape))
        header[f"t{number}"] = {
            "dtype": dtype,
            "shape": shape,
            "data_offsets": [offset, offset + size],
        }
        offset += size
    data_bytes = offset
    names = list(header)
    if mutation is not None and mutation[0] == "data":
        data_bytes = max(0, offset + mutation[1])
    elif mutation is not None and names:
        entry = header[names[mutation[1] % len(names)]]
        if mutation[0] == "offset":
            entry["data_offsets"][mutation[2]] += mutation[3]
        elif mutation[0] == "shape":
            entry["shape"] = [*entry["shape"], mutation[2]]
        else:
            entry["dtype"] = mutation[2]
    path = _hostile(tmp_path, header, data_bytes)
    try:
        checkpoint = open_checkpoint(path)
    except CheckpointError as exc:
        assert "\n" not in str(exc)
        return
    with checkpoint:
        for name, info in checkpoint.items():
            assert checkpoint.read(name).shape == info.shape
