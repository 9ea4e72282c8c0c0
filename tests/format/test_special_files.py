"""Files that are not what they seem: FIFOs and absurd sizes as state file, index, shard or graph.

A FIFO blocks whoever opens it until a writer comes; each case must end at once with one sentence
naming the file. A file larger than its format allows is refused by its size, before it is read.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path

import pytest
from damaged_files import copy_checkpoint

from ckpt_browser.format import CheckpointError, open_checkpoint, resolve_prefix
from ckpt_browser.format.files import PROTOBUF_MAX_BYTES
from ckpt_browser.format.graph.reader import list_meta_graphs, load_graph
from ckpt_browser.format.paths import STATE_FILE_MAX_BYTES, history

pytestmark = pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs on this system")

DEADLINE = 20.0  # seconds; the calls below take milliseconds when they do not block
CLI_TIMEOUT = 120


def replace_with_fifo(path: str | Path) -> str:
    path = str(path)
    if os.path.lexists(path):
        os.remove(path)
    os.mkfifo(path)
    return path


def error_within_deadline(call: Callable[[], object], fifo: str) -> CheckpointError:
    """The CheckpointError `call` raises; fails (and unblocks it) if it does not end in time."""
    outcome: dict[str, BaseException | None] = {}

    def run() -> None:
        try:
            call()
            outcome["error"] = None
        except BaseException as exc:  # handed to the test thread
            outcome["error"] = exc

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(DEADLINE)
    if thread.is_alive():
        # A reader blocked in open() is released by a writer opening the FIFO.
        os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))
        thread.join(DEADLINE)
        pytest.fail(f"still blocked on the FIFO {fifo} after {DEADLINE} s")
    error = outcome["error"]
    assert isinstance(error, CheckpointError), repr(error)
    message = str(error)
    assert "\n" not in message and fifo in message
    return error


def read_everything(path: str) -> None:
    with open_checkpoint(path) as ckpt:
        for name in ckpt:
            ckpt.read(name)
        ckpt.verify()


def test_state_file_fifo(all_dtypes_ckpt, tmp_path):
    prefix = copy_checkpoint(all_dtypes_ckpt.prefix, tmp_path)
    fifo = replace_with_fifo(tmp_path / "checkpoint")
    error = error_within_deadline(lambda: open_checkpoint(str(tmp_path)), fifo)
    assert "is a FIFO (named pipe), not a regular file" in str(error)
    # The prefix itself does not need the state file, nor does the list of what is there.
    with open_checkpoint(prefix) as ckpt:
        assert len(ckpt) == len(all_dtypes_ckpt.expected)
        assert [record.prefix for record in ckpt.history()] == [prefix]
    assert [record.prefix for record in history(str(tmp_path))] == [prefix]


def test_index_fifo(all_dtypes_ckpt, tmp_path):
    prefix = copy_checkpoint(all_dtypes_ckpt.prefix, tmp_path)
    fifo = replace_with_fifo(prefix + ".index")
    assert resolve_prefix(prefix + ".index") == prefix  # found, then refused when read
    for path in (prefix, prefix + ".index", str(tmp_path)):
        error = error_within_deadline(lambda p=path: open_checkpoint(p), fifo)
        assert "index file is a FIFO" in str(error)


def test_data_shard_fifo(all_dtypes_ckpt, tmp_path):
    prefix = copy_checkpoint(all_dtypes_ckpt.prefix, tmp_path)
    fifo = replace_with_fifo(prefix + ".data-00000-of-00001")
    error = error_within_deadline(lambda: read_everything(prefix), fifo)
    assert "data shard is a FIFO" in str(error)


def test_graph_fifo(tf1_training_dir, savedmodel_dir, tmp_path):
    meta = replace_with_fifo(tmp_path / "model.meta")
    error = error_within_deadline(lambda: load_graph(meta), meta)
    assert "graph file is a FIFO" in str(error)

    saved_model = tmp_path / "saved"
    saved_model.mkdir()
    fifo = replace_with_fifo(saved_model / "saved_model.pb")
    error_within_deadline(lambda: load_graph(str(saved_model)), fifo)
    error_within_deadline(lambda: list_meta_graphs(str(saved_model)), fifo)


@pytest.mark.skipif(not os.path.exists("/dev/zero"), reason="no /dev/zero")
def test_a_device_that_never_ends_is_named(all_dtypes_ckpt, tmp_path):
    with pytest.raises(CheckpointError, match="graph file is a character device, not a regular"):
        load_graph("/dev/zero")
    prefix = copy_checkpoint(all_dtypes_ckpt.prefix, tmp_path)
    os.remove(prefix + ".index")
    os.symlink("/dev/zero", prefix + ".index")
    with pytest.raises(CheckpointError, match="index file is a character device"):
        open_checkpoint(prefix)


def sparse_file(path: Path, size: int, head: bytes = b"", tail: bytes = b"") -> Path:
    """A file of `size` bytes, all holes but `head` and `tail`: large on paper, not on disk."""
    with open(path, "wb") as file:
        file.write(head)
        file.truncate(size)
        if tail:
            file.seek(size - len(tail))
            file.write(tail)
    return path


def test_oversized_state_file_is_refused_unread(all_dtypes_ckpt, tmp_path):
    copy_checkpoint(all_dtypes_ckpt.prefix, tmp_path)
    state = sparse_file(tmp_path / "checkpoint", 3 << 30, head=b'model_checkpoint_path: "x"\n')
    with pytest.raises(CheckpointError) as info:
        open_checkpoint(str(tmp_path))
    message = str(info.value)
    assert message.startswith(f"{state}: the 'checkpoint' state file is 3,221,225,472 bytes")
    assert f"{STATE_FILE_MAX_BYTES:,} allowed" in message


def test_state_file_at_the_cap_is_read(all_dtypes_ckpt, tmp_path):
    prefix = copy_checkpoint(all_dtypes_ckpt.prefix, tmp_path)
    line = f'model_checkpoint_path: "{os.path.basename(prefix)}"\n'.encode()
    padding = b"# " + b"x" * 97 + b"\n"
    body = line + padding * ((STATE_FILE_MAX_BYTES - len(line)) // len(padding))
    (tmp_path / "checkpoint").write_bytes(body)
    assert resolve_prefix(str(tmp_path)) == prefix


def test_oversized_graph_is_refused_unread(tmp_path):
    graph = sparse_file(tmp_path / "big.pb", PROTOBUF_MAX_BYTES + 1)
    with pytest.raises(CheckpointError) as info:
        load_graph(str(graph))
    assert str(info.value) == (
        f"{graph}: graph file is 2,147,483,648 bytes, more than the 2,147,483,647 allowed: "
        "a protobuf message is limited to 2 GiB"
    )


_PADDED_INDEX = """
import resource, sys
from ckpt_browser.format import open_checkpoint
with open_checkpoint(sys.argv[1]) as ckpt:
    names = list(ckpt)
    for name in names:
        ckpt.read(name)
