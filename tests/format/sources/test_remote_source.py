"""Reading a file over HTTP by ranges: exact bytes, as few requests and bytes as promised."""

from __future__ import annotations

import random
import threading
import time
import weakref

import pytest

from ckpt_browser.format.errors import CheckpointError
from ckpt_browser.format.sources import remote
from ckpt_browser.format.sources.remote_source import (
    COALESCE_MARGIN,
    MEMORY_CACHE,
    SMALLEST_FETCH,
    RemoteSource,
)


def test_random_ranges_are_exactly_the_files_bytes(server, files):
    data = files["blob.bin"]
    source = RemoteSource(server.url("blob.bin"), "data file")
    assert source.size == len(data)
    rng = random.Random(7)
    for _ in range(40):
        offset = rng.randrange(len(data))
        length = rng.randrange(min(300_000, len(data) - offset) + 1)
        assert bytes(source.read(offset, length)) == data[offset : offset + length]
    ranges = [(rng.randrange(len(data) - 5000), rng.randrange(5000)) for _ in range(30)]
    got = source.read_many(ranges)
    assert [bytes(g) for g in got] == [data[o : o + n] for o, n in ranges]
    assert bytes(source.whole()) == data


def test_reads_are_read_only_views():
    """numpy arrays over a read must not be writable (as over a memory map)."""
    np = pytest.importorskip("numpy")
    source = _FakeSource(b"abcdefgh" * 4096)
    array = np.frombuffer(source.read(0, 4096), dtype=np.uint8)
    assert not array.flags.writeable


class _FakeSource:
    """The memory cache path of RemoteSource without a server: one piece, returned read-only."""

    def __init__(self, data: bytes) -> None:
        from ckpt_browser.format.sources.remote_source import _Piece

        self.piece = _Piece(0, len(data), bytearray(data))

    def read(self, offset: int, length: int):
        return RemoteSource._assemble([(offset, offset + length, self.piece)])


def test_opening_makes_one_request_and_a_range_outside_the_file_is_refused(server):
    source = RemoteSource(server.url("blob.bin"))
    assert server.total_requests == 1
    with pytest.raises(CheckpointError, match="past the end"):
        source.read(source.size - 10, 11)
    assert server.total_requests == 1


def test_one_slice_fetches_at_most_the_slice_plus_the_margin(server):
    source = RemoteSource(server.url("blob.bin"))
    server.reset_counts()
    source.read(1_000_003, 123_457)
    assert server.range_requests["/blob.bin"] == 1
    assert server.total_bytes <= 123_457 + COALESCE_MARGIN
    server.reset_counts()
    source.read(2_500_000, 10)  # a tiny read: widened, still within the margin
    assert 10 <= server.total_bytes <= 10 + COALESCE_MARGIN


def test_neighbouring_ranges_coalesce_and_distant_ones_do_not(server, files):
    source = RemoteSource(server.url("blob.bin"))
    server.reset_counts()
    near = [(100_000 + i * 30_000, 20_000) for i in range(5)]  # gaps of 10 KB
    source.read_many(near)
    assert server.range_requests["/blob.bin"] == 1
    assert server.total_bytes == 4 * 30_000 + 20_000  # the gaps only, nothing more
    server.reset_counts()
    far = [(1_000_000 + i * 400_000, 20_000) for i in range(4)]  # gaps of 380 KB
    got = source.read_many(far)
    assert server.range_requests["/blob.bin"] == 4
    assert server.total_bytes == 4 * 20_000
    assert [bytes(g) for g in got] == [files["blob.bin"][o : o + n] for o, n in far]


def test_what_was_fetched_is_not_fetched_again(server, files):
    source = RemoteSource(server.url("blob.bin"))
    source.read(200_000, 50_000)
    server.reset_counts()
    assert bytes(source.read(210_000, 30_000)) == files["blob.bin"][210_000:240_000]
    assert (
        bytes(source.read_many([(200_000, 10), (249_990, 10)])[1])
        == files["blob.bin"][249_990:250_000]
    )
    assert server.total_requests == 0
    # Another source of the same file (same ETag) shares the cache.
    again = RemoteSource(server.url("blob.bin"))
    server.reset_counts()
    again.read(220_000, 1000)
    assert server.range_requests["/blob.bin"] == 0


def test_only_the_gaps_are_fetched(server, files):
    source = RemoteSource(server.url("blob.bin"))
    source.read(1_000_000, 100_000)
    server.reset_counts()
    assert bytes(source.read(900_000, 300_000)) == files["blob.bin"][900_000:1_200_000]
    assert server.total_bytes == 200_000


def test_a_large_read_is_fetched_in_parallel_parts(server, files):
    remote.configure(part_bytes=256 * 1024, parallel_parts=8)
    server.delay = 0.2
    source = RemoteSource(server.url("blob.bin"))
    server.reset_counts()
    data = source.read(0, 2 * 1024 * 1024)
    assert bytes(data) == files["blob.bin"][: 2 * 1024 * 1024]
    assert server.range_requests["/blob.bin"] == 8
    assert server.total_bytes == 2 * 1024 * 1024
    assert server.most_in_flight >= 4  # parts in flight together (speed: the benchmark's)


