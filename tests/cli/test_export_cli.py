"""`ckpt-browser export`: files whose arrays have the shape and the values TensorFlow reads."""

from __future__ import annotations

import json

import numpy as np
import pytest
from tf_checkpoints import import_tensorflow

from ckpt_browser.cli import main
from ckpt_browser.core.tensor.export import exported_strings


def _tf_value(prefix: str, name: str):
    return import_tensorflow().train.load_checkpoint(prefix).get_tensor(name)


def _export(capsys, prefix: str, names, out) -> None:
    code = main(["export", prefix, *names, "-o", str(out)])
    _, err = capsys.readouterr()
    assert code == 0, err


@pytest.mark.parametrize("suffix", [".npy", ".npz"])
def test_scalars_export_as_scalars_with_the_value_tensorflow_reads(
    capsys, scalars_and_strings_ckpt, tmp_path, suffix
):
    ckpt = scalars_and_strings_ckpt
    for name in ckpt.scalars:  # global_step, learning_rate, save_counter
        out = tmp_path / f"{name.split('/')[0]}{suffix}"
        _export(capsys, ckpt.prefix, [name], out)
        loaded = np.load(out, allow_pickle=False)
        array = loaded if suffix == ".npy" else loaded[name]
        expected = _tf_value(ckpt.prefix, name)
        assert array.shape == ()
        assert array.dtype == expected.dtype
        assert array.item() == expected.item()


def test_several_scalars_in_one_npz_keep_their_shapes(capsys, scalars_and_strings_ckpt, tmp_path):
    ckpt = scalars_and_strings_ckpt
    out = tmp_path / "scalars.npz"
    _export(capsys, ckpt.prefix, [*ckpt.scalars, *ckpt.floats], out)
    with np.load(out, allow_pickle=False) as loaded:
        for name in [*ckpt.scalars, *ckpt.floats]:
            expected = _tf_value(ckpt.prefix, name)
            assert loaded[name].shape == expected.shape
            np.testing.assert_array_equal(loaded[name], expected)


def test_scalar_csv_is_one_cell_holding_the_exact_value(capsys, scalars_and_strings_ckpt, tmp_path):
    ckpt = scalars_and_strings_ckpt
    for name in ckpt.scalars:
        out = tmp_path / f"{name.split('/')[0]}.csv"
        _export(capsys, ckpt.prefix, [name], out)
        expected = _tf_value(ckpt.prefix, name)
        (cell,) = out.read_text().split()
        assert expected.dtype.type(cell) == expected


def _as_object_array(value) -> np.ndarray:
    """TensorFlow's value of a string tensor (bytes for a scalar) as an object array of bytes."""
    return value if isinstance(value, np.ndarray) else np.array(value, dtype=object)


def _assert_same_bytes(exported: np.ndarray, expected) -> None:
    expected = _as_object_array(expected)
    strings = exported_strings(exported)
    assert strings.shape == expected.shape
    assert strings.tolist() == expected.tolist()  # bytes == bytes: every byte, NULs included


@pytest.mark.parametrize("suffix", [".npy", ".npz"])
def test_strings_ending_in_nul_bytes_round_trip_byte_for_byte(
    capsys, scalars_and_strings_ckpt, tmp_path, suffix
):
    ckpt = scalars_and_strings_ckpt
    for index, name in enumerate(ckpt.strings):
        out = tmp_path / f"strings{index}{suffix}"
        _export(capsys, ckpt.prefix, [name], out)
        loaded = np.load(out, allow_pickle=False)
        _assert_same_bytes(
            loaded if suffix == ".npy" else loaded[name], _tf_value(ckpt.prefix, name)
        )


def test_the_tf2_object_graph_exports_with_its_trailing_nul(
    capsys, scalars_and_strings_ckpt, tmp_path
):
    ckpt = scalars_and_strings_ckpt
    graph = _tf_value(ckpt.prefix, "_CHECKPOINTABLE_OBJECT_GRAPH")
    assert graph.endswith(b"\x00")  # the case numpy's `S` dtype cuts short
    _export(capsys, ckpt.prefix, ["_CHECKPOINTABLE_OBJECT_GRAPH"], tmp_path / "graph.npy")
    loaded = np.load(tmp_path / "graph.npy", allow_pickle=False)
    assert loaded.shape == ()
    assert int(loaded["length"]) == len(graph)
    assert exported_strings(loaded).item() == graph


def test_one_npz_mixes_exact_strings_floats_and_scalars(capsys, scalars_and_strings_ckpt, tmp_path):
    ckpt = scalars_and_strings_ckpt
    names = [*ckpt.strings, *ckpt.floats, *ckpt.scalars]
    _export(capsys, ckpt.prefix, names, tmp_path / "all.npz")
    with np.load(tmp_path / "all.npz", allow_pickle=False) as loaded:
        assert sorted(loaded.files) == sorted(names)
        for name in ckpt.strings:
            _assert_same_bytes(loaded[name], _tf_value(ckpt.prefix, name))
        for name in [*ckpt.floats, *ckpt.scalars]:
            expected = _tf_value(ckpt.prefix, name)
            assert loaded[name].dtype == expected.dtype
            np.testing.assert_array_equal(loaded[name], expected, strict=True)


def test_strings_without_trailing_nuls_stay_plain_bytes_arrays(capsys, all_dtypes_ckpt, tmp_path):
    name = "string"  # empty strings, non-UTF-8 bytes and an inner NUL, none at an end
    _export(capsys, all_dtypes_ckpt.prefix, [name], tmp_path / "s.npy")
    loaded = np.load(tmp_path / "s.npy", allow_pickle=False)
    assert loaded.dtype.kind == "S"
    assert loaded.tolist() == _tf_value(all_dtypes_ckpt.prefix, name).tolist()


def test_show_json_reports_scalars_with_an_empty_shape(capsys, scalars_and_strings_ckpt):
    ckpt = scalars_and_strings_ckpt
    for name in ckpt.scalars:
        assert main(["show", ckpt.prefix, name, "--json"]) == 0
        record = json.loads(capsys.readouterr().out)
        expected = _tf_value(ckpt.prefix, name)
        assert record["shape"] == []
        assert record["stats"]["min"] == record["stats"]["max"] == expected.item()