status = open("/proc/self/status").read()
print(len(names), next(line.split()[1] for line in status.splitlines() if line.startswith("VmHWM")))
"""


@pytest.mark.skipif(not os.path.exists("/proc/self/status"), reason="peak memory from /proc")
def test_an_index_padded_to_gigabytes_reads_only_its_blocks(all_dtypes_ckpt, tmp_path):
    """Padding between the blocks and the footer is legal: TensorFlow reads the blocks only."""
    prefix = copy_checkpoint(all_dtypes_ckpt.prefix, tmp_path)
    index = Path(prefix + ".index")
    data = index.read_bytes()
    sparse_file(index, 3 << 30, head=data[:-48], tail=data[-48:])
    result = subprocess.run(
        [sys.executable, "-c", _PADDED_INDEX, prefix],
        capture_output=True,
        text=True,
        timeout=CLI_TIMEOUT,
    )
    assert result.returncode == 0, result.stderr
    count, peak_kb = map(int, result.stdout.split())
    assert count == len(all_dtypes_ckpt.expected)
    assert peak_kb < 300_000  # Python, numpy and protobuf; the file is 3 GB


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "ckpt_browser.cli", *args],
        capture_output=True,
        text=True,
        timeout=CLI_TIMEOUT,
        stdin=subprocess.DEVNULL,
    )


@pytest.mark.parametrize("command", ["ls", "show", "verify"])
@pytest.mark.parametrize("which", ["checkpoint", "index", "shard"])
def test_cli_refuses_fifos(all_dtypes_ckpt, tmp_path, command, which):
    prefix = copy_checkpoint(all_dtypes_ckpt.prefix, tmp_path)
    fifo = {
        "checkpoint": str(tmp_path / "checkpoint"),
        "index": prefix + ".index",
        "shard": prefix + ".data-00000-of-00001",
    }[which]
    replace_with_fifo(fifo)
    path = str(tmp_path) if which == "checkpoint" else prefix
    args = [command, path]
    if command == "show":
        args.append(next(iter(all_dtypes_ckpt.expected)))
    result = run_cli(*args)
    if which == "shard":  # found at open without reading: warned about, not "missing"
        assert "shard 0 (all_dtypes.data-00000-of-00001) is a FIFO (named pipe)" in result.stderr
    if which == "shard" and command == "ls":  # ls reads no data: it lists, and warns
        assert result.returncode == 0, result.stderr
        return
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    last = result.stderr.strip().splitlines()[-1]
    if command == "verify" and which == "shard":  # every tensor is damaged, each said so
        assert result.stdout.count(f"{fifo}: data shard is a FIFO") == len(all_dtypes_ckpt.expected)
        assert last.startswith("warning:")
    else:
        assert last.startswith(f"error: {fifo}: ") and "is a FIFO" in last


def test_cli_graph_of_a_fifo(tmp_path):
    fifo = replace_with_fifo(tmp_path / "model.meta")
    result = run_cli("graph", fifo)
    assert result.returncode != 0
    assert result.stderr.strip() == (
        f"error: {fifo}: graph file is a FIFO (named pipe), not a regular file, so it is not read"
    )
