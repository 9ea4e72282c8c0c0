"""A real HTTP server on 127.0.0.1 with byte ranges, delays, counters and faults, for tests.

    with RangeServer(directory, delay=0.02) as server:
        url = server.url("run/model.ckpt.index")
        ...
        server.requests["/run/model.ckpt.index"], server.bytes_sent[...]
        server.fault("/run/x.data-00000-of-00001", "reset")

It serves the files of one directory like a static web server (HTTP/1.1, keep-alive): HEAD, GET,
one `Range: bytes=a-b` per request (206 with Content-Range, 416 outside the file), ETag (changes
with the file's time and size), Last-Modified, If-Match (412 when the ETag differs) and a plain
HTML index of a directory. Every request can be delayed and each connection's rate capped;
counters per path say what clients asked.

Faults, set per path (or for every path with "*"), each on every request unless `nth` is given
(then only on the nth range request to that path, counting from 1):
  "404", "403", "500"  answer with that status;
  "reset"              send half of the body, then reset the connection;
  "ignore_range"       answer 200 with the whole file to a range request;
  "truncate"           promise the full Content-Length, send half, close;
  "stall"              sleep before answering (until the server stops, at most `stall_seconds`);
  "no_etag"            send no ETag or Last-Modified;
  "drop_idle"          answer, then close the connection without saying so (as servers do with
                       kept-alive connections left idle too long).

A path under `/redirect/` answers 302 to the same path without that prefix.

Run standalone (`python tests/http_range_server.py DIR --delay 0.02`) it prints its base URL and
serves until killed: benchmarks use it in a process of its own, away from the client's GIL.
"""

from __future__ import annotations

import argparse
import contextlib
import email.utils
import html
import os
import socket
import struct
import sys
import threading
import time
import urllib.parse
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

FAULTS = ("404", "403", "500", "reset", "ignore_range", "truncate", "stall", "no_etag", "drop_idle")


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def log_message(self, format: str, *args) -> None:  # quiet
        return

    def do_HEAD(self) -> None:
        self._answer(head=True)

    def do_GET(self) -> None:
        self._answer(head=False)

    def _answer(self, head: bool) -> None:
        owner = self.server.owner
        path = urllib.parse.unquote(urllib.parse.urlsplit(self.path).path)
        range_header = self.headers.get("Range")
        fault = owner._arrive(path, self.command, range_header)
        try:
            self._answer_with(owner, path, range_header, fault, head)
        finally:
            owner._leave()

    def _answer_with(self, owner, path: str, range_header: str | None, fault, head: bool) -> None:
        if owner.delay:
            owner._stopping.wait(owner.delay)
        if path.startswith("/redirect/"):
            self.send_response(302)
            self.send_header("Location", path[len("/redirect") :])
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        if fault == "drop_idle":
            self.close_connection = True  # after this answer, with no "Connection: close"
        if fault == "stall":
            owner._stopping.wait(owner.stall_seconds)
            self.close_connection = True
            return
        if fault in ("404", "403", "500"):
            self._send_plain(int(fault), head)
            return
        local = os.path.join(owner.directory, path.lstrip("/"))
        if os.path.isdir(local):
            self._send_index(local, path, head)
            return
        if not os.path.isfile(local):
            self._send_plain(404, head)
            return
        with open(local, "rb") as file:
            status = os.fstat(file.fileno())
            size = status.st_size
            etag = f'"{status.st_mtime_ns:x}-{size:x}"'
            wanted_etag = self.headers.get("If-Match")
            if wanted_etag and wanted_etag != "*" and wanted_etag != etag:
                self._send_plain(412, head)
                return
            start, end, code = 0, size, 200
            if range_header and fault != "ignore_range":
                parsed = _parse_range(range_header, size)
                if parsed is None:
                    self.send_response(416)
                    self.send_header("Content-Range", f"bytes */{size}")
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                start, end, code = parsed[0], parsed[1], 206
            self.send_response(code)
            self.send_header("Content-Type", "application/octet-stream")
            self.send_header("Content-Length", str(end - start))
            self.send_header("Accept-Ranges", "bytes")
            if fault != "no_etag":
                self.send_header("ETag", etag)
                self.send_header(
                    "Last-Modified", email.utils.formatdate(status.st_mtime, usegmt=True)
                )
            if code == 206:
                self.send_header("Content-Range", f"bytes {start}-{end - 1}/{size}")
            self.end_headers()
            if head:
                return
            count = end - start
            if fault in ("reset", "truncate"):
                count //= 2
            # Counted before sending, so a client that has its bytes sees them counted.
            owner._count_bytes(path, count)
            sent = self._send_body(file, start, count)
            owner._count_bytes(path, sent - count)
            if fault == "reset":
                # RST instead of FIN: the client sees "connection reset" mid-body.
                self.connection.setsockopt(
                    socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0)
                )
                self.close_connection = True
            elif fault == "truncate":
                self.close_connection = True

    def _send_body(self, file, start: int, count: int) -> int:
        rate = self.server.owner.rate
        try:
            if not rate:
                return self.connection.sendfile(file, start, count) or 0
            # Throttled: each connection at most `rate` bytes/s, as object stores serve each one.
            sent, began, step = 0, time.monotonic(), 256 * 1024
            while sent < count:
                sent += self.connection.sendfile(file, start + sent, min(step, count - sent)) or 0
                ahead = sent / rate - (time.monotonic() - began)
                if ahead > 0:
                    time.sleep(ahead)
            return sent
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True
            return 0

    def _send_plain(self, code: int, head: bool) -> None:
        body = f"{code}\n".encode()
        self.send_response(code)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if not head:
            self.wfile.write(body)

    def _send_index(self, local: str, path: str, head: bool) -> None:
        base = path if path.endswith("/") else path + "/"
        links = "".join(
            f'<a href="{html.escape(base + urllib.parse.quote(name))}">{html.escape(name)}</a>\n'
            for name in sorted(os.listdir(local))
        )
        body = f"<html><body>\n{links}</body></html>\n".encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if not head:
            self.wfile.write(body)


