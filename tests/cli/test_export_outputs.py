"""`export` to files whatever the names and the disk: long names, names numpy's savez cannot
take, a full disk; always one sentence on failure, never a traceback or half a file."""

from __future__ import annotations

import errno
import os

import numpy as np
import pytest
from damaged_files import leftovers
from tf_checkpoints import write_with_tf

from ckpt_browser.cli import main
from ckpt_browser.core.tensor import export

LONG = "scope/" + "x" * 70_000  # a zip member name holds at most 65,535 bytes


def run(capsys, *args: str) -> tuple[int, str]:
    code = main(list(args))
    return code, capsys.readouterr().err


@pytest.fixture
def prefix(tmp_path) -> str:
    values = {
        LONG: np.arange(3, dtype=np.float32),
        "file": np.ones(2, np.float32),  # np.savez(file, **arrays) takes these as its arguments
        "allow_pickle": np.zeros(2, np.int32),
        "kernel": np.arange(6, dtype=np.float32).reshape(2, 3),
    }
    return write_with_tf(tmp_path / "src" / "model.ckpt", values)


def test_a_name_too_long_for_a_zip_member_is_refused_in_a_sentence(capsys, tmp_path, prefix):
    out = tmp_path / "out.npz"
    code, err = run(capsys, "export", prefix, LONG, "kernel", "-o", str(out))
    assert code == 2
    assert err.count("\n") == 1 and err.startswith("error: cannot export 'scope/xxx")
    assert "70,006 bytes" in err and "at most 65,531" in err and "export it to .npy" in err
    assert not out.exists() and leftovers(tmp_path) == []
    code, err = run(capsys, "export", prefix, LONG, "-o", str(tmp_path / "long.npy"))
    assert code == 0, err
    np.testing.assert_array_equal(np.load(tmp_path / "long.npy"), [0, 1, 2])


def test_names_that_are_savez_arguments_export_to_npz(capsys, tmp_path, prefix):
    out = tmp_path / "out.npz"
    code, err = run(capsys, "export", prefix, "file", "allow_pickle", "kernel", "-o", str(out))
    assert code == 0, err
    loaded = np.load(out, allow_pickle=False)
    assert sorted(loaded.files) == ["allow_pickle", "file", "kernel"]
    np.testing.assert_array_equal(loaded["file"], [1, 1])
    assert loaded["allow_pickle"].dtype == np.int32
    np.testing.assert_array_equal(loaded["kernel"], np.arange(6).reshape(2, 3))


@pytest.mark.parametrize("suffix", [".npy", ".npz", ".csv"])
def test_a_full_disk_says_which_file_and_why(monkeypatch, capsys, tmp_path, prefix, suffix):
    real_atomic_output = export.atomic_output

    def filling_the_disk(path, mode="wb", **kwargs):
        context = real_atomic_output(path, mode, **kwargs)
        file = context.__enter__()

        def write(data):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

        file.write = write

        class Context:
            def __enter__(self):
                return file

            def __exit__(self, *exc):
                return context.__exit__(*exc)

        return Context()

    monkeypatch.setattr(export, "atomic_output", filling_the_disk)
    out = tmp_path / f"kernel{suffix}"
    code, err = run(capsys, "export", prefix, "kernel", "-o", str(out))
    assert code == 2
    assert err == f"error: cannot write {out}: No space left on device\n"
    assert not out.exists() and leftovers(tmp_path) == []
