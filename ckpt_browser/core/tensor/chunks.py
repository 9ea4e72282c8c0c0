"""Reading a tensor a few megabytes at a time, and handing the pages back once they are done.

`Checkpoint.read` gives a view of a memory map, so reading costs nothing up front, but every page
a pass touches stays in the process's resident set until the map is closed: comparing two 10 GB
checkpoints would grow the process by 20 GB of (reclaimable, but counted) file pages. Passes that
go through whole tensors therefore take them in chunks and `release` each chunk afterwards with
`madvise(MADV_DONTNEED)`; small tensors are released in batches by a `PageReleaser`, as one system
call per tiny tensor would cost more than comparing it. On a read-only file mapping that only
unmaps the pages; their contents stay in the page cache and a later access maps them again, so
releasing is always safe, even for pages another thread still reads. Partitioned tensors are read
row block by row block through `Checkpoint.read(name, index)`, which assembles only those rows.
"""

from __future__ import annotations

import math
import mmap
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from functools import partial
from typing import TypeVar

import numpy as np

from ckpt_browser.core.tensor.chunked import WORKERS, run_in_order
from ckpt_browser.format import Checkpoint, TensorInfo
from ckpt_browser.format.pages import drop_pages, mapping_of, release_pages

T = TypeVar("T")

CHUNK_BYTES = 8 << 20  # the unit of work, of progress reports and of cancel checks
BATCH_RELEASE_BYTES = 64 << 20  # small tensors: give their maps back after this many bytes
SMALL_BYTES = 1 << 20  # below this a range is released with its batch, not on its own


class ChunkedTensor:
    """One tensor of a checkpoint as flat element ranges `read(start, stop)`."""

    def __init__(
        self, checkpoint: Checkpoint, info: TensorInfo, releaser: PageReleaser | None = None
    ) -> None:
        self.checkpoint = checkpoint
        self.info = info
        self._releaser = releaser
        self.size = info.size
        shape = info.shape
        self.row_elements = math.prod(shape[1:]) if len(shape) > 1 else 1
        self._flat: np.ndarray | None = None
        if not info.partitioned:
            self._flat = checkpoint.read(info.name).reshape(-1)

    @property
    def needs_whole_rows(self) -> bool:
        """A partitioned tensor is read by rows: chunks must start and end on a row boundary."""
        return self._flat is None

    def read(self, start: int, stop: int) -> np.ndarray:
        """Elements `start:stop` of the flattened tensor (a view where the storage allows)."""
        if self._flat is not None:
            return self._flat[start:stop]
        return self.checkpoint.read_flat(self.info.name, start, stop)

    def release(self, start: int, stop: int) -> None:
        """Give back the mapped pages of elements `start:stop` (nothing to do for copies)."""
        if self._flat is None or stop <= start:
            return
        if self._releaser is not None:
            self._releaser.release(self._flat[start:stop])
        else:
            release_pages(self._flat[start:stop])


class PageReleaser:
    """Gives mapped pages back: large ranges at once, small ones a batch at a time.

    A small range only notes its map; once BATCH_RELEASE_BYTES of them have gone by, each noted
    map is released whole (pages still in use by another thread are simply mapped again).
    Safe to share between threads.
    """

    def __init__(self, batch_bytes: int | None = None) -> None:
        self._batch_bytes = batch_bytes or BATCH_RELEASE_BYTES
        self._maps: dict[int, mmap.mmap] = {}
        self._pending = 0
        self._lock = threading.Lock()

    def release(self, array: np.ndarray) -> None:
        if array.nbytes >= SMALL_BYTES:
            release_pages(array)
            return
        mapping = mapping_of(array)
        if mapping is None:
            return
        with self._lock:
            self._maps[id(mapping)] = mapping
            self._pending += array.nbytes
            if self._pending < self._batch_bytes:
                return
            maps, self._maps, self._pending = list(self._maps.values()), {}, 0
        for mapping in maps:
            drop_pages(mapping, 0, len(mapping))


def chunk_ranges(
    size: int, element_bytes: int, row_elements: int = 1, chunk_bytes: int | None = None
) -> list[tuple[int, int]]:
    """Consecutive (start, stop) ranges covering `size` elements, about `chunk_bytes` each
    (default CHUNK_BYTES).

    With `row_elements` > 1 the boundaries fall on multiples of it (whole rows); a single row
    larger than a chunk is one chunk.
    """
    if size <= 0:
        return [(0, 0)]
    step = max(1, (chunk_bytes or CHUNK_BYTES) // max(1, element_bytes))
    if row_elements > 1:
        step = max(row_elements, step // row_elements * row_elements)
    return [(start, min(start + step, size)) for start in range(0, size, step)]


def paired_chunks(
    a: ChunkedTensor, b: ChunkedTensor, chunk_bytes: int | None = None
) -> list[tuple[int, int]]:
    """Chunk ranges that suit both tensors of a pair of equal size."""
    return pair_chunk_ranges(a.info, b.info, chunk_bytes)


def pair_chunk_ranges(
    a: TensorInfo, b: TensorInfo, chunk_bytes: int | None = None
) -> list[tuple[int, int]]:
    """`paired_chunks` from the index alone: the ranges a pass over a pair works in."""
    shape = a.shape
    rows = math.prod(shape[1:]) if (a.partitioned or b.partitioned) and len(shape) > 1 else 1
    element_bytes = max(_element_bytes(a), _element_bytes(b))
    return chunk_ranges(a.size, element_bytes, rows, chunk_bytes)


def iter_chunks(tensor: ChunkedTensor, chunk_bytes: int | None = None) -> Iterator[np.ndarray]:
    """The chunks of one tensor in order, each released after the caller is done with it."""
    rows = tensor.row_elements if tensor.needs_whole_rows else 1
    for start, stop in chunk_ranges(tensor.size, _element_bytes(tensor.info), rows, chunk_bytes):
        yield tensor.read(start, stop)
        tensor.release(start, stop)


@contextmanager
def worker_pool(nbytes: int) -> Iterator[ThreadPoolExecutor | None]:
    """Threads for a pass over `nbytes` of data; None when it is one chunk or there is one core."""
    if nbytes <= CHUNK_BYTES or WORKERS == 1:
        yield None
        return
    pool = ThreadPoolExecutor(WORKERS, thread_name_prefix="tensor-chunks")
    try:
        yield pool
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def map_pair_chunks(
    a: ChunkedTensor,
    b: ChunkedTensor,
    work: Callable[[np.ndarray, np.ndarray, int], T],
    *,
    pool: ThreadPoolExecutor | None = None,
    progress: Callable[[float], None] | None = None,
    cancel: Callable[[], bool] | None = None,
) -> list[T]:
    """`work(a_chunk, b_chunk, start)` for the chunks of a pair of equal size, results in order.

    Each chunk's pages are released once its work is done. With a `pool` the chunks run on its
    threads (numpy releases the GIL in its loops); `progress(fraction)` and `cancel()` are called
    between chunks, and a cancel raises `Cancelled` after dropping the chunks not yet started.
    """

    def one(start: int, stop: int) -> T:
        result = work(a.read(start, stop), b.read(start, stop), start)
        a.release(start, stop)
        b.release(start, stop)
        return result

    calls = [partial(one, start, stop) for start, stop in paired_chunks(a, b)]
    return run_in_order(calls, pool, progress, cancel)


def _element_bytes(info: TensorInfo) -> int:
    return info.dtype.itemsize or 8  # strings: an object pointer per element in memory
