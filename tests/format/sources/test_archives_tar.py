"""Tar archives: refused in one sentence until unpacked into the user cache directory, then read
as TensorFlow reads the original folder."""

from __future__ import annotations

import os
import shutil
import tarfile

import pytest
from archive_files import BIG, MODEL_FOLDER, assert_reads_as_tensorflow, names_under, tar_folder

from ckpt_browser.format import CheckpointError, open_checkpoint
from ckpt_browser.format.atomic import _HOST
from ckpt_browser.format.errors import Cancelled, NeedsUnpacking
from ckpt_browser.format.sources import base, locations
from ckpt_browser.format.sources.archives import unpack_archive

KINDS = {".tar": "w", ".tar.gz": "w:gz", ".tgz": "w:gz", ".tar.bz2": "w:bz2", ".tar.xz": "w:xz"}


@pytest.mark.parametrize("suffix", KINDS)
def test_a_tar_archive_is_refused_in_one_sentence_saying_how_to_unpack_it(
    release, tmp_path, suffix
):
    archive = tar_folder(release.root, tmp_path / f"release{suffix}", KINDS[suffix])
    for path in (str(archive), f"{archive}/{MODEL_FOLDER}/bert_model.ckpt"):
        with pytest.raises(NeedsUnpacking) as raised:
            open_checkpoint(path)
        assert str(raised.value) == (
            f"{archive}: a {suffix} archive cannot be read at random; unpack it into the cache "
            f"first: ckpt-browser unpack {archive} (the window offers to do it)"
        )
        assert raised.value.archive == str(archive)


def test_unpacking_streams_the_archive_into_the_cache_with_progress(release, tmp_path, cache_dir):
    archive = tar_folder(release.root, tmp_path / "release.tar.gz")
    reports: list[tuple[int, int]] = []
    folder = unpack_archive(str(archive), lambda done, total: reports.append((done, total)))
    assert folder.startswith(str(cache_dir))
    assert os.path.basename(folder).startswith("release-")
    assert names_under(folder) == names_under(release.root)
    assert sorted(os.listdir(tmp_path)) == ["cache", "release.tar.gz"]  # nothing beside it
    size = archive.stat().st_size
    assert reports[-1] == (size, size)
    assert [done for done, _ in reports] == sorted(done for done, _ in reports)
    # The folder opens, and so does the archive's location: it now reads the unpacked copy.
    assert_reads_as_tensorflow(folder, release.prefix)
    assert_reads_as_tensorflow(str(archive), release.prefix)
    with open_checkpoint(str(archive)) as ckpt:
        assert ckpt.prefix == f"{archive}/{MODEL_FOLDER}/bert_model.ckpt"


def test_a_second_unpack_of_the_same_archive_does_no_work(release, tmp_path, monkeypatch):
    archive = tar_folder(release.root, tmp_path / "release.tgz")
    folder = unpack_archive(str(archive))
    monkeypatch.setattr(tarfile, "open", None)  # any unpacking would fail
    reports: list[tuple[int, int]] = []
    assert unpack_archive(str(archive), lambda *report: reports.append(report)) == folder
    assert unpack_archive(f"{archive}/{MODEL_FOLDER}") == folder
    assert reports == []


def test_a_changed_archive_is_unpacked_again(release, tmp_path):
    archive = tar_folder(release.root, tmp_path / "release.tar")
    first = unpack_archive(str(archive))
    tar_folder(release.root, archive, "w", extra={"notes.txt": b"new"})
    second = unpack_archive(str(archive))
    assert second != first and "notes.txt" in os.listdir(second)


@pytest.mark.parametrize("name", ["../evil.txt", "a/../../evil.txt"])
def test_a_member_escaping_the_folder_stops_the_unpacking_and_nothing_is_kept(
    release, tmp_path, cache_dir, name
):
    archive = tar_folder(release.root, tmp_path / "release.tar.gz", extra={name: b"x"})
    with pytest.raises(CheckpointError) as raised:
        unpack_archive(str(archive))
    message = str(raised.value)
    assert message.startswith(f"{archive}: member {name!r}") and "nothing was kept" in message
    assert names_under(cache_dir / "archives" / "unpacked") == set()
    assert not (tmp_path / "evil.txt").exists() and not (cache_dir / "evil.txt").exists()


def test_a_link_out_of_the_folder_is_refused(release, tmp_path, cache_dir):
    archive = tmp_path / "release.tar"
    with tarfile.open(archive, "w") as packed:
        link = tarfile.TarInfo("model/passwd")
        link.type, link.linkname = tarfile.SYMTYPE, "/etc/passwd"
        packed.addfile(link)
    with pytest.raises(CheckpointError, match="links outside the folder"):
        unpack_archive(str(archive))
    assert names_under(cache_dir / "archives" / "unpacked") == set()


@pytest.mark.parametrize(
    "damage, words",
    [
        (lambda data: data[: len(data) // 2], "the archive ends early, so it is truncated"),
        (lambda data: b"no tar archive " * 100, "not a readable tar archive"),
    ],
    ids=["truncated", "not a tar"],
)
def test_a_bad_archive_is_one_clear_sentence_and_nothing_is_kept(
    release, tmp_path, cache_dir, damage, words
):
    archive = tar_folder(release.root, tmp_path / "release.tar.gz")
    archive.write_bytes(damage(archive.read_bytes()))
    with pytest.raises(CheckpointError) as raised:
        unpack_archive(str(archive))
    message = str(raised.value)
    assert message.startswith(f"{archive}: {words}") and "\n" not in message
    assert names_under(cache_dir / "archives" / "unpacked") == set()


def test_cancel_stops_between_pieces_and_nothing_is_kept(release, tmp_path, cache_dir, monkeypatch):
    archive = tar_folder(release.root, tmp_path / "release.tar")  # over 2 MB
    monkeypatch.setattr("ckpt_browser.format.sources.archives.unpack.SPOOL_PIECE", 1 << 16)
    pieces: list[int] = []
    with base.cancellable(lambda: len(pieces) >= 3), pytest.raises(Cancelled):
        unpack_archive(str(archive), lambda done, total: pieces.append(done))
    assert pieces == [1 << 16, 2 << 16, 3 << 16]
    assert names_under(cache_dir / "archives" / "unpacked") == set()


def test_a_partial_folder_of_a_killed_unpacking_is_swept(release, tmp_path, cache_dir):
    unpacked = cache_dir / "archives" / "unpacked"
    stale = unpacked / f".release-0.ckpt-browser-{_HOST}-{2**22 + 7}-0123456789abcdef.tmp"
    (stale / "model").mkdir(parents=True)
    unpack_archive(str(tar_folder(release.root, tmp_path / "release.tar")))
    assert not stale.exists()


def test_a_missing_archive_or_a_zip_is_not_unpacked(release, tmp_path):
    with pytest.raises(CheckpointError, match="not a tar archive"):
        unpack_archive(str(tmp_path / "missing.tar.gz"))
    shutil.make_archive(str(tmp_path / "release"), "zip", release.root)
    with pytest.raises(CheckpointError, match=r"a \.zip is read in place"):
        unpack_archive(str(tmp_path / "release.zip"))


def test_a_local_folder_named_like_a_tar_is_a_folder(release, tmp_path):
    folder = tmp_path / "run.tar.gz"
    shutil.copytree(release.root / MODEL_FOLDER, folder)
    assert not locations.archive_member(str(folder))
    with open_checkpoint(str(folder)) as ckpt:
        assert BIG in ckpt
