"""`ckpt-browser export`: files whose arrays have the shape and the values TensorFlow reads."""

from __future__ import annotations

import numpy as np
import pytest
from tf_checkpoints import import_tensorflow

from ckpt_browser.cli import main


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
