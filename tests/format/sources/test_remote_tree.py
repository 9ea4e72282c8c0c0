"""The questions discovery asks of a bucket or a server, answered with few round trips; and the
one sentence a user gets when the packages for a URL are missing."""

from __future__ import annotations

import importlib

import pytest

from ckpt_browser.format.errors import CheckpointError
from ckpt_browser.format.sources import fetchers, locations, remote

PREFIX = "memory://bucket/run"


@pytest.fixture
def bucket():
    """An fsspec memory filesystem laid out like a bucket, with a count of its listings."""
    fsspec = pytest.importorskip("fsspec")
    filesystem = fsspec.filesystem("memory")
    filesystem.store.clear()
    filesystem.pseudo_dirs[:] = [""]
    for name, data in {
        "run/checkpoint": b'model_checkpoint_path: "model.ckpt-5"\n',
        "run/model.ckpt-5.index": b"i" * 1000,
        "run/model.ckpt-5.data-00000-of-00001": bytes(range(256)) * 100,
        "run/eval/events": b"e",
    }.items():
        filesystem.pipe(f"/bucket/{name}", data)
    listings = []
    original = filesystem.ls

    def counting_ls(path, detail=True, **kwargs):
        listings.append(path)
        return original(path, detail=detail, **kwargs)

    filesystem.ls = counting_ls
    yield filesystem, listings
    del filesystem.ls
    filesystem.store.clear()


def test_one_listing_answers_the_questions_about_a_folder(bucket):
    _, listings = bucket
    tree = locations.tree_for(PREFIX)
    assert isinstance(tree, remote.RemoteTree)
    assert tree.exists(f"{PREFIX}/model.ckpt-5.index")
    assert tree.isfile(f"{PREFIX}/checkpoint")
    assert not tree.exists(f"{PREFIX}/model.ckpt-6.index")
    assert tree.isdir(f"{PREFIX}/eval")
    assert not tree.isfile(f"{PREFIX}/eval")
    assert tree.glob(f"{PREFIX}/model.ckpt-5.data-*") == [
        f"{PREFIX}/model.ckpt-5.data-00000-of-00001"
    ]
    assert tree.mtime(f"{PREFIX}/checkpoint") is not None
    assert listings == ["/bucket/run"]
    assert tree.listdir(PREFIX) == [
        "checkpoint",
        "eval",
        "model.ckpt-5.data-00000-of-00001",
        "model.ckpt-5.index",
    ]
    assert listings == ["/bucket/run"]


def test_refresh_sees_new_files(bucket):
    filesystem, listings = bucket
    tree = locations.tree_for(PREFIX)
    assert not tree.exists(f"{PREFIX}/model.ckpt-9.index")
    filesystem.pipe("/bucket/run/model.ckpt-9.index", b"new")
    tree.refresh()
    assert tree.exists(f"{PREFIX}/model.ckpt-9.index")
    assert len(listings) == 2


def test_a_file_in_a_bucket_reads_by_ranges(bucket):
    source = locations.open_source(f"{PREFIX}/model.ckpt-5.data-00000-of-00001", "data file")
    assert source.size == 25_600
    assert bytes(source.read(300, 10)) == bytes(range(44, 54))
    assert source.name == f"{PREFIX}/model.ckpt-5.data-00000-of-00001"


def test_a_missing_object_is_not_found(bucket):
    with pytest.raises(CheckpointError, match="cannot open the index file: not found"):
        locations.open_source(f"{PREFIX}/model.ckpt-6.index", "index file")


def test_http_questions_go_to_the_file_itself(server):
    tree = locations.tree_for(server.url("blob.bin"))
    assert tree.exists(server.url("blob.bin"))
    assert tree.isfile(server.url("blob.bin"))
    assert not tree.exists(server.url("nothing.index"))
    assert tree.isdir(server.url("run"))
    assert not tree.isdir(server.url("blob.bin"))
    assert tree.mtime(server.url("blob.bin")) is not None
    # A server's HTML index is what fsspec can list; it is kept like any listing.
    assert tree.listdir(server.url("run")) == ["model.ckpt-5.index"]
    assert tree.glob(server.url("run") + "/*.index") == [server.url("run/model.ckpt-5.index")]
    before = server.total_requests
    tree.exists(server.url("blob.bin"))
    assert server.total_requests == before


def test_a_missing_fsspec_names_the_extra(monkeypatch):
    real = importlib.import_module

    def without_fsspec(name, *args):
        if name.split(".")[0] == "fsspec":
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return real(name, *args)

    monkeypatch.setattr(fetchers.importlib, "import_module", without_fsspec)
    with pytest.raises(CheckpointError) as caught:
        locations.open_source("s3://bucket/run/model.ckpt.index", "index file")
    assert str(caught.value) == (
        "s3://bucket/run/model.ckpt.index: reading s3:// URLs needs the optional packages "
        "(fsspec is missing): pip install 'ckpt-browser[remote]'"
    )
    with pytest.raises(CheckpointError, match="needs the optional packages"):
        locations.exists("gs://bucket/run/checkpoint")


def test_a_missing_protocol_package_names_it(monkeypatch):
    fsspec = pytest.importorskip("fsspec")

    def not_installed(protocol):
        raise ImportError("Install s3fs to access S3")

    monkeypatch.setattr(fsspec, "get_filesystem_class", not_installed)
    remote.configure(timeout_s=1.5)  # a filesystem not made before
    with pytest.raises(CheckpointError) as caught:
        locations.open_source("s3://bucket/model.ckpt.index", "index file")
    assert "reading s3:// URLs needs the optional packages (s3fs is missing)" in str(caught.value)


def test_an_unknown_protocol_is_one_sentence():
    with pytest.raises(CheckpointError, match="no installed package reads nosuch:// URLs"):
        locations.open_source("nosuch://host/model.ckpt.index", "index file")
