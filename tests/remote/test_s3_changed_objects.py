"""A checkpoint overwritten in its bucket is read anew: neither the in-memory block cache nor the
on-disk cache serves the bytes of the old objects (they are keyed by size and ETag)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from s3_server import S3Server
from tf_checkpoints import write_with_tf

from ckpt_browser.format import open_checkpoint
from ckpt_browser.format.sources import remote

BUCKET = "overwritten-run"


def saved(directory: Path, fill: float) -> Path:
    """A checkpoint of two tensors of the same shapes, whatever `fill` is (same file sizes)."""
    directory.mkdir(parents=True, exist_ok=True)
    values = {
        "kernel": np.full((64, 32), fill, np.float32),
        "bias": np.arange(32, dtype=np.float32) * fill,
    }
    write_with_tf(directory / "model.ckpt", values)
    return directory


@pytest.mark.parametrize("disk_cache", [False, True], ids=["memory cache", "disk cache"])
def test_an_overwritten_checkpoint_is_read_anew(s3_server: S3Server, tmp_path, disk_cache):
    remote.configure(disk_cache=disk_cache)
    root = f"s3://{BUCKET}-{'disk' if disk_cache else 'memory'}"
    s3_server.create_bucket(root.removeprefix("s3://"))
    url = f"{root}/run/model.ckpt"
    s3_server.upload(saved(tmp_path / "first", 1.0), f"{root}/run")
    with open_checkpoint(url) as ckpt:
        np.testing.assert_array_equal(ckpt.read("kernel"), np.full((64, 32), 1.0, np.float32))

    s3_server.upload(saved(tmp_path / "second", 2.0), f"{root}/run")
    remote.refresh_all()  # what File > Refresh does: listings are asked again
    with open_checkpoint(url) as ckpt:
        np.testing.assert_array_equal(ckpt.read("kernel"), np.full((64, 32), 2.0, np.float32))
        np.testing.assert_array_equal(ckpt.read("bias"), np.arange(32, dtype=np.float32) * 2)
