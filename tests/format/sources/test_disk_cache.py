"""The on-disk cache: a reopened file is served from disk with only the metadata request, a changed
file is never served stale, a crash never leaves a wrong byte, and the folder keeps its budget."""

from __future__ import annotations

import json
import os

import pytest

from ckpt_browser.format.sources import remote
from ckpt_browser.format.sources.disk_cache import DiskCache, RangeSet, disk_cache, remote_cache_dir
from ckpt_browser.format.sources.fetchers import RemoteFile
from ckpt_browser.format.sources.remote_source import RemoteSource


@pytest.fixture
def on_disk(tmp_path):
    remote.configure(disk_cache=True)
    assert remote_cache_dir().startswith(str(tmp_path))
    return remote_cache_dir()


def _read_some(source: RemoteSource) -> list[bytes]:
    return [bytes(source.whole()) if source.size < 100_000 else b"", bytes(source.read(5, 50))]


def test_a_reopened_file_is_read_from_disk_with_only_the_metadata_request(server, files, on_disk):
    first = RemoteSource(server.url("blob.bin"))
    expected = [bytes(first.read(100_000, 200_000)), bytes(first.read(2_000_000, 700_000))]
    index = RemoteSource(server.url("run/model.ckpt-5.index"))
    assert bytes(index.whole()) == files["run/model.ckpt-5.index"]
    first.close()
    index.close()
    remote.clear_memory_cache()
    server.reset_counts()

    again = RemoteSource(server.url("blob.bin"))
    got = [bytes(again.read(100_000, 200_000)), bytes(again.read(2_000_000, 700_000))]
    index = RemoteSource(server.url("run/model.ckpt-5.index"))
    assert bytes(index.whole()) == files["run/model.ckpt-5.index"]
    assert got == expected
    assert [method for method, _, _ in server.log] == ["HEAD", "HEAD"]
    # A range partly on disk fetches only the rest.
    server.reset_counts()
    assert bytes(again.read(250_000, 100_000)) == files["blob.bin"][250_000:350_000]
    assert server.total_bytes == 50_000


def test_a_changed_file_is_never_served_stale(server, on_disk):
    source = RemoteSource(server.url("small.bin"))
    source.whole()
    source.close()
    remote.clear_memory_cache()
    server.rewrite("small.bin", b"new!" * 2500)
    again = RemoteSource(server.url("small.bin"))
    assert bytes(again.whole()) == b"new!" * 2500
    again.close()
    # The old version's files are gone: one entry (record and data) is left.
    assert len([n for n in os.listdir(on_disk) if n.endswith(".json")]) == 1


def test_a_file_without_a_validator_is_not_kept_on_disk(server, on_disk):
    server.fault("/small.bin", "no_etag")
    source = RemoteSource(server.url("small.bin"))
    source.whole()
    source.close()
    assert not os.path.exists(on_disk) or os.listdir(on_disk) == []


def test_ranges_not_yet_recorded_are_not_trusted_after_a_crash(tmp_path):
    """Data written but not listed in a record (the process died before the flush) is ignored;
    a record that names other bytes than the entry's is ignored too."""
    file = RemoteFile("https://h/m.data", 1000, '"v1"', None)
    cache = DiskCache(str(tmp_path / "c"))
    entry = cache.acquire(file)
    entry.write(0, b"a" * 100)  # not flushed: the record does not list it yet
    fresh = DiskCache(str(tmp_path / "c"))  # another process, after the crash
    assert fresh.acquire(file).present(0, 100) == []
    entry.flush()
    fresh = DiskCache(str(tmp_path / "c"))
    assert fresh.acquire(file).present(0, 1000) == [(0, 100)]
    # A damaged record (ranges past the end) is ignored as a whole.
    record = next(p for p in os.listdir(tmp_path / "c") if p.endswith(".json"))
    path = tmp_path / "c" / record
    content = json.loads(path.read_text())
    content["ranges"] = [[0, 5000]]
    path.write_text(json.dumps(content))
    assert DiskCache(str(tmp_path / "c")).acquire(file).present(0, 1000) == []


def test_the_cache_folder_keeps_its_budget(tmp_path):
    remote.configure(disk_cache_bytes=300_000)
    cache = DiskCache(str(tmp_path / "c"))
    for index in range(5):
        file = RemoteFile(f"https://h/{index}", 100_000, f'"{index}"', None)
        entry = cache.acquire(file)
        entry.write(0, os.urandom(100_000))
        entry.flush()
        cache.release(entry)
        os.utime(os.path.join(cache.directory, entry.name + ".json"), (index, index))
    cache.evict()
    used = sum(
        os.stat(os.path.join(cache.directory, n)).st_blocks * 512
        for n in os.listdir(cache.directory)
    )
    assert used <= 300_000
    # The newest entry stays.
    newest = RemoteFile("https://h/4", 100_000, '"4"', None)
    assert cache.acquire(newest).present(0, 100_000) == [(0, 100_000)]


def test_range_set_merges():
    ranges = RangeSet([(10, 20), (30, 40)])
    ranges.add(20, 30)
    assert ranges.pairs() == [[10, 40]]
    ranges.add(50, 60)
    ranges.add(0, 5)
    assert ranges.overlapping(3, 55) == [(3, 5), (10, 40), (50, 55)]
    assert ranges.total() == 5 + 30 + 10


def test_the_disk_cache_is_off_unless_turned_on(server):
    source = RemoteSource(server.url("small.bin"))
    source.whole()
    source.close()
    assert not os.path.exists(disk_cache().directory)
