"""File > Export Tensor writes the selected tensor as .npy or .csv, checked against TensorFlow."""

from __future__ import annotations

import numpy as np
import tf_checkpoints as tfc

from ckpt_browser.core.tensor.export import exported_strings


def _tf_value(prefix: str, name: str) -> np.ndarray:
    tf = tfc.import_tensorflow()
    return tf.train.load_checkpoint(prefix).get_tensor(name)


def _export(window, wait_idle, name: str, path) -> None:
    assert window.select(name)
    wait_idle(window)
    assert window.export_action.isEnabled()
    window.export.export(str(path))
    wait_idle(window)


def test_npy_export_of_a_4d_tensor(window, wait_idle, shapes_ckpt, tmp_path):
    window.open_path(shapes_ckpt.prefix)
    out = tmp_path / "kernel.npy"
    _export(window, wait_idle, "net/layer_10/kernel", out)
    loaded = np.load(out, allow_pickle=False)
    np.testing.assert_array_equal(loaded, _tf_value(shapes_ckpt.prefix, "net/layer_10/kernel"))
    assert window.export.last_written == str(out)
    assert str(out) in window.statusBar().currentMessage()


def test_npy_export_of_strings_loads_without_pickle(window, wait_idle, shapes_ckpt, tmp_path):
    window.open_path(shapes_ckpt.prefix)
    out = tmp_path / "grid.npy"
    _export(window, wait_idle, "vocab/grid", out)
    loaded = np.load(out, allow_pickle=False)
    assert loaded.tolist() == _tf_value(shapes_ckpt.prefix, "vocab/grid").tolist()


def test_csv_export_of_a_2d_tensor(window, wait_idle, shapes_ckpt, tmp_path):
    window.open_path(shapes_ckpt.prefix)
    out = tmp_path / "kernel.csv"
    _export(window, wait_idle, "net/layer_2/kernel", out)
    loaded = np.loadtxt(out, delimiter=",", dtype=np.float32)
    np.testing.assert_array_equal(loaded, _tf_value(shapes_ckpt.prefix, "net/layer_2/kernel"))


def test_csv_export_of_a_4d_tensor_is_refused_with_a_reason(
    window, wait_idle, shapes_ckpt, tmp_path
):
    window.open_path(shapes_ckpt.prefix)
    exports = tmp_path / "exports"
    exports.mkdir()
    out = exports / "kernel.csv"
    _export(window, wait_idle, "net/layer_10/kernel", out)
    assert not out.exists()
    assert "rank 4" in window.last_error
    assert window.error_box is not None and window.error_box.isVisible()
    assert not list(exports.iterdir())  # no temporary file left behind


def test_npy_export_of_scalars_keeps_shape_and_value(
    window, wait_idle, scalars_and_strings_ckpt, tmp_path
):
    ckpt = scalars_and_strings_ckpt
    window.open_path(ckpt.prefix)
    wait_idle(window)
    for name in ckpt.scalars:  # global_step, learning_rate, save_counter
        out = tmp_path / f"{name.split('/')[0]}.npy"
        _export(window, wait_idle, name, out)
        loaded = np.load(out, allow_pickle=False)
        expected = _tf_value(ckpt.prefix, name)
        assert loaded.shape == ()
        assert loaded.dtype == expected.dtype and loaded.item() == expected.item()


def test_npy_export_of_strings_ending_in_nul_is_byte_for_byte(
    window, wait_idle, scalars_and_strings_ckpt, tmp_path
):
    ckpt = scalars_and_strings_ckpt
    window.open_path(ckpt.prefix)
    wait_idle(window)
    for index, name in enumerate(ckpt.strings):  # with the TF2 object graph
        out = tmp_path / f"strings{index}.npy"
        _export(window, wait_idle, name, out)
        assert window.last_error is None, window.last_error
        strings = exported_strings(np.load(out, allow_pickle=False))
        expected = _tf_value(ckpt.prefix, name)
        assert strings.tolist() == np.asarray(expected, dtype=object).tolist()
