"""The worker processes of a fuzz run: ckpt-browser's under limits, TensorFlow's as the oracle.

Each answers one JSON request per line. The target worker runs `fuzz_targets.exercise` under an
address-space limit and reports its peak RSS; the oracle worker answers from TensorFlow in a
child forked per request. `Worker` is the parent's handle: a request that outlives its timeout is
a hang, a worker that dies is a crash; either way the worker is started again for the next one.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import select
import subprocess
import sys
import time
from pathlib import Path

CAMPAIGN = Path(__file__).resolve().parent / "campaign.py"


def _serve(handle) -> None:
    """Answer one JSON request per line on stdin, on a private copy of stdout; what the code
    under test prints to the real stdout goes to /dev/null and cannot garble the answers."""
    channel = os.fdopen(os.dup(1), "w")
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)
    for line in sys.stdin:
        answer = handle(json.loads(line))
        channel.write(json.dumps(answer) + "\n")
        channel.flush()


def target_worker(address_space_mb: int, rss_cap_mb: int) -> None:
    """ckpt-browser's side: exercise a folder, report what happened and the peak RSS."""
    limit = address_space_mb << 20
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    from fuzz_targets import exercise, folder_digest

    def handle(request: dict) -> dict:
        _reset_peak_rss()
        before = folder_digest(request["folder"])
        result = exercise(
            request["path"],
            request["work"],
            random.Random(request["rng"]),
            request.get("graph"),
            request.get("original"),
        )
        after = folder_digest(request["folder"])
        if before != after:
            changed = sorted(k for k in set(before) | set(after) if before.get(k) != after.get(k))
            result["source_changed"] = f"changed: {changed}"
        result["peak_rss_mb"] = _peak_rss_mb()
        result["rss_cap_mb"] = rss_cap_mb
        return result

    _serve(handle)


def oracle_worker(timeout: float) -> None:
    """TensorFlow's side: read what ckpt-browser read (and the remap output, if any).

    TensorFlow aborts on some damaged files (a failed CHECK in its bundle reader), so each request
    runs in a child forked from a process that has TensorFlow loaded: an abort costs that child,
    not a TensorFlow import of several seconds. The readers used here run in the calling thread.
    """
    from fuzz_oracle import tensorflow_graph, tensorflow_prefix, tensorflow_reads

    def answer(request: dict) -> dict:
        answer: dict = {"resolved": tensorflow_prefix(request["path"])}
        prefix = request.get("prefix") or answer["resolved"]
        answer["read"] = tensorflow_reads(prefix) if prefix else {"error": "no checkpoint"}
        if request.get("graph"):
            graph = request["graph"]
            answer["graph"] = tensorflow_graph(graph["path"], graph["kind"], graph["tags"])
        if request.get("dst"):
            answer["dst"] = tensorflow_reads(request["dst"])
        return answer

    def handle(request: dict) -> dict:
        if _has_special_files(request["folder"]):
            return {"read": {"error": "TensorFlow not asked: a FIFO or device would block it"}}
        return _in_child(lambda: answer(request), timeout)

    answer({"path": os.devnull})  # load TensorFlow's reader before the first fork
    _serve(handle)


def _has_special_files(folder: str) -> bool:
    for root, _dirs, names in os.walk(folder):
        for name in names:
            path = os.path.join(root, name)
            if not os.path.islink(path) and not os.path.isfile(path):
                return True
    return False


def _in_child(work, timeout: float) -> dict:
    """work() in a forked child; its answer, or what became of the child."""
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(read_end)
        try:
            data = json.dumps(work()).encode()
        except BaseException as exc:  # the child reports anything, even SystemExit
            data = json.dumps({"read": {"error": f"oracle: {type(exc).__name__}: {exc}"}}).encode()
        with os.fdopen(write_end, "wb") as pipe:
            pipe.write(data)
        os._exit(0)
    os.close(write_end)
    chunks = []
    deadline = time.monotonic() + timeout
    with os.fdopen(read_end, "rb") as pipe:
        while True:
            left = deadline - time.monotonic()
            ready, _, _ = select.select([pipe], [], [], max(left, 0))
            if not ready:
                os.kill(pid, 9)
                os.waitpid(pid, 0)
                return {"read": {"error": "TensorFlow hung"}}
            chunk = os.read(pipe.fileno(), 1 << 20)
            if not chunk:
                break
            chunks.append(chunk)
    _, status = os.waitpid(pid, 0)
    if not chunks:
        return {"read": {"error": f"TensorFlow crashed (status {status})"}}
    return json.loads(b"".join(chunks))


def _reset_peak_rss() -> None:
    try:
        with open("/proc/self/clear_refs", "w") as file:
            file.write("5")
    except OSError:
        pass


def _peak_rss_mb() -> int:
    try:
        with open("/proc/self/status") as file:
            for line in file:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) // 1024
    except OSError:
        pass
    return 0


class Worker:
    """A worker process answering one request at a time, restarted after a hang or a crash."""

    def __init__(self, role: str, options: argparse.Namespace, log: str = os.devnull) -> None:
        self.role = role
        self.log = log
        self.command = [
            sys.executable,
            str(CAMPAIGN),
            "--worker",
            role,
            "--address-space-mb",
            str(options.address_space_mb),
            "--rss-mb",
            str(options.rss_mb),
            "--timeout",
            str(options.timeout),
        ]
        self.process: subprocess.Popen | None = None
        self.starts = 0

    @property
    def restarts(self) -> int:
        return max(self.starts - 1, 0)

    def start(self) -> None:
        self.starts += 1
        env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "PYTHONHASHSEED": "0"}
        with open(self.log, "a") as log:
            self.process = subprocess.Popen(
                self.command,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=log,
                text=True,
                env=env,
                start_new_session=True,
            )

    def ask(self, request: dict, timeout: float) -> tuple[str, dict | None]:
        """("ok", answer), ("hang", None) or ("crash", None)."""
        if self.process is None or self.process.poll() is not None:
            self.start()
        assert self.process.stdin and self.process.stdout
        try:
            self.process.stdin.write(json.dumps(request) + "\n")
            self.process.stdin.flush()
        except BrokenPipeError:
            self.stop()
            return "crash", None
        ready, _, _ = select.select([self.process.stdout], [], [], timeout)
        if not ready:
            self.stop()
            return "hang", None
        line = self.process.stdout.readline()
        if not line:
            code = self.process.wait()
            self.stop()
            return f"crash (exit {code})", None
        return "ok", json.loads(line)

    def stop(self) -> None:
        if self.process is not None:
            if self.process.poll() is None:
                self.process.kill()
            self.process.wait()
            self.process = None
