"""A window that cannot start says in one line which package to install, instead of Qt's abort."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from ckpt_browser.ui import display_check
from ckpt_browser.ui.display_check import debian_package, display_problem

REPO = Path(__file__).resolve().parents[2]
X11 = {"DISPLAY": ":0"}


def missing(soname: str):
    def load(path: str) -> None:
        raise OSError(f"{soname}: cannot open shared object file: No such file or directory")

    return load


def test_missing_xcb_cursor_names_the_debian_package():
    problem = display_problem(X11, library="libQt6XcbQpa.so.6", load=missing("libxcb-cursor.so.0"))
    assert problem is not None and "\n" not in problem
    assert "libxcb-cursor.so.0" in problem
    assert problem.endswith("sudo apt-get install libxcb-cursor0")


@pytest.mark.parametrize(
    ("soname", "package"),
    [
        ("libxcb-icccm.so.4", "libxcb-icccm4"),
        ("libxcb-render-util.so.0", "libxcb-render-util0"),
        ("libxkbcommon-x11.so.0", "libxkbcommon-x11-0"),
        ("libX11-xcb.so.1", "libx11-xcb1"),
        ("libglib-2.0.so.0", "libglib2.0-0"),
    ],
)
def test_other_libraries_of_the_plugin_name_their_packages(soname, package):
    assert debian_package(soname) == package


@pytest.mark.parametrize(
    "environ",
    [
        {"QT_QPA_PLATFORM": "offscreen", **X11},
        {"QT_QPA_PLATFORM": "wayland", **X11},
        {"XDG_SESSION_TYPE": "wayland", "WAYLAND_DISPLAY": "wayland-0", **X11},
    ],
)
def test_other_platforms_need_no_xcb_library(environ):
    assert display_problem(environ, library="x", load=missing("libxcb-cursor.so.0")) is None


def test_no_display_at_all_is_one_line():
    for environ in ({}, {"QT_QPA_PLATFORM": "xcb"}):
        problem = display_problem(environ, library="x", load=missing("libxcb-cursor.so.0"))
        assert problem is not None and "DISPLAY is not set" in problem and "offscreen" in problem


def test_this_machine_has_what_the_xcb_plugin_needs():
    """The real plugin library loads here (this machine has libxcb-cursor0): no false alarm."""
    if sys.platform != "linux" or display_check.xcb_plugin_library() is None:
        pytest.skip("no xcb plugin in this PySide6")
    assert display_problem(X11) is None


def test_window_start_with_a_library_missing_exits_2_with_one_line(tmp_path):
    """The real plugin library with its libxcb-cursor dependency renamed to one that no system has.

    The copy keeps every other dependency, so dlopen fails exactly as on a machine without
    libxcb-cursor0; the command then stops before Qt starts, with one line and exit 2.
    """
    real = display_check.xcb_plugin_library() if sys.platform == "linux" else None
    if real is None:
        pytest.skip("no xcb plugin in this PySide6")
    data = Path(real).read_bytes()
    needed = b"\0libxcb-cursor.so.0\0"
    assert data.count(needed) == 1
    broken = tmp_path / Path(real).name
    broken.write_bytes(data.replace(needed, b"\0libxcb-cursor.so.9\0"))
    code = (
        "import sys, PySide6.QtGui\n"
        "from ckpt_browser.ui import display_check\n"
        f"display_check.xcb_plugin_library = lambda: {str(broken)!r}\n"
        "from ckpt_browser.cli import main\n"
        "sys.exit(main(['--demo']))\n"
    )
    env = {key: value for key, value in os.environ.items() if not key.startswith(("QT_", "XDG_"))}
    env.update(DISPLAY=":99", PYTHONPATH=str(REPO))
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120
    )
    assert result.returncode == 2, result.stderr
    assert result.stdout == ""
    assert result.stderr.count("\n") == 1
    assert result.stderr.startswith("error: Qt's X11 (xcb) platform needs libxcb-cursor.so.9")
    assert result.stderr.rstrip().endswith("sudo apt-get install libxcb-cursor9")
