"""`.npz` archives behind the `Checkpoint` API, never unpickled."""

from __future__ import annotations

import numpy as np
import pytest

from ckpt_browser.format import CheckpointError, open_checkpoint


def test_arrays_read_as_saved_compressed_or_not(tmp_path):
    arrays = {
        "dense/kernel": np.arange(6, dtype=np.float32).reshape(2, 3),
        "dense/bias": np.array([0.5, -1.0, 2.0]),
        "step": np.array(42, np.int64),
    }
    for save in (np.savez, np.savez_compressed):
        path = tmp_path / f"{save.__name__}.npz"
        save(path, **arrays)
        with open_checkpoint(path) as checkpoint:
            assert checkpoint.format_name == "npz"
            assert list(checkpoint) == sorted(arrays)
            for name, expected in arrays.items():
                assert checkpoint[name].shape == expected.shape
                assert checkpoint[name].dtype.numpy == expected.dtype
                np.testing.assert_array_equal(checkpoint.read(name), expected)
            np.testing.assert_array_equal(checkpoint.read("dense/kernel", (1,)), [3, 4, 5])


def test_object_members_are_listed_in_a_warning_and_never_unpickled(tmp_path):
    path = tmp_path / "mixed.npz"
    np.savez(path, weights=np.ones(3, np.float32), objects=np.array([{"a": 1}], dtype=object))
    with open_checkpoint(path) as checkpoint:
        assert list(checkpoint) == ["weights"]
        assert (
            "'objects' (Python objects, which are read only by unpickling)"
            in (checkpoint.warnings[0])
        )


def test_a_file_that_is_not_a_zip_is_refused(tmp_path):
    path = tmp_path / "fake.npz"
    path.write_bytes(b"not a zip at all")
    with pytest.raises(CheckpointError, match="not an npz archive"):
        open_checkpoint(path)


def test_a_pytorch_file_without_pytorch_names_the_extra(tmp_path):
    pytest.importorskip("safetensors")
    try:
        import torch  # noqa: F401

        pytest.skip("PyTorch is installed here")
    except ImportError:
        pass
    path = tmp_path / "pytorch_model.bin"
    path.write_bytes(b"\x80\x02}q\x00.")  # a pickle: never opened without torch
    with pytest.raises(CheckpointError, match=r"pip install 'ckpt-browser\[torch\]'") as raised:
        open_checkpoint(path)
    assert "weights_only" in str(raised.value)
