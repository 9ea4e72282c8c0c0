"""A tensor larger than what is held in memory at once (it is spooled to the cache directory and
memory-mapped) read from a bucket in parallel parts: the same values, and export writes them."""

from __future__ import annotations

import json

import numpy as np
import pytest
from s3_server import S3Server
from tf_checkpoints import write_with_tf

from ckpt_browser.cli import main
from ckpt_browser.format import open_checkpoint
from ckpt_browser.format.sources.base import SPOOL_BYTES

BUCKET = "large-tensors"


@pytest.fixture(scope="module")
def large(s3_server: S3Server, tmp_path_factory: pytest.TempPathFactory) -> tuple[str, np.ndarray]:
    rows = SPOOL_BYTES // (4 * 1024) + 512  # past the spooling threshold by 2 MB
    value = np.random.default_rng(3).standard_normal((rows, 1024), dtype=np.float32)
    folder = tmp_path_factory.mktemp("large")
    write_with_tf(folder / "model.ckpt", {"before": np.ones(3, np.float32), "big": value})
    root = s3_server.create_bucket(BUCKET)
    return s3_server.upload(folder, f"{root}/run") + "/model.ckpt", value


def test_a_spooled_tensor_from_s3_has_its_values(capsys, large, tmp_path):
    url, value = large
    with open_checkpoint(url) as ckpt:
        np.testing.assert_array_equal(ckpt.read("big"), value)
        np.testing.assert_array_equal(ckpt.read("big", (slice(-3, None),)), value[-3:])
    assert main(["show", url, "big", "--json"]) == 0
    stats = json.loads(capsys.readouterr().out)["stats"]
    assert stats["max"] == pytest.approx(float(value.max()))
    assert main(["export", url, "big", "-o", str(tmp_path / "big.npy")]) == 0
    np.testing.assert_array_equal(np.load(tmp_path / "big.npy"), value)