def _parse_range(header: str, size: int) -> tuple[int, int, int] | None:
    """`bytes=a-b`, `bytes=a-`, `bytes=-n` as (start, end exclusive, 206); None if unsatisfiable."""
    unit, _, spec = header.partition("=")
    if unit.strip() != "bytes" or "," in spec:
        return None
    first, _, last = spec.strip().partition("-")
    try:
        if first == "":
            start, end = max(0, size - int(last)), size
        else:
            start = int(first)
            end = min(size, int(last) + 1) if last else size
    except ValueError:
        return None
    if start >= size or start >= end:
        return None
    return start, end, 206


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128  # socketserver's 5 drops connects of many parallel parts (1 s retry)
    owner: RangeServer

    def handle_error(self, request, client_address) -> None:
        """Quiet: clients here drop connections on purpose (Cancel, read-ahead given up), and a
        traceback on stderr would land in the output the tests check."""
        return


class RangeServer:
    """A loopback HTTP server over `directory`, started by `start()` (or `with`), stopped by
    `stop()`."""

    def __init__(
        self,
        directory: str | os.PathLike,
        delay: float = 0.0,
        stall_seconds: float = 30,
        rate: float = 0.0,
    ):
        self.directory = os.fspath(directory)
        self.delay = delay
        self.rate = rate  # bytes/s per connection (0: as fast as it goes)
        self.stall_seconds = stall_seconds
        self.requests: Counter[str] = Counter()  # every request, by path
        self.range_requests: Counter[str] = Counter()  # GET with a Range header, by path
        self.bytes_sent: Counter[str] = Counter()  # body bytes, by path
        self.log: list[tuple[str, str, str | None]] = []  # (method, path, Range header)
        self.most_in_flight = 0  # the most requests answered at once
        self._in_flight = 0
        self._faults: dict[str, tuple[str, int | None]] = {}
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    # -- life -----------------------------------------------------------------------------------

    def start(self) -> RangeServer:
        self._stopping.clear()
        self._server = _Server(("127.0.0.1", 0), _Handler)
        self._server.owner = self
        self._thread = threading.Thread(
            target=self._server.serve_forever, args=(0.05,), daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()  # stalled and delayed answers end now
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> RangeServer:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    @property
    def base_url(self) -> str:
        assert self._server is not None, "not started"
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def url(self, relative: str = "") -> str:
        return f"{self.base_url}/{urllib.parse.quote(relative.lstrip('/'))}"

    # -- faults and counters --------------------------------------------------------------------

    def fault(self, path: str, kind: str | None, nth: int | None = None) -> None:
        """Make requests to `path` ("/run/x", or "*" for all) fail as `kind` (None: heal)."""
        assert kind is None or kind in FAULTS, kind
        with self._lock:
            if kind is None:
                self._faults.pop(path, None)
            else:
                self._faults[path] = (kind, nth)

    def rewrite(self, relative: str, data: bytes) -> None:
        """Replace a served file with new bytes; its ETag changes (its time moves on)."""
        path = os.path.join(self.directory, relative)
        before = os.stat(path).st_mtime_ns
        with open(path, "wb") as file:
            file.write(data)
        os.utime(path, ns=(before + 10**9, before + 10**9))

    def reset_counts(self) -> None:
        with self._lock:
            self.requests.clear()
            self.range_requests.clear()
            self.bytes_sent.clear()
            self.log.clear()
            self.most_in_flight = self._in_flight

    @property
    def total_requests(self) -> int:
        return sum(self.requests.values())

    @property
    def total_bytes(self) -> int:
        return sum(self.bytes_sent.values())

    def _arrive(self, path: str, method: str, range_header: str | None) -> str | None:
        """Count a request; the fault it meets, if any."""
        with self._lock:
            self.requests[path] += 1
            is_range = bool(range_header) and method == "GET"
            if is_range:
                self.range_requests[path] += 1
            self.log.append((method, path, range_header))
            self._in_flight += 1
            self.most_in_flight = max(self.most_in_flight, self._in_flight)
            kind, nth = self._faults.get(path) or self._faults.get("*") or (None, None)
            if kind is None or nth is None:
                return kind
            return kind if is_range and self.range_requests[path] == nth else None

    def _leave(self) -> None:
        with self._lock:
            self._in_flight -= 1

    def _count_bytes(self, path: str, count: int) -> None:
        with self._lock:
            self.bytes_sent[path] += count


def main() -> int:
    parser = argparse.ArgumentParser(description="serve a directory with byte ranges on loopback")
    parser.add_argument("directory")
    parser.add_argument("--delay", type=float, default=0.0, help="seconds added to each request")
    parser.add_argument("--rate", type=float, default=0.0, help="bytes/s per connection at most")
    args = parser.parse_args()
    server = RangeServer(args.directory, delay=args.delay, rate=args.rate).start()
    print(server.base_url, flush=True)
    with contextlib.suppress(KeyboardInterrupt):
        threading.Event().wait()
    server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
