"""Which bytes to fetch for a set of wanted ranges: what is held already, what is worth fetching
with a gap, and how a large range is cut into parts fetched in parallel."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

# Gaps between wanted ranges shorter than this are fetched too, to save a round trip: a slice read
# fetches at most its bytes plus this much per range.
COALESCE_MARGIN = 64 * 1024
# A smaller gap is widened to this size (within the margin): one round trip costs the same for 30
# bytes as for 16 KiB, and small reads (an archive's headers) come in neighbouring runs.
SMALLEST_FETCH = 16 * 1024


class Span(Protocol):
    """Bytes `start:end` held already, or on their way."""

    start: int
    end: int


def cover(start: int, end: int, pieces: Sequence[Span]) -> list[tuple]:
    """`start:end` as segments `(s, e, piece)` taken from the pieces that reach furthest, and
    `(s, e, None)` for the gaps none holds."""
    ordered = sorted((p for p in pieces if p.start < end and p.end > start), key=lambda p: p.start)
    segments: list[tuple] = []
    position = start
    while position < end:
        covering = [p for p in ordered if p.start <= position < p.end]
        if covering:
            best = max(covering, key=lambda p: p.end)
            stop = min(best.end, end)
            segments.append((position, stop, best))
        else:
            stop = min([p.start for p in ordered if p.start > position] + [end])
            segments.append((position, stop, None))
        position = stop
    return segments


def coalesce(gaps: list[tuple[int, int]], size: int) -> list[tuple[int, int]]:
    """The ranges to fetch for these gaps: neighbours closer than the margin joined, small ones
    widened to `SMALLEST_FETCH` (inside the file)."""
    widened = []
    for start, end in gaps:
        if end - start < SMALLEST_FETCH:
            start = max(0, min(start, size - SMALLEST_FETCH))
            end = min(size, max(end, start + SMALLEST_FETCH))
        widened.append((start, end))
    spans: list[list[int]] = []
    for start, end in sorted(widened):
        if spans and start - spans[-1][1] < COALESCE_MARGIN:
            spans[-1][1] = max(spans[-1][1], end)
        else:
            spans.append([start, end])
    return [(start, end) for start, end in spans]


def split(start: int, end: int, part_bytes: int) -> list[tuple[int, int]]:
    """`start:end` in about equal parts of at most `part_bytes`."""
    count = max(1, -(-(end - start) // max(part_bytes, 1)))
    step = -(-(end - start) // count)
    return [(s, min(s + step, end)) for s in range(start, end, step)]
