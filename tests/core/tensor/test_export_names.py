"""Tensor names are not paths: export file names stay in their folder, .npz members too."""

from __future__ import annotations

import zipfile

import numpy as np
import pytest

from ckpt_browser.core.tensor.export import ExportError, export_arrays, suggested_file_name


@pytest.mark.parametrize(
    ("keys", "name"),
    [
        (["conv1/bias"], "conv1_bias.npy"),
        (["größe/Gewicht"], "größe_Gewicht.npy"),
        (["../../x"], "_.._x.npy"),
        (["/etc/passwd"], "_etc_passwd.npy"),
        ([".."], "model.ckpt.npy"),
        (["..\\..\\win"], "_.._win.npy"),
        (["evil\nname\x1b[2J\u202e"], "evil_name_[2J_.npy"),
        (["conv1/kernel", "conv1/bias"], "conv1.npz"),
        (["a/b/c", "a/b/d", "a/e"], "a.npz"),
        (["/abs/x", "rel/x"], "model.ckpt.npz"),  # os.path.commonpath raised ValueError here
        (["../../x/a", "../../x/b"], "_.._x.npz"),
    ],
)
def test_suggested_file_name_is_one_safe_component(keys, name):
    assert suggested_file_name(keys, "model.ckpt") == name


def test_long_names_are_cut_to_what_file_systems_hold():
    name = suggested_file_name(["層" * 200], "model")
    assert name.endswith(".npy") and len(name.encode()) <= 255


@pytest.mark.parametrize("bad", ["../../x", "a/../../b", "/etc/x", "..\\..\\x", "a\x00b"])
def test_npz_refuses_names_that_are_unsafe_member_paths(tmp_path, bad):
    out = tmp_path / "out.npz"
    with pytest.raises(ExportError, match=r"export it to \.npy"):
        export_arrays({"ok": np.zeros(2), bad: np.ones(2)}, out)
    assert not out.exists()


def test_npz_keeps_scoped_and_unusual_names_exactly(tmp_path):
    names = ["dense/kernel", "a..b/c", "quote'\"", "evil\nname", "rtl\u202e", "..hidden"]
    out = tmp_path / "out.npz"
    export_arrays({name: np.full(2, i) for i, name in enumerate(names)}, out)
    with np.load(out) as archive:
        assert sorted(archive.files) == sorted(names)
        for i, name in enumerate(names):
            assert archive[name].tolist() == [i, i]
    assert all(not info.filename.startswith("/") for info in zipfile.ZipFile(out).infolist())
