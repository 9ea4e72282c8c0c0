"""`ckpt-browser PATH --screenshot OUT.png`: the whole program, run as a user runs it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from PySide6.QtGui import QImage

DEMO_DIR = Path(__file__).resolve().parents[2] / "resources" / "demo"


def _run(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen"}
    return subprocess.run(
        [sys.executable, "-m", "ckpt_browser.cli", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )


def _distinct_colours(image: QImage, samples: int = 400) -> int:
    width, height = image.width(), image.height()
    colours = {image.pixel((i * 7919) % width, (i * 104729) % height) for i in range(samples)}
    return len(colours)


def test_screenshot_of_the_demo_with_a_selection(tmp_path):
    out = tmp_path / "window.png"
    result = _run(
        str(DEMO_DIR), "--select", "conv2/kernel", "--screenshot", str(out), "--size", "900x700"
    )
    assert result.returncode == 0, result.stderr
    image = QImage(str(out))
    assert not image.isNull()
    assert (image.width(), image.height()) == (900, 700)
    assert out.stat().st_size > 10_000
    assert _distinct_colours(image) > 8  # a drawn window, not a blank rectangle


def test_demo_flag_opens_the_bundled_checkpoint(tmp_path):
    out = tmp_path / "demo.png"
    result = _run("--demo", "--screenshot", str(out))
    assert result.returncode == 0, result.stderr
    assert QImage(str(out)).width() > 0


def test_screenshot_of_a_bad_path_fails_with_the_format_sentence(tmp_path):
    out = tmp_path / "never.png"
    result = _run(str(tmp_path / "missing"), "--screenshot", str(out))
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ")
    assert "missing" in lines[0]
    assert not out.exists()


def test_screenshot_with_an_unknown_variable_fails(tmp_path):
    out = tmp_path / "never.png"
    result = _run(str(DEMO_DIR), "--select", "no/such", "--screenshot", str(out))
    assert result.returncode == 2
    assert "no/such" in result.stderr
    assert not out.exists()


def test_interactive_run_prepares_the_pane_and_returns_when_closed():
    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QApplication

    from ckpt_browser.ui.app import run_gui
    from ckpt_browser.ui.browse.main_window import MainWindow

    seen: dict[str, object] = {"polls": 0}
    poll = QTimer()
    poll.setInterval(50)

    def close_when_ready() -> None:
        seen["polls"] = int(seen["polls"]) + 1
        windows = [w for w in QApplication.topLevelWidgets() if isinstance(w, MainWindow)]
        shown = [w for w in windows if w.isVisible()]
        if not shown:
            return
        window = shown[0]
        prepared = window.tensor_view.pages.count() == 2  # the tensor pane exists
        if prepared or int(seen["polls"]) > 400:
            seen["title"] = window.windowTitle()
            seen["prepared"] = prepared
            poll.stop()
            window.close()

    poll.timeout.connect(close_when_ready)
    poll.start()
    assert run_gui([str(DEMO_DIR)]) == 0
    assert str(seen["title"]).startswith("model.ckpt-300")
    assert seen["prepared"] is True
