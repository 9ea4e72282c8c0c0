"""What has been fetched from servers: bytes, requests, time, and the recent rate.

Every range request of every remote source reports here (from the fetching threads), so progress
and the status bar can say "fetched 12.3 MiB in 4 requests, 45.6 MiB/s". Thread-safe.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from dataclasses import dataclass

RECENT_SECONDS = 2.0  # the window of the recent rate: long enough to smooth, short enough to follow


@dataclass(frozen=True)
class TransferStats:
    """Totals since the program started (or since `reset_transfer_stats`)."""

    bytes: int
    requests: int
    seconds: float  # time with at least one request in flight
    recent_bytes_per_second: float

    @property
    def recent_rate(self) -> float:
        """Bytes per second over the last few seconds (0 when idle)."""
        return self.recent_bytes_per_second

    @property
    def bytes_per_second(self) -> float:
        return self.bytes / self.seconds if self.seconds > 0 else 0.0

    def since(self, earlier: TransferStats) -> TransferStats:
        """What was fetched between `earlier` and this snapshot (one operation's share)."""
        return TransferStats(
            self.bytes - earlier.bytes,
            self.requests - earlier.requests,
            self.seconds - earlier.seconds,
            self.recent_bytes_per_second,
        )

    def describe(self) -> str:
        """`fetched 12.3 MiB in 4 requests`."""
        plural = "" if self.requests == 1 else "s"
        return f"fetched {format_size(self.bytes)} in {self.requests:,} request{plural}"


def format_size(count: int) -> str:
    """`512 B`, `12.3 MiB`: the binary units the rest of the program shows (core's formatting
    lies above this layer)."""
    value = float(count)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if abs(value) < 1024 or unit == "GiB":
            return f"{int(value)} B" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    raise AssertionError("unreachable")


class _Meter:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.reset()

    def reset(self) -> None:
        with self._lock:
            self._bytes = 0
            self._requests = 0
            self._seconds = 0.0
            self._in_flight = 0
            self._busy_since = 0.0
            self._recent: deque[tuple[float, int]] = deque()

    def started(self) -> None:
        with self._lock:
            self._requests += 1
            if self._in_flight == 0:
                self._busy_since = time.monotonic()
            self._in_flight += 1

    def received(self, count: int) -> None:
        now = time.monotonic()
        with self._lock:
            self._bytes += count
            self._recent.append((now, count))
            self._forget(now)

    def finished(self) -> None:
        with self._lock:
            self._in_flight -= 1
            if self._in_flight == 0:
                self._seconds += time.monotonic() - self._busy_since

    def _forget(self, now: float) -> None:
        while self._recent and self._recent[0][0] < now - RECENT_SECONDS:
            self._recent.popleft()

    def snapshot(self) -> TransferStats:
        now = time.monotonic()
        with self._lock:
            self._forget(now)
            seconds = self._seconds + (now - self._busy_since if self._in_flight else 0.0)
            recent = sum(count for _, count in self._recent)
            # A transfer that began less than the window ago is measured over its own time.
            span = min(RECENT_SECONDS, max(now - self._recent[0][0], 0.1)) if recent else 1.0
            return TransferStats(self._bytes, self._requests, seconds, recent / span)


METER = _Meter()


def transfer_stats() -> TransferStats:
    return METER.snapshot()


def reset_transfer_stats() -> None:
    METER.reset()
