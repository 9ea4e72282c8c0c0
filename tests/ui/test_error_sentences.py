"""The window's errors are one sentence that says what and where, for hostile files too.

A checkpoint hostile in a way the program did not foresee raises something other than a
CheckpointError: the dialog, the pane and `--screenshot` then say "could not DO PATH: Type: first
line", never a traceback (which `--debug` prints on stderr).
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
from PySide6.QtCore import Qt

from ckpt_browser.format import CheckpointError, protos
from ckpt_browser.format.sstable.writer import TableBuilder
from ckpt_browser.format.v2.checkpoint import BundleCheckpoint
from ckpt_browser.format.v2.writer import CheckpointWriter
from ckpt_browser.ui.browse import main_window

DEMO_DIR = Path(__file__).resolve().parents[2] / "resources" / "demo"


def test_an_unforeseen_error_at_open_is_one_sentence_with_the_path(window, monkeypatch, caplog):
    def hostile(path):
        raise IndexError("list index out of range\n  (a second line that must not show)")

    monkeypatch.setattr(main_window, "open_checkpoint", hostile)
    with caplog.at_level(logging.WARNING):
        assert not window.open_path("/data/hostile.ckpt")
    expected = "could not open /data/hostile.ckpt: IndexError: list index out of range"
    assert window.last_error == expected
    assert window.error_box.text() == expected
    assert not caplog.records  # no traceback unless asked for


def test_dialogs_show_names_as_plain_text(window):
    window.show_error(str(CheckpointError("no tensor '<h1>big</h1><img src=x>'", "/d/m")))
    assert window.error_box.textFormat() == Qt.TextFormat.PlainText
    assert "<h1>big</h1>" in window.error_box.text()


def test_an_unforeseen_error_reading_a_tensor_names_it_in_the_pane(
    window, wait_idle, monkeypatch, tmp_path
):
    prefix = str(tmp_path / "model")
    with CheckpointWriter(prefix) as writer:
        writer.add("dense/kernel", np.ones((3, 4), np.float32))

    def hostile(self, name, index=None):
        raise ValueError("operands could not be broadcast together\nshapes (3,4) (5,)")

    monkeypatch.setattr(BundleCheckpoint, "read", hostile)
    assert window.open_path(prefix)
    window.tree.view.expandAll()
    assert window.select("dense/kernel")
    wait_idle(window)
    sentence = f"'dense/kernel' in {prefix}: ValueError: operands could not be broadcast together"
    assert window.last_error.startswith("could not ") and window.last_error.endswith(sentence)
    assert window.tensor_view.error_label.text().endswith(window.last_error)
    assert window.error_box is None  # browsing goes on: the pane says it


def _hostile_many_dims(directory: Path) -> str:
    """A tensor of 65 dimensions (TensorFlow allows 254; numpy at most 64)."""
    prefix = str(directory / "dims")
    header = protos.BundleHeaderProto(num_shards=1)
    header.version.producer = 1
    entry = protos.BundleEntryProto(dtype=1, offset=0, size=4)
    for _ in range(65):
        entry.shape.dim.add(size=1)
    with open(prefix + ".index", "wb") as file:
        table = TableBuilder(file)
        table.add(b"", header.SerializeToString())
        table.add(b"many_dims", entry.SerializeToString())
        table.finish()
    Path(prefix + ".data-00000-of-00001").write_bytes(b"\0" * 4)
    return prefix


def _run(*args: str) -> subprocess.CompletedProcess:
    environment = {**os.environ, "QT_QPA_PLATFORM": "offscreen"}
    return subprocess.run(
        [sys.executable, *args], capture_output=True, text=True, env=environment, timeout=120
    )


def test_screenshot_of_a_hostile_file_prints_one_error_line(tmp_path):
    prefix = _hostile_many_dims(tmp_path)
    out = tmp_path / "never.png"
    arguments = ("-m", "ckpt_browser.cli", prefix, "--select", "many_dims", "--screenshot")
    result = _run(*arguments, str(out))
    assert result.returncode == 2
    assert result.stderr.startswith("error: ") and len(result.stderr.splitlines()) == 1
    assert prefix in result.stderr and "Traceback" not in result.stderr
    assert not out.exists()


def test_screenshot_of_an_unforeseen_error_prints_one_line_and_a_traceback_only_with_debug(
    tmp_path,
):
    """A failure the program did not foresee, made on purpose: every read raises."""
    out = tmp_path / "never.png"
    driver = (
        "import sys\n"
        "from ckpt_browser.cli import main\n"
        "from ckpt_browser.format.v2.checkpoint import BundleCheckpoint\n"
        "def hostile(self, name, index=None):\n"
        "    raise RuntimeError('unforeseen\\nsecond line')\n"
        "BundleCheckpoint.read = hostile\n"
        "sys.exit(main(sys.argv[1:]))\n"
    )
    arguments = ("-c", driver, str(DEMO_DIR), "--select", "conv2/kernel", "--screenshot", str(out))
    result = _run(*arguments)
    assert result.returncode == 2
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: could not ") and "'conv2/kernel' in " in lines[0]
    assert lines[0].endswith(": RuntimeError: unforeseen")

    debug = _run(*arguments, "--debug")
    assert debug.returncode == 2
    assert "Traceback (most recent call last)" in debug.stderr
    last = debug.stderr.splitlines()[-1]  # the values or the statistics, whichever failed first
    assert last.startswith("error: could not ") and last.endswith(": RuntimeError: unforeseen")
