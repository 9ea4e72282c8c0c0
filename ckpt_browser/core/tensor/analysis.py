"""What the tensor view computes for one tensor: a quick estimate from a sample, the exact
statistics and histogram, and a bounded cache of recent exact results.

Exact results of a 256 MB tensor take most of a second; a user who goes back and forth between a
few tensors should see them at once. They are small (a few KB: statistics and bin counts), so the
cache keeps the recent ones, keyed by the files' identity (paths, sizes and modification times),
so that a rewritten checkpoint, opened again or reloaded, is never answered from an older one.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, replace

import numpy as np

from ckpt_browser.core.tensor import chunked
from ckpt_browser.core.tensor.chunked import Cancel, Progress
from ckpt_browser.core.tensor.stats import Histogram, TensorStats, analyze, histogram
from ckpt_browser.format.sources import locations as where

# Above this many elements an estimate from a sample is shown while the exact results are computed.
QUICK_PREVIEW_THRESHOLD = 2_000_000
QUICK_SAMPLE = 1_000_000
CACHE_ENTRIES = 64
CACHE_BYTES = 16 << 20


@dataclass(frozen=True)
class QuickPreview:
    """Statistics and a histogram of a sample, shown while the exact ones are computed (and
    after a cancel). The counts (zeros, NaN, Inf) are the sample's scaled to the whole tensor."""

    stats: TensorStats
    histogram: Histogram

    @property
    def sample_size(self) -> int:
        return self.histogram.counted


@dataclass(frozen=True)
class Analysis:
    """The exact results for one tensor."""

    stats: TensorStats
    histogram: Histogram


def quick_preview(array: object, bins: int, sample: int = QUICK_SAMPLE) -> QuickPreview:
    """Estimates from about `sample` elements (evenly spaced runs, see `chunked.sample`)."""
    flat = np.asarray(array).reshape(-1)  # sampled as stored: strings stay strings, complex complex
    total = flat.size
    picked = chunked.sample(flat, max(int(sample), 1))
    stats, sampled = analyze(picked, bins)
    scale = total / max(picked.size, 1)

    def scaled(count: int) -> int:
        return round(count * scale)

    estimate = replace(
        stats,
        count=total,
        finite_count=scaled(stats.finite_count),
        nan_count=scaled(stats.nan_count),
        posinf_count=scaled(stats.posinf_count),
        neginf_count=scaled(stats.neginf_count),
        zero_count=scaled(stats.zero_count),
        l2_norm=None if stats.l2_norm is None else stats.l2_norm * scale**0.5,
    )
    return QuickPreview(estimate, replace(sampled, total=total))


def analyse_tensor(
    read: Callable[[], object],
    bins: int,
    *,
    publish: Callable[[QuickPreview], None] | None = None,
    progress: Progress = None,
    cancel: Cancel = None,
) -> Analysis:
    """Read the tensor and compute its exact statistics and histogram (in a worker thread).

    A large tensor first gets a QuickPreview, handed to `publish` before the exact passes.
    """
    array = read()
    chunked.report(0.0, progress, cancel)
    size = getattr(array, "size", 0)
    if publish is not None and size > QUICK_PREVIEW_THRESHOLD:
        publish(quick_preview(array, bins, QUICK_SAMPLE))
    stats, exact = analyze(array, bins, progress=progress, cancel=cancel)
    return Analysis(stats, exact)


def rebin(
    read: Callable[[], object],
    stats: TensorStats,
    bins: int,
    *,
    progress: Progress = None,
    cancel: Cancel = None,
) -> Histogram:
    """The exact histogram with another bin count, for a tensor whose statistics are known."""
    return histogram(read(), bins, stats=stats, progress=progress, cancel=cancel)


def source_identity(source: object) -> tuple | None:
    """What identifies the bytes of a checkpoint: its files with their sizes and modification
    times (or, remote, their versions). None for sources without files (e.g. a graph's
    constants): those are not cached."""
    prefix = getattr(source, "prefix", None)
    source_files = getattr(source, "files", None)
    if not isinstance(prefix, str) or not callable(source_files):
        return None
    return (prefix, tuple(map(where.identity, source_files())))


@dataclass(frozen=True)
class AnalysisKey:
    source: tuple
    name: str
    bins: int


class AnalysisCache:
    """The most recently used exact analyses, bounded by count and by the bytes of their bins."""

    def __init__(self, max_entries: int = CACHE_ENTRIES, max_bytes: int = CACHE_BYTES) -> None:
        self.max_entries = max_entries
        self.max_bytes = max_bytes
        self._entries: OrderedDict[AnalysisKey, tuple[Analysis, int]] = OrderedDict()
        self._bytes = 0

    def __len__(self) -> int:
        return len(self._entries)

    @property
    def nbytes(self) -> int:
        return self._bytes

    @staticmethod
    def key(source: object, name: str, bins: int) -> AnalysisKey | None:
        identity = source_identity(source)
        return None if identity is None else AnalysisKey(identity, name, int(bins))

    def get(self, key: AnalysisKey | None) -> Analysis | None:
        if key is None or key not in self._entries:
            return None
        self._entries.move_to_end(key)
        return self._entries[key][0]

    def put(self, key: AnalysisKey | None, analysis: Analysis) -> None:
        if key is None:
            return
        size = _nbytes(analysis)
        if size > self.max_bytes:
            return
        if key in self._entries:
            self._bytes -= self._entries.pop(key)[1]
        self._entries[key] = (analysis, size)
        self._bytes += size
        while len(self._entries) > self.max_entries or self._bytes > self.max_bytes:
            _, (_, dropped) = self._entries.popitem(last=False)
            self._bytes -= dropped

    def clear(self) -> None:
        self._entries.clear()
        self._bytes = 0


def _nbytes(analysis: Analysis) -> int:
    """Memory an entry holds: its bin counts and edges, plus ~2 KB of statistics and keys."""
    return analysis.histogram.counts.nbytes + analysis.histogram.edges.nbytes + 2048
