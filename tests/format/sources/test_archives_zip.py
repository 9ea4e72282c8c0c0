"""Checkpoints inside zip archives, read as TensorFlow reads the original folder.

A stored member is a window of the archive, read by ranges; a deflated one is decompressed once
into the user cache directory, its CRC-32 checked. The archive's own path is its root folder, so
a release zip opens like the folder it was packed from.
"""

from __future__ import annotations

import os
import shutil
import struct
import zipfile
from collections.abc import Sequence

import numpy as np
import pytest
from archive_files import (
    BIG,
    MODEL_FOLDER,
    assert_reads_as_tensorflow,
    set_member_crc,
    zip64_everywhere,
    zip_folder,
)
from tf_checkpoints import import_tensorflow

from ckpt_browser.format import CheckpointError, open_checkpoint
from ckpt_browser.format.sources import locations
from ckpt_browser.format.sources.archives import archive_tree_for, checkpoint_folders
from ckpt_browser.format.sources.base import ByteSource

DATA_MEMBER = f"{MODEL_FOLDER}/bert_model.ckpt.data-00000-of-00001"
COMPRESSIONS = {"stored": zipfile.ZIP_STORED, "deflated": zipfile.ZIP_DEFLATED}


@pytest.mark.parametrize("compression", COMPRESSIONS.values(), ids=COMPRESSIONS.keys())
def test_a_release_zip_opens_like_its_folder_with_tensorflows_values(
    release, tmp_path, compression
):
    archive = zip_folder(release.root, tmp_path / "release.zip", compression)
    with open_checkpoint(str(archive)) as ckpt:
        assert ckpt.prefix == f"{archive}/{MODEL_FOLDER}/bert_model.ckpt"
    assert_reads_as_tensorflow(str(archive), release.prefix)
    # The member's own paths open it too: the prefix, the .index, a data file.
    member_prefix = f"{archive}/{MODEL_FOLDER}/bert_model.ckpt"
    for path in (member_prefix, member_prefix + ".index", f"{archive}/{DATA_MEMBER}"):
        with open_checkpoint(path) as ckpt:
            assert ckpt.prefix == member_prefix


def test_a_deflated_member_is_decompressed_once_into_the_cache_never_beside_the_archive(
    release, tmp_path, cache_dir
):
    archive = zip_folder(release.root, tmp_path / "release.zip", zipfile.ZIP_DEFLATED)
    with open_checkpoint(str(archive)) as ckpt:
        first = ckpt.read(BIG).copy()
    cached = sorted((cache_dir / "archives" / "members").iterdir())
    assert cached, "deflated members are decompressed into the cache"
    assert sorted(os.listdir(tmp_path)) == ["cache", "release.zip"]
    stamps = [path.stat().st_mtime_ns for path in cached]
    locations_tree = archive_tree_for(str(archive))
    locations_tree.contents._decompress = None  # a second decompression would fail here
    with open_checkpoint(str(archive)) as ckpt:
        assert np.array_equal(ckpt.read(BIG), first)
    assert [path.stat().st_mtime_ns for path in cached] == stamps


class RecordingSource(ByteSource):
    """An archive's bytes as a remote source has them (copied, not mapped), noting every range
    asked for."""

    def __init__(self, inner: ByteSource) -> None:
        super().__init__(inner.name, inner.size)
        self.inner = inner
        self.ranges: list[tuple[int, int]] = []

    def read(self, offset: int, length: int):
        self.check_range(offset, length)
        self.ranges.append((offset, length))
        return bytes(self.inner.read(offset, length))

    @property
    def identity(self) -> tuple:
        return self.inner.identity


def data_window(archive, name: str) -> tuple[int, int]:
    """Where a stored member's bytes lie in the archive (after its local header)."""
    info = zipfile.ZipFile(archive).getinfo(name)
    with open(archive, "rb") as file:
        file.seek(info.header_offset + 26)
        name_length, extra_length = struct.unpack("<HH", file.read(4))
    return info.header_offset + 30 + name_length + extra_length, info.file_size


def overlap(ranges: Sequence[tuple[int, int]], start: int, size: int) -> int:
    return sum(
        max(0, min(offset + length, start + size) - max(offset, start)) for offset, length in ranges
    )


def test_a_slice_of_a_stored_member_costs_only_its_ranges_of_the_archive(
    release, tmp_path, monkeypatch, cache_dir
):
    archive = zip_folder(release.root, tmp_path / "release.zip", zipfile.ZIP_STORED)
    recorded: list[RecordingSource] = []
    local_open = locations.LocalTree.open

    def recording_open(self, path, what):
        source = local_open(self, path, what)
        if path.endswith(".zip"):
            recorded.append(RecordingSource(source))
            return recorded[-1]
        return source

    monkeypatch.setattr(locations.LocalTree, "open", recording_open)
    with open_checkpoint(str(archive)) as ckpt:
        rows = ckpt.read(BIG, (slice(100, 110),))
    (source,) = recorded
    reader = import_tensorflow().train.load_checkpoint(release.prefix)
    assert np.array_equal(rows, reader.get_tensor(BIG)[100:110])
    start, size = data_window(archive, DATA_MEMBER)
    assert overlap(source.ranges, start, size) == 10 * 256 * 4
    assert sum(length for _, length in source.ranges) < 64 << 10  # the archive is over 2 MB
    assert not (cache_dir / "archives" / "members").exists()


