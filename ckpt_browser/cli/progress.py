"""A progress line on the terminal for commands that read a whole checkpoint.

Locally `verify` or `diff` of gigabytes takes seconds; from a bucket it can take minutes, and a
silent terminal looks hung. When stderr is a terminal, long commands rewrite one line there,
twice a second: how far they are, and for remote checkpoints what was fetched and how fast. Pipes,
files and tests see nothing (the line is for a person watching).
"""

from __future__ import annotations

import sys
import time
from typing import TextIO

from ckpt_browser.core.formatting import format_bytes
from ckpt_browser.format.sources import locations

_INTERVAL_S = 0.5


class ProgressLine:
    """`fraction(f)` or `bytes(done, total)` as they come; `close()` clears the line."""

    def __init__(self, what: str, stream: TextIO | None = None, enabled: bool | None = None):
        self.what = what
        self.stream = stream or sys.stderr
        self.enabled = self.stream.isatty() if enabled is None else enabled
        self._shown_at = 0.0
        self._width = 0

    def fraction(self, done: float) -> None:
        self._show(f"{done:.0%}", done >= 1.0)

    def bytes(self, done: int, total: int) -> None:
        share = f"{done / total:.0%} " if total else ""
        self._show(f"{share}({format_bytes(done)} of {format_bytes(total)})", done >= total)

    def close(self) -> None:
        if self.enabled and self._width:
            self.stream.write("\r" + " " * self._width + "\r")
            self.stream.flush()
        self._width = 0

    def __enter__(self) -> ProgressLine:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _show(self, how_far: str, last: bool) -> None:
        now = time.monotonic()
        if not self.enabled or (now - self._shown_at < _INTERVAL_S and not last):
            return
        self._shown_at = now
        line = f"{self.what}: {how_far}"
        fetched = transfer_note()
        if fetched:
            line += f", {fetched}"
        self.stream.write("\r" + line.ljust(self._width))
        self.stream.flush()
        self._width = max(self._width, len(line))


def transfer_note() -> str:
    """ "fetched 1.2 GB, 85 MB/s" for remote work so far, or ""."""
    stats = locations.transfer_stats()
    if stats is None or not stats.bytes:
        return ""
    rate = f", {format_bytes(stats.recent_rate)}/s" if stats.recent_rate else ""
    return f"fetched {format_bytes(stats.bytes)}{rate}"
