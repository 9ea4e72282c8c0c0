"""Archives behind a URL (a loopback HTTP server with ranges): a zip costs its directory and the
ranges read, never a download; a tar.gz is unpacked into the cache by large range requests."""

from __future__ import annotations

import os
import zipfile
from pathlib import Path

import numpy as np
import pytest
from archive_files import (
    BIG,
    MODEL_FOLDER,
    assert_reads_as_tensorflow,
    tar_folder,
    zip_folder,
)
from http_range_server import RangeServer
from tf_checkpoints import import_tensorflow

from ckpt_browser.format import CheckpointError, open_checkpoint
from ckpt_browser.format.errors import NeedsUnpacking
from ckpt_browser.format.sources import locations
from ckpt_browser.format.sources.archives import tree, unpack_archive
from ckpt_browser.format.sources.remote_source import COALESCE_MARGIN


@pytest.fixture
def served(tmp_path, release):
    folder = tmp_path / "served"
    folder.mkdir()
    zip_folder(release.root, folder / "stored.zip")
    zip_folder(release.root, folder / "deflated.zip", zipfile.ZIP_DEFLATED)
    tar_folder(release.root, folder / "release.tar.gz")
    (folder / "fake.zip").write_bytes(b"not a zip at all" * 100)
    with RangeServer(folder, stall_seconds=10) as server:
        yield server


@pytest.mark.parametrize("name", ["stored.zip", "deflated.zip"])
def test_a_remote_zip_reads_as_tensorflow_reads_the_original(served, release, name):
    assert_reads_as_tensorflow(served.url(name), release.prefix)
    chained = f"zip://{MODEL_FOLDER}/bert_model.ckpt::{served.url(name)}"
    with open_checkpoint(chained) as ckpt:
        assert ckpt.prefix == f"{served.url(name)}/{MODEL_FOLDER}/bert_model.ckpt"


def test_a_remote_stored_zip_costs_its_directory_and_the_ranges_read(served, release):
    archive_size = os.path.getsize(os.path.join(served.directory, "stored.zip"))
    with open_checkpoint(served.url("stored.zip")) as ckpt:
        opened = served.bytes_sent["/stored.zip"]
        served.reset_counts()
        rows = ckpt.read(BIG, (slice(100, 110),))
    reader = import_tensorflow().train.load_checkpoint(release.prefix)
    assert np.array_equal(rows, reader.get_tensor(BIG)[100:110])
    assert opened < 128 << 10 < archive_size // 16  # the directory, headers and the index
    assert served.bytes_sent["/stored.zip"] <= 10 * 256 * 4 + 2 * COALESCE_MARGIN
    assert served.range_requests["/stored.zip"] <= 2


def test_a_remote_tar_gz_is_unpacked_by_large_ranges_once(served, release, cache_dir):
    url = served.url("release.tar.gz")
    with pytest.raises(NeedsUnpacking) as raised:
        open_checkpoint(url)
    assert str(raised.value) == (
        f"{url}: a .tar.gz archive cannot be read at random; unpack it into the cache first: "
        f"ckpt-browser unpack {url} (the window offers to do it)"
    )
    reports: list[tuple[int, int]] = []
    folder = unpack_archive(url, lambda *report: reports.append(report))
    size = os.path.getsize(os.path.join(served.directory, "release.tar.gz"))
    assert folder.startswith(str(cache_dir)) and reports[-1] == (size, size)
    assert served.bytes_sent["/release.tar.gz"] <= size + COALESCE_MARGIN
    assert_reads_as_tensorflow(url, release.prefix)  # the URL now reads the unpacked copy
    served.reset_counts()
    assert unpack_archive(url) == folder
    assert served.bytes_sent["/release.tar.gz"] == 0


def test_a_remote_archive_changed_on_the_server_is_read_again(served, release, monkeypatch):
    url = served.url("stored.zip")
    assert locations.listdir(url) == [MODEL_FOLDER]
    other = zip_folder(
        release.root,
        Path(served.directory) / "other.zip",
        rename=lambda name: name.replace(MODEL_FOLDER, "other"),
    )
    served.rewrite("stored.zip", other.read_bytes())
    monkeypatch.setattr(tree, "_RECHECK_SECONDS", 0.0)
    assert locations.listdir(url) == ["other"]


@pytest.mark.parametrize(
    "name, words", [("fake.zip", "not a zip archive"), ("missing.zip", "no such file")]
)
def test_a_bad_remote_archive_is_one_sentence_with_its_url(served, name, words):
    with pytest.raises(CheckpointError) as raised:
        open_checkpoint(served.url(name))
    message = str(raised.value)
    assert message.startswith(served.url(name)) and words in message and "\n" not in message
