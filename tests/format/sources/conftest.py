"""A loopback HTTP server over a folder of random files, and remote settings fit for tests:
short timeouts, no disk cache unless a test turns it on (and then in a temporary folder), empty
caches and counters; a TensorFlow-written release folder to pack into archives."""

from __future__ import annotations

from pathlib import Path

import pytest
from archive_files import ReleaseFolder, make_release_folder
from http_range_server import RangeServer

from ckpt_browser.format.sources import remote

SIZES = {"blob.bin": 3_000_000, "small.bin": 10_000, "run/model.ckpt-5.index": 50_000}


@pytest.fixture(autouse=True)
def remote_settings_for_tests(fresh_remote_state):
    """Fresh remote state, with short timeouts: the fault tests wait on stalled servers."""
    remote.configure(timeout_s=2.0, connect_timeout_s=2.0)


@pytest.fixture
def files(tmp_path: Path) -> dict[str, bytes]:
    """Random files under tmp_path/served, by relative path."""
    rng = __import__("random").Random(1)
    contents = {}
    for name, size in SIZES.items():
        path = tmp_path / "served" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        contents[name] = rng.randbytes(size)
        path.write_bytes(contents[name])
    return contents


@pytest.fixture
def server(tmp_path: Path, files) -> RangeServer:
    with RangeServer(tmp_path / "served", stall_seconds=10) as running:
        yield running


@pytest.fixture(scope="session")
def release(tmp_path_factory: pytest.TempPathFactory) -> ReleaseFolder:
    return make_release_folder(tmp_path_factory.mktemp("release"))


@pytest.fixture
def cache_dir(tmp_path: Path) -> Path:
    """Where decompressed members and unpacked archives go in a test (set above)."""
    return tmp_path / "cache"
