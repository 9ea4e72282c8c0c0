"""Checkpoints behind a URL: the loopback range server with 20 ms added to every request, against
one plain sequential download of the same file from the same server.

The server runs in a process of its own (tests/http_range_server.py), so that neither side's
threads compete with the other's for one interpreter lock.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import time
import urllib.request
from contextlib import contextmanager
from pathlib import Path

Row = tuple[str, str, str, str]
DELAY = 0.02  # seconds the server adds to every request: a nearby object store
SLOW_RATE = 100e6  # bytes/s a throttled server sends on each connection (object stores do so)
CHUNK = 8 << 20  # what a chunked pass reads at a time
TESTS = Path(__file__).resolve().parents[1]

# A chunked pass as the statistics run one: 8 MB reads one after another, each looked at.
_PASS_CODE = """
import time, numpy as np
from ckpt_browser.format.sources.remote import RemoteSource
source = RemoteSource({url!r}, "data file")
start = time.perf_counter()
total = 0.0
for offset in range(0, source.size, {chunk}):
    piece = source.read(offset, min({chunk}, source.size - offset))
    total += float(np.frombuffer(piece, dtype=np.uint8)[::4096].sum())
print(time.perf_counter() - start)
"""

_ONE_READ_CODE = """
import time
from ckpt_browser.format.sources.remote import RemoteSource
source = RemoteSource({url!r}, "data file")
start = time.perf_counter()
data = source.read(0, source.size)
print(time.perf_counter() - start)
"""

# The statistics of the whole tensor, as `ckpt-browser show` computes them, with what was fetched.
_STATS_CODE = """
import time
from ckpt_browser.format import open_checkpoint
from ckpt_browser.core.tensor.stats import compute_stats
from ckpt_browser.format.sources.remote import transfer_stats
start = time.perf_counter()
ckpt = open_checkpoint({url!r})
stats = compute_stats(ckpt.read("embedding"))
print(time.perf_counter() - start, transfer_stats().requests)
"""

_LIST_CODE = """
import time
from ckpt_browser.format import open_checkpoint
from ckpt_browser.format.sources.remote import transfer_stats
start = time.perf_counter()
names = list(open_checkpoint({url!r}))
stats = transfer_stats()
print(time.perf_counter() - start, len(names), stats.requests, stats.bytes)
"""


@contextmanager
def served(directory: str, delay: float, rate: float = 0.0):
    """The base URL of a range server over `directory` in a process of its own."""
    server = [sys.executable, str(TESTS / "http_range_server.py"), directory]
    process = subprocess.Popen(
        [*server, "--delay", str(delay), "--rate", str(rate)], stdout=subprocess.PIPE, text=True
    )
    try:
        yield process.stdout.readline().strip()
    finally:
        process.terminate()
        process.wait(timeout=10)


def plain_download(url: str) -> float:
    """Seconds for one GET of the whole file, read in 1 MB pieces (what a download tool does)."""
    start = time.perf_counter()
    with urllib.request.urlopen(url) as response:
        while response.read(1 << 20):
            pass
    return time.perf_counter() - start


def bench_remote(paths: dict[str, str], workdir: Path) -> list[Row]:
    from run_benchmarks import median_time, run_measured

    big = Path(paths["big"])
    data_name = big.name + ".data-00000-of-00001"
    size = os.path.getsize(big.parent / data_name)
    megabytes = size / 1e6
    rows: list[Row] = []
    with served(str(big.parent), DELAY) as base:
        data_url = f"{base}/{data_name}"
        download = median_time(lambda: plain_download(data_url), repeat=3)
        baseline = megabytes / download
        passes = [run_measured(_PASS_CODE.format(url=data_url, chunk=CHUNK)) for _ in range(3)]
        pass_seconds = statistics.median(float(out) for out, _ in passes)
        pass_peak = max(peak for _, peak in passes)
        ours = megabytes / pass_seconds
        rows.append(
            (
                f"read a {megabytes:.0f} MB data file over HTTP (+{DELAY * 1000:.0f} ms a request) "
                f"in {CHUNK >> 20} MB reads one after another",
                f"{ours:.0f} MB/s, peak RSS {pass_peak:.0f} MB",
                f"{baseline:.0f} MB/s (one plain GET, urllib)",
                f">= 80% of it: {'yes' if ours >= 0.8 * baseline else 'NO'} "
                f"({ours / baseline:.0%})",
            )
        )
        ones = [float(run_measured(_ONE_READ_CODE.format(url=data_url))[0]) for _ in range(3)]
        one = megabytes / statistics.median(ones)
        rows.append(("... the same file in one read (parallel parts)", f"{one:.0f} MB/s", "", ""))
        checkpoint_rows = _checkpoint_rows(base, big, run_measured)
    with served(str(big.parent), DELAY, SLOW_RATE) as base:
        data_url = f"{base}/{data_name}"
        slow_baseline = megabytes / plain_download(data_url)
        out, _ = run_measured(_PASS_CODE.format(url=data_url, chunk=CHUNK))
        slow = megabytes / float(out)
        rows.append(
            (
                f"... from a server sending each connection at most {SLOW_RATE / 1e6:.0f} MB/s",
                f"{slow:.0f} MB/s",
                f"{slow_baseline:.0f} MB/s (one plain GET)",
                f"more than it: {'yes' if slow > slow_baseline else 'NO'}",
            )
        )
    rows += checkpoint_rows
    many = Path(paths["many"])
    with served(str(many.parent), DELAY) as base:
        out, _ = run_measured(_LIST_CODE.format(url=f"{base}/{many.name}"))
        seconds, count, requests, fetched = out.split()
        index_size = os.path.getsize(str(many) + ".index")
        rows.append(
            (
                f"list a {int(count):,}-variable checkpoint over HTTP (+20 ms a request)",
                f"{float(seconds) * 1000:.0f} ms, {requests} requests, {int(fetched) / 1e6:.1f} MB",
                f"the .index alone: {index_size / 1e6:.1f} MB",
                f"index + at most 3 round trips: {'yes' if int(requests) <= 4 else 'NO'}",
            )
        )
    return rows


def _checkpoint_rows(base: str, big: Path, run_measured) -> list[Row]:
    """Statistics of the 256 MB tensor of a remote checkpoint (whole pipeline, fresh process)."""
    try:
        out, peak = run_measured(_STATS_CODE.format(url=f"{base}/{big.name}"))
    except subprocess.CalledProcessError as error:
        return [("statistics of a remote 256 MB tensor", "failed", error.stderr[-200:], "")]
    seconds, requests = out.split()
    return [
        (
            "statistics of a 256 MB tensor of a remote checkpoint, whole process",
            f"{float(seconds):.2f} s, {requests} requests, peak RSS {peak:.0f} MB",
            "",
            f"< 300 MB: {'yes' if peak < 300 else 'NO'}",
        )
    ]