def test_large_reads_are_not_kept_in_memory(server):
    remote.configure(memory_cache_bytes=4 * 1024 * 1024)  # pieces over 64 KiB are not kept
    source = RemoteSource(server.url("blob.bin"))
    source.read(0, 2_000_000)
    assert MEMORY_CACHE.size == 0
    source.read(2_500_000, 50_000)
    assert MEMORY_CACHE.size == 50_000


def test_a_sequential_pass_has_the_next_parts_fetched_ahead(server, files):
    remote.configure(part_bytes=256 * 1024, read_ahead_bytes=512 * 1024)
    server.delay = 0.1
    source = RemoteSource(server.url("blob.bin"))
    chunk = 256 * 1024
    for index in range(10):
        got = source.read(index * chunk, chunk)
        assert bytes(got) == files["blob.bin"][index * chunk : (index + 1) * chunk]
    # With two parts fetched ahead the pass overlaps its requests (speed: the benchmark's).
    assert server.most_in_flight >= 2
    # Read-ahead stays bounded: at most two parts past the end of the pass.
    time.sleep(0.3)
    assert server.total_bytes <= 12 * chunk


def test_the_statistics_count_bytes_and_requests(server):
    source = RemoteSource(server.url("blob.bin"))
    before = remote.transfer_stats()
    source.read(0, 100_000)
    source.read(1_000_000, 100_000)
    stats = remote.transfer_stats().since(before)
    assert stats.requests == 2
    assert stats.bytes == 200_000 == server.total_bytes
    assert stats.seconds > 0
    assert remote.transfer_stats().recent_bytes_per_second > 0
    assert stats.describe() == "fetched 195.3 KiB in 2 requests"


def test_reads_from_many_threads_agree(server, files):
    source = RemoteSource(server.url("blob.bin"))
    data = files["blob.bin"]
    errors = []

    def reader(seed: int) -> None:
        rng = random.Random(seed)
        for _ in range(20):
            offset = rng.randrange(len(data) - 70_000)
            length = rng.randrange(1, 70_000)
            if bytes(source.read(offset, length)) != data[offset : offset + length]:
                errors.append((offset, length))

    threads = [threading.Thread(target=reader, args=(seed,)) for seed in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []


def test_identity_follows_the_version(server, files):
    first = RemoteSource(server.url("small.bin"))
    server.rewrite("small.bin", b"x" * 10_000)
    second = RemoteSource(server.url("small.bin"))
    assert first.identity != second.identity
    assert bytes(second.read(0, 10)) == b"x" * 10


def test_a_file_changed_after_opening_is_an_error_not_mixed_bytes(server):
    source = RemoteSource(server.url("small.bin"))
    server.rewrite("small.bin", b"y" * 10_000)
    with pytest.raises(CheckpointError, match="changed on the server"):
        source.read(0, 100)


def test_smallest_fetch_fits_in_the_margin():
    assert SMALLEST_FETCH <= COALESCE_MARGIN


def test_a_read_once_is_not_kept_in_memory(server, files):
    source = RemoteSource(server.url("blob.bin"))
    assert bytes(source.read_once(1000, 50_000)) == files["blob.bin"][1000:51_000]
    assert MEMORY_CACHE.size == 0
    source.read(1000, 50_000)
    assert MEMORY_CACHE.size == 50_000


def test_a_pass_reuses_buffers_no_reader_holds_and_never_one_it_holds(server):
    """A streamed pass (`read_once`, as a spool reads) fills the buffers of pieces it has gone
    past again, but only those no reader holds a view of any more."""
    data = random.Random(3).randbytes(16 << 20)
    with open(f"{server.directory}/big.bin", "wb") as file:
        file.write(data)
    remote.configure(part_bytes=1 << 20, read_ahead_bytes=4 << 20)
    source = RemoteSource(server.url("big.bin"))
    chunk = 1 << 20
    kept = [source.read_once(i * chunk, chunk) for i in range(16)]  # every view still held
    assert [bytes(view) for view in kept] == [data[i * chunk : (i + 1) * chunk] for i in range(16)]
    assert len({id(view.obj) for view in kept}) == 16
    del kept
    seen: list[weakref.ref] = []
    reused = 0
    for i in range(16):  # each view dropped before the next read but one
        view = source.read_once(i * chunk, chunk)
        assert bytes(view) == data[i * chunk : (i + 1) * chunk]
        reused += any(ref() is view.obj for ref in seen)
        seen.append(weakref.ref(view.obj))
        del view
    assert reused >= 8, reused


def test_releasing_the_pages_of_a_fetched_piece_keeps_its_bytes():
    """A large fetched piece lives in an anonymous map, the only copy of its bytes: passes hand
    their arrays' pages back (`release_pages`), and a piece held for the next read must not come
    back as zeros (it did: `history --fail-on-nan` then reported a false checksum mismatch)."""
    import numpy as np

    from ckpt_browser.format.pages import release_pages
    from ckpt_browser.format.sources.remote_source import _MAPPED_PIECE_BYTES, _new_buffer

    piece = _new_buffer(_MAPPED_PIECE_BYTES)
    piece[:] = bytes(range(256)) * (_MAPPED_PIECE_BYTES // 256)
    values = np.frombuffer(memoryview(piece).toreadonly(), np.uint8)
    release_pages(values)
    assert values[:256].tolist() == list(range(256))
    assert int(values.sum()) == 255 * 128 * (_MAPPED_PIECE_BYTES // 256)