def test_the_tree_answers_discovery_from_the_directory(release, tmp_path):
    archive = str(zip_folder(release.root, tmp_path / "release.zip"))
    model = f"{archive}/{MODEL_FOLDER}"
    assert locations.isdir(archive) and not locations.isfile(archive)
    assert locations.listdir(archive) == [MODEL_FOLDER]
    assert locations.listdir(model) == sorted(
        [
            "bert_config.json",
            "bert_model.ckpt.data-00000-of-00001",
            "bert_model.ckpt.index",
            "vocab.txt",
        ]
    )
    assert locations.isfile(f"{model}/vocab.txt") and locations.exists(f"{model}/")
    assert not locations.exists(f"{model}/checkpoint")
    assert locations.glob(f"{model}/bert_model.ckpt.data-*-of-*") == [f"{archive}/{DATA_MEMBER}"]
    assert locations.glob(f"{archive}/*") == [model]  # `*` does not cross a `/`
    assert locations.mtime(f"{model}/vocab.txt") is not None
    assert bytes(locations.read_capped(f"{model}/vocab.txt", "vocabulary", 100, "")) == (
        b"[PAD]\n[CLS]\n[SEP]\n"
    )
    with pytest.raises(CheckpointError, match="is a folder in the archive"):
        locations.open_source(model, "file")
    assert checkpoint_folders(archive) == [model]


def test_a_local_folder_named_like_an_archive_is_a_folder(release, tmp_path):
    folder = tmp_path / "run.zip"
    shutil.copytree(release.root / MODEL_FOLDER, folder)
    assert archive_tree_for(str(folder)) is None
    assert archive_tree_for(str(folder / "bert_model.ckpt.index")) is None
    with open_checkpoint(str(folder)) as ckpt:
        assert ckpt.prefix == str(folder / "bert_model.ckpt")


def test_zip64_records_are_read(release, tmp_path):
    with zip64_everywhere():
        archive = zip_folder(release.root, tmp_path / "release.zip")
    assert_reads_as_tensorflow(str(archive), release.prefix)


@pytest.mark.parametrize(
    "folder", ["run [1] *?", "modèle é#%", "a b/c d"], ids=["glob magic", "unicode", "nested"]
)
def test_odd_member_and_archive_names_work(release, tmp_path, folder):
    archive = tmp_path / f"release [{folder[:3]}].zip"
    zip_folder(release.root, archive, rename=lambda name: name.replace(MODEL_FOLDER, folder))
    # A folder with one folder in it means that one: the archive, or its first folder when the
    # checkpoint lies two deep.
    opened = f"{archive}/{folder.split('/')[0]}" if "/" in folder else str(archive)
    with open_checkpoint(opened) as ckpt:
        assert ckpt.prefix == f"{archive}/{folder}/bert_model.ckpt"
    assert_reads_as_tensorflow(opened, release.prefix)
    assert checkpoint_folders(str(archive)) == [f"{archive}/{folder}"]


def test_a_member_outside_the_root_is_never_served(release, tmp_path):
    archive = str(
        zip_folder(
            release.root,
            tmp_path / "release.zip",
            extra={"../evil.txt": b"x", "/etc/evil.txt": b"x", "a/../../evil2.txt": b"x"},
        )
    )
    assert locations.listdir(archive) == [MODEL_FOLDER]
    tree = archive_tree_for(archive)
    assert sorted(tree.contents.escaping) == ["../evil.txt", "/etc/evil.txt", "a/../../evil2.txt"]
    with pytest.raises(CheckpointError, match="cannot leave it"):
        locations.open_source(f"{archive}/../evil.txt", "file")
    with open_checkpoint(archive) as ckpt:  # the rest of the archive is fine
        assert BIG in ckpt


def test_a_damaged_deflated_member_names_member_and_archive(release, tmp_path):
    archive = zip_folder(release.root, tmp_path / "release.zip", zipfile.ZIP_DEFLATED)
    set_member_crc(archive, DATA_MEMBER, 0x12345678)
    with pytest.raises(CheckpointError) as raised, open_checkpoint(str(archive)) as ckpt:
        ckpt.read(BIG)
    message = str(raised.value)
    assert DATA_MEMBER in message and str(archive) in message and "CRC-32" in message
    assert "\n" not in message


@pytest.mark.parametrize(
    "damage, words",
    [
        (lambda data: b"this is no zip archive" * 10, "not a zip archive"),
        (lambda data: data[: len(data) // 2], "truncated"),
        (lambda data: b"", "not a zip archive"),
    ],
    ids=["not a zip", "truncated", "empty"],
)
def test_a_bad_archive_is_one_sentence_with_its_location(release, tmp_path, damage, words):
    archive = zip_folder(release.root, tmp_path / "release.zip")
    archive.write_bytes(damage(archive.read_bytes()))
    for path in (str(archive), f"{archive}/{MODEL_FOLDER}/bert_model.ckpt"):
        with pytest.raises(CheckpointError) as raised:
            open_checkpoint(path)
        message = str(raised.value)
        assert message.startswith(f"{archive}: ") and words in message and "\n" not in message


def test_an_archive_replaced_on_disk_is_read_again(release, tmp_path):
    archive = tmp_path / "release.zip"
    zip_folder(release.root, archive)
    assert locations.listdir(str(archive)) == [MODEL_FOLDER]
    zip_folder(release.root, archive, rename=lambda name: name.replace(MODEL_FOLDER, "other"))
    assert locations.listdir(str(archive)) == ["other"]


def test_checkpoint_folders_lists_shallowest_first(release, tmp_path):
    extra = {
        "deep/er/model.ckpt-5.index": b"",
        "saved/saved_model.pb": b"",
        "saved/variables/variables.index": b"",
        "train/checkpoint": b"",
        "train/notes.txt": b"",
    }
    archive = str(zip_folder(release.root, tmp_path / "release.zip", extra=extra))
    assert checkpoint_folders(archive) == [
        f"{archive}/saved",
        f"{archive}/train",
        f"{archive}/{MODEL_FOLDER}",
        f"{archive}/deep/er",
    ]
    assert checkpoint_folders(str(release.root)) == []
