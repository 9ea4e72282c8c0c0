"""A loopback S3 server per test module, and the caches of remote reading emptied before each test.

Each module gets its own server (and so its own endpoint), so each module uses bucket names of its
own: no filesystem object the program keeps for a bucket then points at an earlier module's server.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from s3_server import S3Server, running_s3_server


@pytest.fixture(scope="module")
def s3_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Server]:
    home = tmp_path_factory.mktemp("s3_home")
    with running_s3_server(home) as server, pytest.MonkeyPatch.context() as patch:
        # spooled ranges and any on-disk cache go to a temporary folder, never the user's
        patch.setenv("CKPT_BROWSER_CACHE_DIR", str(home / "cache"))
        yield server


@pytest.fixture(autouse=True)
def fresh_remote_caches() -> Iterator[None]:
    """Every test asks the server again (no listing, range or filesystem object is reused) with
    the default settings, and leaves them so."""
    import s3fs

    from ckpt_browser.format.sources import remote, remote_settings

    s3fs.S3FileSystem.clear_instance_cache()
    remote.clear_memory_cache()
    remote.refresh_all()
    remote.reset_transfer_stats()
    yield
    remote_settings.reset()
    remote.clear_memory_cache()
